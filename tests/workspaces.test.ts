import * as assert from "node:assert/strict";
import { MockTenant, SMARTSPACE } from "./support/azureMocks";
import { baseConfig, WORKSPACE_A, WORKSPACE_B } from "./support/fixtures";
import { runProgram } from "./support/program";

const GRANT = "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess";
const ROLE = "azuread:index/appRoleAssignment:AppRoleAssignment";

describe("workspace access in the stack", () => {
  it("grants each integration each of its workspaces, to its service principal, after the role assignment", async () => {
    const run = await runProgram(
      baseConfig({
        integrations: [
          { name: "crm-sync", workspaces: [WORKSPACE_A, WORKSPACE_B.toUpperCase()] },
          { name: "billing-bot", workspaces: [WORKSPACE_A] },
          { name: "no-access" },
        ],
      }),
    );
    const grants = run.byType(GRANT);
    assert.equal(grants.length, 3, "one grant per (integration, workspace)");
    const integrations = run.outputs.integrations as Record<string, Record<string, unknown>>;
    for (const [name, workspaces] of [
      ["crm-sync", [WORKSPACE_A, WORKSPACE_B]],
      ["billing-bot", [WORKSPACE_A]],
    ] as const) {
      const integration = integrations[name];
      const role = run.one(ROLE, `${name}-identity-role`);
      for (const workspaceId of workspaces) {
        const grant = run.one(GRANT, `${name}-workspace-${workspaceId}`);
        assert.equal(grant.inputs.workspaceId, workspaceId);
        assert.equal(grant.inputs.principalId, integration.servicePrincipalObjectId);
        assert.notEqual(grant.inputs.principalId, integration.clientId);
        assert.notEqual(grant.inputs.principalId, integration.applicationObjectId);
        assert.equal(grant.inputs.principalType, "ServicePrincipal");
        assert.equal(grant.inputs.displayName, integration.displayName);
        assert.equal(grant.inputs.adminApiUrl, "https://admin.smartspace.example.com/api");
        assert.equal(grant.inputs.tokenScope, `api://${SMARTSPACE.clientId}/.default`);
        assert.ok(grant.dependencies.includes(role.urn), `${grant.name} waits for the Integrations role`);
        assert.equal(typeof grant.inputs.__provider, "string", "the provider travels serialized in state");
      }
      assert.deepEqual(integration.workspaces, workspaces);
    }
    assert.deepEqual(integrations["no-access"].workspaces, []);
  });

  it("keeps grant names stable when the workspace list is reordered", async () => {
    const names = async (workspaces: string[]) =>
      (await runProgram(baseConfig({ integrations: [{ name: "crm-sync", workspaces }] })))
        .byType(GRANT)
        .map((grant) => grant.urn)
        .sort();
    assert.deepEqual(await names([WORKSPACE_A, WORKSPACE_B]), await names([WORKSPACE_B, WORKSPACE_A]));
  });

  it("uses a configured admin API scope", async () => {
    const scope = "api://11111111-2222-4333-8444-555555555555/.default";
    const run = await runProgram(
      baseConfig({
        smartspace: {
          appClientId: SMARTSPACE.clientId,
          adminApiUrl: "https://admin.example.com",
          adminApiScope: scope,
        },
        integrations: [{ name: "crm-sync", workspaces: [WORKSPACE_A] }],
      }),
    );
    assert.equal(run.one(GRANT, `crm-sync-workspace-${WORKSPACE_A}`).inputs.tokenScope, scope);
  });

  it("never puts the admin token into a grant's inputs", async () => {
    const token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret-admin-token.signature";
    const run = await runProgram(
      baseConfig({ integrations: [{ name: "crm-sync", workspaces: [WORKSPACE_A] }] }),
      {
        env: { SMARTSPACE_ADMIN_TOKEN: token },
      },
    );
    const grant = run.one(GRANT, `crm-sync-workspace-${WORKSPACE_A}`);
    assert.ok(!JSON.stringify(grant.inputs).includes(token));
    assert.ok(!JSON.stringify(run.outputs).includes(token));
  });

  it("keeps the grant when it is replaced: the grant is an upsert, so the old one must go first", async () => {
    // A create-before-delete replacement (`pulumi up --replace`) would PUT the grant that already exists, then
    // DELETE it as the old resource: the workspace would lose the integration while state says it has access.
    const tenant = new MockTenant();
    const config = baseConfig({ integrations: [{ name: "crm-sync", workspaces: [WORKSPACE_A] }] });
    await runProgram(config, { tenant });
    const run = await runProgram(config, { tenant, replace: [`crm-sync-workspace-${WORKSPACE_A}`] });
    const grant = run.one(GRANT, `crm-sync-workspace-${WORKSPACE_A}`);
    assert.deepEqual([...tenant.workspaceGrants], [`${WORKSPACE_A}/${String(grant.inputs.principalId)}`]);
    assert.equal(grant.deleteBeforeReplace, true);
  });
});
