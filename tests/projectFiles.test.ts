import * as assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { parse } from "yaml";
import { ConfigError, parseStackConfig } from "../program/config";
import { fillPlaceholders } from "./support/fixtures";
import { toRawConfig } from "./support/program";

const ROOT = path.resolve(__dirname, "..");
// The schema the Pulumi CLI applies to Pulumi.yaml, kept in the shared reference folder beside the repo.
const SCHEMA = path.resolve(ROOT, "..", "shared", "schemas", "pulumi-project.schema.json");

function readYaml(file: string): Record<string, unknown> {
  return parse(readFileSync(path.join(ROOT, file), "utf8")) as Record<string, unknown>;
}

describe("project files", () => {
  it("Pulumi.yaml satisfies the Pulumi CLI's project schema", function () {
    if (!existsSync(SCHEMA)) {
      this.skip();
    }
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, "utf8")));
    const project = readYaml("Pulumi.yaml");
    assert.ok(validate(project), ajv.errorsText(validate.errors));
    assert.equal(project.name, "smartspace-integration");
  });

  for (const file of readdirSync(ROOT).filter((name) => /^Pulumi\.[^.]+\.yaml$/.test(name))) {
    describe(file, () => {
      const config = () => (readYaml(file).config ?? {}) as Record<string, unknown>;
      const stack = file.split(".")[1];

      it("is refused as shipped, for its placeholders only, so that a copy-paste run cannot reach Azure", () => {
        assert.throws(
          () => parseStackConfig(toRawConfig(config()), stack),
          (error: unknown) => {
            assert.ok(error instanceof ConfigError, String(error));
            assert.ok(error.problems.length > 0);
            for (const problem of error.problems) {
              assert.match(problem, /"<[^"]+>": placeholder; fill in /);
            }
            return true;
          },
        );
      });

      it("is a valid configuration once its placeholders are filled in, and secret-free", () => {
        const parsed = parseStackConfig(toRawConfig(fillPlaceholders(config())), stack);
        assert.ok(parsed.integrations.length > 0);
        assert.doesNotMatch(readFileSync(path.join(ROOT, file), "utf8"), /secure:/);
      });
    });
  }

  it("docs grant each credential type's roles in the bootstrap, list them in permissions.md, and link from modes", () => {
    const guide = readFileSync(path.join(ROOT, "docs", "operations.md"), "utf8");
    const section = (heading: string) => {
      const start = guide.indexOf(`\n### ${heading}\n`);
      assert.ok(start >= 0, heading);
      return guide.slice(start, guide.indexOf("\n### ", start + 1));
    };
    const deploy = section("2. Deploy identity");
    for (const grant of [
      "a4417e6f-fecd-4de8-b567-7b0420556985", // Key Vault Certificates Officer, or the custom role with:
      "Microsoft.KeyVault/vaults/certificates/read",
      "Microsoft.KeyVault/vaults/certificates/create/action",
      "Microsoft.KeyVault/vaults/certificates/update/action",
      "Microsoft.KeyVault/vaults/certificates/delete",
      "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59", // Managed Identity Contributor
    ]) {
      assert.ok(deploy.includes(grant), `the deploy identity gets ${grant}`);
    }
    assert.match(deploy, /Federated integrations need nothing in Key Vault/);
    const readOnly = section("3. Read-only identity");
    assert.ok(readOnly.includes("21090545-7ca7-4776-b22c-e363652d74d2"), "Key Vault Reader for refresh");
    const permissions = readFileSync(path.join(ROOT, "docs", "permissions.md"), "utf8").replace(/\s+/g, " ");
    for (const role of ["Key Vault Certificate Issuer", "Managed Identity Contributor", "Key Vault Reader"]) {
      assert.ok(permissions.includes(role), `permissions.md names ${role}`);
    }
    const modes = readFileSync(path.join(ROOT, "docs", "credential-modes.md"), "utf8");
    assert.match(modes, /\(permissions\.md#credential-types\)/);
    assert.match(modes, /\(operations\.md#2-deploy-identity\)/);
    assert.match(modes, /\(operations\.md#3-read-only-identity\)/);
    assert.doesNotMatch(modes, /a4417e6f|e40ec5ca|21090545|vaults\/certificates\//, "not repeated");
  });
});
