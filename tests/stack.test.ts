import * as assert from "node:assert/strict";
import { mockPasswordValue, SMARTSPACE, smartspaceAppRoles } from "./support/azureMocks";
import {
  baseConfig,
  FEDERATED_INTEGRATION,
  READER_OBJECT_ID,
  WORKSPACE_A,
  WORKSPACE_B,
} from "./support/fixtures";
import { ProgramRun, runProgram } from "./support/program";

const ROLE = "azuread:index/appRoleAssignment:AppRoleAssignment";

/** Every credential type, with readers and workspaces where they apply. */
function fullConfig() {
  return baseConfig({
    integrations: [
      {
        name: "crm-sync",
        workspaces: [WORKSPACE_A, WORKSPACE_B],
        secretReaders: [READER_OBJECT_ID],
        rotationDays: 30,
      },
      { name: "billing-bot", workspaces: [WORKSPACE_A] },
      {
        name: "onprem-agent",
        workspaces: [WORKSPACE_B],
        credential: { type: "certificate", rotationDays: 30, readers: [READER_OBJECT_ID] },
      },
      FEDERATED_INTEGRATION,
      {
        name: "func-app",
        workspaces: [WORKSPACE_A],
        credential: { type: "managedIdentity", create: { resourceGroupName: "rg-smartspace-dev" } },
      },
    ],
  });
}

/** What the engine compares on a second `pulumi up`: every resource's identity and inputs. */
function declaredInputs(run: ProgramRun) {
  return run.resources
    .map((resource) => ({ urn: resource.urn, inputs: resource.inputs, secret: resource.secretInputs }))
    .sort((a, b) => a.urn.localeCompare(b.urn));
}

describe("stack", () => {
  it("declares identical resource inputs when evaluated twice (no diff on a second pulumi up), for every credential type", async () => {
    const first = await runProgram(fullConfig(), { now: new Date("2026-11-27T08:00:00Z") });
    const second = await runProgram(fullConfig(), { now: new Date("2026-11-28T20:00:00Z") });
    assert.ok(first.resources.length > 10);
    assert.deepEqual(declaredInputs(second), declaredInputs(first));
    assert.deepEqual(second.outputs, first.outputs);
  });

  it("keeps every secret value out of the stack outputs, for every credential type", async () => {
    const run = await runProgram(fullConfig());
    const passwords = run.byType("azuread:index/applicationPassword:ApplicationPassword");
    assert.equal(passwords.length, 4);
    const serialized = JSON.stringify(run.outputs);
    for (const password of passwords) {
      assert.ok(
        !serialized.includes(mockPasswordValue(password.name)),
        `${password.name} leaked into outputs`,
      );
    }
    assert.deepEqual(run.secretOutputs, [], "outputs carry IDs and URIs only, so none needs to be secret");
    // Certificates: consumers get URIs and thumbprints; the public certificate itself is not exported, and
    // no private key exists outside Key Vault.
    for (const version of run.byType("pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate")) {
      assert.ok(!serialized.includes(String(version.inputs.certificateName) + "/"), "no versioned URI");
    }
    assert.doesNotMatch(serialized, /PRIVATE KEY|BEGIN CERTIFICATE/);
    const integrations = run.outputs.integrations as Record<string, Record<string, unknown>>;
    assert.deepEqual(
      Object.fromEntries(Object.entries(integrations).map(([name, value]) => [name, value.credentialType])),
      {
        "crm-sync": "secret",
        "billing-bot": "secret",
        "onprem-agent": "certificate",
        "ci-bot": "federated",
        "func-app": "managedIdentity",
      },
    );
  });

  it("evaluates the program afresh each run, keeping the layers below it loaded (one HttpError class per worker)", async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = (require("../clients/http") as typeof import("../clients/http")).HttpError;
    await runProgram(baseConfig());
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    assert.equal((require("../clients/http") as typeof import("../clients/http")).HttpError, loaded);
  });

  it("exports what a verifier needs to check a token: the Smartspace audience and role value", async () => {
    const run = await runProgram(baseConfig());
    assert.equal(run.outputs.smartspaceAppClientId, SMARTSPACE.clientId);
    assert.equal(run.outputs.smartspaceRoleValue, SMARTSPACE.integrationsRoleValue);
    assert.equal(run.outputs.smartspaceServicePrincipalObjectId, SMARTSPACE.objectId);
  });

  it("finds the Smartspace app by display name when no client ID is configured", async () => {
    const run = await runProgram(baseConfig({ smartspace: { appDisplayName: SMARTSPACE.displayName } }));
    const lookup = run.invokes.find(
      (i) => i.token === "azuread:index/getServicePrincipal:getServicePrincipal",
    );
    assert.deepEqual(lookup?.inputs, { displayName: SMARTSPACE.displayName });
    assert.equal(run.one(ROLE, "crm-sync-identity-role").inputs.resourceObjectId, SMARTSPACE.objectId);
  });

  it("looks the Smartspace app up by client ID when given, never by display name", async () => {
    const run = await runProgram(baseConfig());
    const lookup = run.invokes.find(
      (i) => i.token === "azuread:index/getServicePrincipal:getServicePrincipal",
    );
    assert.deepEqual(lookup?.inputs, { clientId: SMARTSPACE.clientId });
  });

  it("picks the role by display name, not by value", async () => {
    // The mock tenant has a role whose *value* is "Integrations" under another display name.
    const run = await runProgram(baseConfig());
    assert.equal(run.one(ROLE, "crm-sync-identity-role").inputs.appRoleId, SMARTSPACE.integrationsRoleId);
  });

  it("fails with the existing roles listed when the role is missing", async () => {
    await assert.rejects(
      runProgram(baseConfig({ smartspace: { appClientId: SMARTSPACE.clientId, roleName: "Integration" } })),
      (error: Error) => {
        assert.match(error.message, /has no app role with display name "Integration"/);
        assert.match(error.message, /"Integrations" \(value "SmartSpace.Integrations", enabled/);
        assert.match(error.message, /"Automation" \(value "SmartSpace.Automation", disabled/);
        assert.match(error.message, /smartspace-integration:smartspace.roleName/);
        return true;
      },
    );
  });

  it("fails when the role is disabled", async () => {
    await assert.rejects(
      runProgram(baseConfig({ smartspace: { appClientId: SMARTSPACE.clientId, roleName: "Automation" } })),
      /has an app role "Automation", but it is disabled/,
    );
  });

  it("fails when the role cannot be assigned to applications", async () => {
    await assert.rejects(
      runProgram(baseConfig({ smartspace: { appClientId: SMARTSPACE.clientId, roleName: "Admin" } })),
      /has an app role "Admin", but it cannot be assigned to applications/,
    );
  });

  it("says so when the Smartspace app defines no roles at all", async () => {
    await assert.rejects(runProgram(baseConfig(), { appRoles: [] }), /it defines no app roles/);
  });

  it("refuses to guess between service principals sharing a display name", async () => {
    await assert.rejects(
      runProgram(baseConfig({ smartspace: { appDisplayName: "Smartspace" } }), {
        servicePrincipalsByDisplayName: {
          Smartspace: [
            { clientId: SMARTSPACE.clientId, objectId: SMARTSPACE.objectId },
            {
              clientId: "0a0b0c0d-0000-4000-8000-000000000001",
              objectId: "0a0b0c0d-0000-4000-8000-000000000002",
            },
          ],
        },
      }),
      /multiple service principals matching display name/,
    );
  });

  it("uses a custom role name when configured", async () => {
    const roles = smartspaceAppRoles().map((role) =>
      role.displayName === "Integrations" ? { ...role, displayName: "External integrations" } : role,
    );
    const run = await runProgram(
      baseConfig({ smartspace: { appClientId: SMARTSPACE.clientId, roleName: "External integrations" } }),
      { appRoles: roles },
    );
    assert.equal(run.one(ROLE, "crm-sync-identity-role").inputs.appRoleId, SMARTSPACE.integrationsRoleId);
  });
});
