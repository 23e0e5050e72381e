/**
 * The import direction between folders (docs/architecture.md) is enforced by the project's ESLint config:
 * these imports must be refused, and the ordinary ones accepted.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { ESLint } from "eslint";
import { TOKEN_EXCHANGE_AUDIENCE } from "../rules/federated";

const ROOT = path.resolve(__dirname, "..");

async function problems(file: string, source: string): Promise<string[]> {
  const [result] = await new ESLint({ cwd: ROOT }).lintText(source, { filePath: path.join(ROOT, file) });
  return result.messages.map((message) => message.message);
}

describe("import layering", function () {
  this.timeout(20_000);

  for (const [file, source, why] of [
    [
      "clients/x.ts",
      'import * as pulumi from "@pulumi/pulumi";\nexport const x = pulumi;\n',
      /no Pulumi SDK here/,
    ],
    [
      "clients/x.ts",
      'import { WorkspaceAccess } from "../components/workspaceAccess";\nexport const x = WorkspaceAccess;\n',
      /must not import components\//,
    ],
    [
      "providers/x.ts",
      'import * as pulumi from "@pulumi/pulumi";\nexport const x = pulumi;\n',
      /type imports of the Pulumi SDK only/,
    ],
    [
      "rules/x.ts",
      'import { HttpClient } from "../clients/http";\nexport const x = HttpClient;\n',
      /must not import clients\//,
    ],
    [
      "cli/x.ts",
      'import { SmartspaceEmulator } from "../tools/emulators/smartspaceEmulator";\nexport const x = SmartspaceEmulator;\n',
      /must not import tools\//,
    ],
    [
      "program/x.ts",
      'import { x as y } from "../cli/verify/engine";\nexport const x = y;\n',
      /must not import cli\//,
    ],
    [
      "index.ts",
      'import { AdminApiClient } from "./clients/adminApi";\nexport const x = AdminApiClient;\n',
      /index.ts must not import clients\//,
    ],
  ] as const) {
    it(`refuses ${file.includes("/") ? `${file.split("/")[0]}/` : file} importing ${/"([^"]+)"/.exec(source)![1]}`, async () => {
      const found = await problems(file, source);
      assert.ok(
        found.some((message) => why.test(message)),
        found.join("\n") || "no problem reported",
      );
    });
  }

  it("accepts imports that follow the direction", async () => {
    const found = await problems(
      "providers/x.ts",
      'import type * as pulumi from "@pulumi/pulumi";\nimport { AdminApiClient } from "../clients/adminApi";\nimport { GUID } from "../rules/ids";\nexport type P = pulumi.ID;\nexport const x = [AdminApiClient, GUID];\n',
    );
    assert.deepEqual(found, []);
  });

  it("spells Entra ID's token exchange audience once, in rules/, for the stack, verify and the emulators alike", () => {
    const sources = (dir: string): string[] =>
      readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory()
          ? sources(path.join(dir, entry.name))
          : entry.name.endsWith(".ts")
            ? [path.join(dir, entry.name)]
            : [],
      );
    const spelled = ["cli", "clients", "components", "policy", "program", "providers", "rules", "tools"]
      .flatMap(sources)
      .filter((file) => readFileSync(path.join(ROOT, file), "utf8").includes(`"${TOKEN_EXCHANGE_AUDIENCE}"`));
    assert.deepEqual(spelled, [path.join("rules", "federated.ts")]);
  });
});
