import * as assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { inventoryApplications } from "../clients/applicationInventory";
import { GraphClient } from "../clients/graph";
import { declaredFromState, main } from "../cli/credential-inventory";
import { GraphEmulator, type GraphEmulatorOptions } from "../tools/emulators/graphEmulator";
import { staticCredential } from "./support/httpHelpers";

const DEPLOYER = "0b6a2d43-7f4e-4c8e-9a51-3d2f1e0c9b87";
const APP = {
  objectId: "a0000000-0000-4000-8000-00000000000a",
  clientId: "c0000000-0000-4000-8000-00000000000a",
};
const SP = "50000000-0000-4000-8000-00000000000a";
const SLOT_A = "11111111-0000-4000-8000-00000000000a";
const SLOT_B = "22222222-0000-4000-8000-00000000000b";
const BACKDOOR = "99999999-0000-4000-8000-000000000009";
const CLEAN = {
  objectId: "b0000000-0000-4000-8000-00000000000b",
  clientId: "c0000000-0000-4000-8000-00000000000b",
};

const urn = (type: string, name: string) =>
  `urn:pulumi:prod::smartspace-integration::smartspace:index:SmartspaceIntegration$${type}::${name}`;

/** What `pulumi stack export` holds for two integrations (secret outputs as ciphertext, as exported). */
const STATE = {
  version: 3,
  deployment: {
    manifest: { time: "2026-09-18T05:17:00Z" },
    resources: [
      ...[
        ["crm-sync", APP],
        ["billing-bot", CLEAN],
      ].flatMap(([name, ids]) => {
        const { objectId, clientId } = ids as typeof APP;
        return [
          {
            urn: urn("azuread:index/application:Application", `${String(name)}-identity-app`),
            type: "azuread:index/application:Application",
            id: `/applications/${objectId}`,
            outputs: { objectId, clientId, owners: [DEPLOYER] },
          },
        ];
      }),
      {
        urn: urn("azuread:index/servicePrincipal:ServicePrincipal", "crm-sync-identity-sp"),
        type: "azuread:index/servicePrincipal:ServicePrincipal",
        id: `/servicePrincipals/${SP}`,
        outputs: { objectId: SP, clientId: APP.clientId.toUpperCase(), owners: [DEPLOYER] },
      },
      ...[SLOT_A, SLOT_B].map((keyId, index) => ({
        urn: urn(
          "azuread:index/applicationPassword:ApplicationPassword",
          `crm-sync-credentials-slot-${"ab"[index]}`,
        ),
        type: "azuread:index/applicationPassword:ApplicationPassword",
        id: `${APP.objectId}/password/${keyId}`,
        outputs: {
          applicationId: `/applications/${APP.objectId}`,
          keyId,
          value: {
            "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
            ciphertext: "v1:abc",
          },
        },
      })),
    ],
  },
};

describe("credential inventory", () => {
  let graph: GraphEmulator;
  before(async () => {
    // One item per page, so that every collection is read across next links.
    graph = await GraphEmulator.start<GraphEmulator, GraphEmulatorOptions>({ pageSize: 1 });
  });
  after(() => graph.close());
  beforeEach(() => {
    graph.reset();
    graph.applications.clear();
    graph.servicePrincipals.clear();
    graph.addApplication({
      id: APP.objectId,
      appId: APP.clientId,
      passwordCredentials: [
        { keyId: SLOT_A.toUpperCase(), displayName: "slot a (managed by Pulumi; rotates every 90 days)" },
        { keyId: SLOT_B, displayName: "slot b" },
        { keyId: BACKDOOR, displayName: "temp", endDateTime: "2028-01-01T00:00:00Z" },
      ],
      keyCredentials: [{ keyId: "33333333-0000-4000-8000-000000000003", displayName: "CN=laptop" }],
      owners: [
        { id: DEPLOYER, type: "#microsoft.graph.servicePrincipal" },
        { id: "44444444-0000-4000-8000-000000000004", type: "#microsoft.graph.user" },
      ],
      federatedIdentityCredentials: [
        {
          id: "55555555-0000-4000-8000-000000000005",
          name: "someones-repo",
          issuer: "https://token.actions.githubusercontent.com",
          subject: "repo:evil/repo:ref:refs/heads/main",
          audiences: ["api://AzureADTokenExchange"],
        },
      ],
    });
    graph.addServicePrincipal({
      id: SP,
      appId: APP.clientId,
      owners: [{ id: DEPLOYER, type: "#microsoft.graph.servicePrincipal" }],
      passwordCredentials: [{ keyId: "66666666-0000-4000-8000-000000000006" }],
    });
    graph.addApplication({
      id: CLEAN.objectId,
      appId: CLEAN.clientId,
      owners: [{ id: DEPLOYER, type: "#microsoft.graph.servicePrincipal" }],
    });
  });

  const client = (token = graph.graphToken) =>
    new GraphClient({
      baseUrl: `${graph.url}/v1.0`,
      credential: staticCredential(token),
      agent: graph.agent(),
      maxRetries: 0,
    });

  it("reports every credential, owner and federated credential the stack does not declare, by ID", async () => {
    const result = await inventoryApplications(client(), declaredFromState(STATE));
    assert.equal(result.checked, 2);
    assert.deepEqual(
      result.undeclared.map((item) => [item.application, item.on, item.kind, item.id]),
      [
        ["crm-sync-identity-app", "application", "password", BACKDOOR],
        ["crm-sync-identity-app", "application", "certificate", "33333333-0000-4000-8000-000000000003"],
        ["crm-sync-identity-app", "application", "owner", "44444444-0000-4000-8000-000000000004"],
        [
          "crm-sync-identity-app",
          "application",
          "federated credential",
          "55555555-0000-4000-8000-000000000005",
        ],
        ["crm-sync-identity-app", "service principal", "password", "66666666-0000-4000-8000-000000000006"],
      ],
    );
    assert.ok(
      graph.count({ path: `/v1.0/applications/${APP.objectId}/owners` }) >= 2,
      "followed the next link",
    );
  });

  it("reports an application gone from Entra ID, and fails on anything it cannot read", async () => {
    graph.applications.delete(CLEAN.objectId);
    const result = await inventoryApplications(client(), declaredFromState(STATE));
    assert.deepEqual(result.undeclared.at(-1), {
      application: "billing-bot-identity-app",
      on: "application",
      objectId: CLEAN.objectId,
      kind: "missing object",
      id: CLEAN.objectId,
    });
    const denied = await GraphEmulator.start<GraphEmulator, GraphEmulatorOptions>({
      forbiddenTokens: ["reader-without-permission"],
    });
    try {
      const forbidden = new GraphClient({
        baseUrl: `${denied.url}/v1.0`,
        credential: staticCredential("reader-without-permission"),
        agent: denied.agent(),
        maxRetries: 0,
      });
      await assert.rejects(inventoryApplications(forbidden, declaredFromState(STATE)), /403/);
    } finally {
      await denied.close();
    }
    graph.faults.unavailable({ status: 503, times: 5 });
    await assert.rejects(inventoryApplications(client(), declaredFromState(STATE)), /503/);
  });

  it("writes a drift report naming key IDs, and the verdict failed when the state or Graph cannot be read", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "inventory-"));
    try {
      const io = {
        stdout: () => undefined,
        stderr: () => undefined,
        graph: () => client(),
      };
      const state = path.join(dir, "state.json");
      const output = path.join(dir, "out");
      const report = path.join(dir, "inventory.md");
      writeFileSync(state, JSON.stringify(STATE));
      assert.equal(
        await main(
          ["--state", state, "--stack", "prod", "--github-output", output, "--markdown", report],
          io,
        ),
        0,
      );
      assert.equal(readFileSync(output, "utf8"), "verdict=undeclared\ncount=5\n");
      const markdown = readFileSync(report, "utf8");
      assert.match(
        markdown,
        new RegExp(
          `\\| \`crm-sync-identity-app\` \\| application \\| password \\| \`${BACKDOOR}\` \\| \`temp\``,
        ),
      );
      writeFileSync(state, '{"version": 3}');
      assert.equal(await main(["--state", state, "--github-output", output], io), 2);
      assert.equal(await main(["--state", path.join(dir, "absent.json"), "--github-output", output], io), 2);
      const forbidden = { ...io, graph: () => client("not-a-token") };
      writeFileSync(state, JSON.stringify(STATE));
      assert.equal(await main(["--state", state, "--github-output", output], forbidden), 2);
      assert.deepEqual(
        readFileSync(output, "utf8")
          .trim()
          .split("\n")
          .filter((line) => line.startsWith("verdict=")),
        ["verdict=undeclared", "verdict=failed", "verdict=failed", "verdict=failed"],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
