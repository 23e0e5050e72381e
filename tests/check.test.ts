import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { main } from "../cli/check/main";
import { ConfigError, parseStackConfig } from "../program/config";
import { fillPlaceholders, READER_OBJECT_ID, WORKSPACE_A } from "./support/fixtures";
import { runProgram, toRawConfig } from "./support/program";

const ROOT = path.resolve(__dirname, "..");
const EXAMPLE = parse(readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as {
  config: Record<string, unknown>;
};

describe("npm run check", function () {
  // Each case evaluates the whole program once.
  this.timeout(20_000);
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), "check-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes a stack file and runs check on it as `npm run check -- dev --stack-file <it> [...flags]`. */
  async function check(config: Record<string, unknown>, ...flags: string[]) {
    const file = path.join(dir, `Pulumi.${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, stringify({ config }));
    let stdout = "";
    let stderr = "";
    const code = await main(["dev", "--stack-file", file, ...flags], {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    });
    return { code, stdout, stderr, file };
  }

  const filled = () => fillPlaceholders(EXAMPLE.config);
  const withKey = (key: string, value: unknown) => ({ ...filled(), [key]: value });
  /** The lines `pulumi preview` would print for this config, from the program's own validation. */
  const programProblems = (config: Record<string, unknown>): string[] => {
    try {
      parseStackConfig(toRawConfig(config), "dev");
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
    return [];
  };

  it("shows the plan of the example, filled in, and declares exactly what the program declares", async () => {
    const result = await check(filled());
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    const out = result.stdout;
    assert.match(out, /is valid for stack dev\./);
    assert.match(
      out,
      /Smartspace service principal \(client ID a1c2e3f4-0000-4a5b-8c9d-111122223333\) and its app role "Integrations"/,
    );
    assert.match(
      out,
      /vault +Key Vault kv-ss-dev-<5 random characters> in resource group rg-smartspace-dev, region the resource group's;\n +RBAC authorization on, soft delete 90 days, purge protection on\n/,
    );
    assert.match(
      out,
      /identity +app registration "smartspace-crm-sync-dev", single tenant; owners: <deploying identity>/,
    );
    assert.match(out, /role +Smartspace app role "Integrations" assigned to the service principal/);
    assert.match(out, /credential +client secret slot a, valid until \d{4}-\d{2}-\d{2}/);
    for (const secret of ["client-id", "tenant-id", "client-secret"]) {
      assert.match(out, new RegExp(`secret +Key Vault secret smartspace-crm-sync-${secret}`));
      assert.match(
        out,
        new RegExp(`reader +${READER_OBJECT_ID} may read secret smartspace-crm-sync-${secret}`),
      );
    }
    assert.match(
      out,
      new RegExp(
        `workspace +access to workspace ${WORKSPACE_A} for the service principal, granted through https://admin\\.smartspace\\.example\\.com/api`,
      ),
    );
    assert.match(out, /integrations\.crm-sync\.clientId +\(deploy time\)/);
    assert.match(out, /integrations\.crm-sync\.displayName +smartspace-crm-sync-dev/);

    // The same resources, by URN, as the program registers against (mocked) Azure: the plan cannot drift.
    const json = JSON.parse((await check(filled(), "--json")).stdout);
    const planned = [...json.plan.shared, ...json.plan.integrations]
      .flatMap((group: { resources: { urn: string }[] }) => group.resources.map((resource) => resource.urn))
      .sort();
    const run = await runProgram(filled());
    assert.deepEqual(
      planned,
      run.resources
        .filter((resource) => resource.custom)
        .map((resource) => resource.urn)
        .sort(),
    );
    assert.equal(json.plan.resourceCount, planned.length);
  });

  it("--json gives the plan with deploy-time values as null and names them", async () => {
    const result = await check(filled(), "--json");
    assert.equal(result.code, 0);
    const json = JSON.parse(result.stdout);
    assert.equal(json.valid, true);
    assert.deepEqual(json.problems, []);
    const [integration] = json.plan.integrations;
    assert.equal(integration.name, "crm-sync");
    const app = integration.resources.find(
      (resource: { kind: string; type: string }) => resource.type === "azuread:index/application:Application",
    );
    assert.equal(app.inputs.displayName, "smartspace-crm-sync-dev");
    // Who deploys is known only when it runs, unless deployerObjectId pins it.
    assert.deepEqual(app.inputs.owners, [null]);
    assert.deepEqual(app.deployTime, ["owners[0]"]);
    const secret = integration.resources.find(
      (resource: { name: string }) => resource.name === "crm-sync-credentials-client-secret",
    );
    // Offline the client secret does not exist yet: nothing to show, and nothing shown.
    assert.equal(secret.inputs.properties.value, null);
    assert.ok(secret.deployTime.includes("properties.value"));
    assert.ok(json.plan.deployTimeOutputs.includes("integrations.crm-sync.clientId"));
    assert.equal(json.plan.outputs.integrations["crm-sync"].clientId, null);
    assert.ok(!JSON.stringify(json).includes("__provider"), "serialized provider code is left out");
  });

  it("refuses the untouched example, one line per placeholder with where to find it, before running the program", async () => {
    const result = await check(EXAMPLE.config);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^.*Pulumi\.\w+\.yaml: 6 problems:\n/);
    assert.match(
      result.stderr,
      / {2}- smartspace-integration:smartspace\.appClientId "<Smartspace app client ID>": placeholder; fill in the Smartspace app's client ID \(Smartspace admin portal > Admin API documentation > CLI Setup\)\n/,
    );
    assert.match(
      result.stderr,
      /Fill in the placeholders \(<\.\.\.>\) in .*, then run npm run check -- dev again\.\n$/,
    );
    assert.equal(JSON.parse((await check(EXAMPLE.config, "--json")).stdout).valid, false);
  });

  for (const [what, config] of [
    ["a malformed value", withKey("smartspace-integration:deployerObjectId", "deploy-sp")],
    ["an unknown key", withKey("smartspace-integration:keyvault", { name: "kv-x" })],
    ["a missing required key", { ...filled(), "smartspace-integration:integrations": [] }],
    [
      "a namespace typo",
      withKey("smartspace-integraton:deployerObjectId", "0b6a2d43-7f4e-4c8e-9a51-3d2f1e0c9b87"),
    ],
  ] as const) {
    it(`reports ${what} with the program's own line, and exits 1`, async () => {
      const expected = programProblems(config);
      assert.equal(expected.length, 1);
      const result = await check(config);
      assert.equal(result.code, 1);
      assert.ok(result.stderr.includes(`: 1 problem:\n  - ${expected[0]}\n`), result.stderr);
      const json = JSON.parse((await check(config, "--json")).stdout);
      assert.deepEqual(json, {
        stack: "dev",
        file: json.file,
        valid: false,
        problems: expected,
        warnings: [],
      });
    });
  }

  it("reports what the program refuses beyond the schema, as preview would", async () => {
    const config = {
      ...filled(),
      "azure-native:subscriptionId": "6c1f8b42-5a3e-4d0a-9c1e-2f4b7a9d3e10",
      "smartspace-integration:keyVault": {
        id: "/subscriptions/0f0f0f0f-1111-4222-8333-444455556666/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-shared",
      },
    };
    const result = await check(config);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /: 1 problem:\n {2}- Key Vault kv-shared is in subscription 0f0f0f0f-1111-4222-8333-444455556666, but the azure-native provider deploys to 6c1f8b42-5a3e-4d0a-9c1e-2f4b7a9d3e10/,
    );
  });

  it("refuses an encrypted value of ours rather than guessing at it, and never decrypts", async () => {
    const config = withKey("smartspace-integration:deployerObjectId", { secure: "v1:abc" });
    const result = await check(config);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /smartspace-integration:deployerObjectId is encrypted \(secure:\), which check cannot read/,
    );
  });

  it("explains a missing stack file and a missing stack name as usage errors, and prints help", async () => {
    const io = () => {
      const streams = { stdout: "", stderr: "" };
      return {
        streams,
        io: {
          stdout: { write: (text: string) => (streams.stdout += text) },
          stderr: { write: (text: string) => (streams.stderr += text) },
        },
      };
    };
    const missing = io();
    assert.equal(await main(["no-such-stack"], missing.io), 2);
    assert.match(
      missing.streams.stderr,
      /^error: Pulumi\.no-such-stack\.yaml not found: copy Pulumi\.dev\.yaml to Pulumi\.no-such-stack\.yaml/,
    );
    const none = io();
    assert.equal(await main([], none.io), 2);
    assert.match(none.streams.stderr, /missing required argument 'stack'/);
    const help = io();
    assert.equal(await main(["--help"], help.io), 0);
    assert.match(help.streams.stdout, /Usage: npm run check -- \[options\] <stack>/);
    assert.match(help.streams.stdout, /Exit codes: 0 valid, 1 invalid/);
  });

  it("runs as npm run check does, and exits non-zero on the shipped example", () => {
    const result = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "cli", "check", "main.ts"), "dev"],
      {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /^Pulumi\.dev\.yaml: \d+ problems:\n/);
  });
});
