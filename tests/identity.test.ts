import * as assert from "node:assert/strict";
import { DEPLOYER_OBJECT_ID, MockTenant, SMARTSPACE, TENANT_ID } from "./support/azureMocks";
import { baseConfig, OWNER_OBJECT_ID } from "./support/fixtures";
import { runProgram } from "./support/program";

const APP = "azuread:index/application:Application";
const SP = "azuread:index/servicePrincipal:ServicePrincipal";
const ROLE = "azuread:index/appRoleAssignment:AppRoleAssignment";

describe("integration identity", () => {
  it("creates a single-tenant application that only calls Smartspace", async () => {
    const run = await runProgram(baseConfig());
    const app = run.one(APP, "crm-sync-identity-app");
    assert.equal(app.inputs.displayName, "smartspace-crm-sync-dev");
    assert.equal(app.inputs.signInAudience, "AzureADMyOrg");
    assert.equal(app.inputs.requiredResourceAccesses, undefined);
    assert.equal(app.inputs.identifierUris, undefined);
    assert.equal(app.inputs.web, undefined);
    assert.equal(app.inputs.publicClient, undefined);
    assert.match(String(app.inputs.notes), /managed by Pulumi \(smartspace-integration\/dev\)/);
    assert.deepEqual(app.inputs.tags, ["smartspace-integration", "managed-by-pulumi"]);
  });

  it("assigns the Integrations role from the new service principal to the Smartspace service principal", async () => {
    const run = await runProgram(baseConfig());
    const app = run.one(APP, "crm-sync-identity-app");
    const sp = run.one(SP, "crm-sync-identity-sp");
    const role = run.one(ROLE, "crm-sync-identity-role");
    const integration = (run.outputs.integrations as Record<string, Record<string, string>>)["crm-sync"];

    assert.equal(sp.inputs.clientId, integration.clientId, "the service principal belongs to the new app");
    // Three distinct IDs that are easy to confuse: the guide's PowerShell mixes them up.
    assert.equal(role.inputs.principalObjectId, integration.servicePrincipalObjectId);
    assert.notEqual(role.inputs.principalObjectId, integration.applicationObjectId);
    assert.notEqual(role.inputs.principalObjectId, integration.clientId);
    assert.equal(role.inputs.resourceObjectId, SMARTSPACE.objectId);
    assert.notEqual(role.inputs.resourceObjectId, SMARTSPACE.clientId);
    assert.equal(role.inputs.appRoleId, SMARTSPACE.integrationsRoleId);
    assert.ok(role.dependencies.includes(sp.urn), "role assignment waits for the service principal");
    assert.ok(sp.dependencies.includes(app.urn));
  });

  it("makes the deployer and configured owners owners of both app and service principal", async () => {
    const run = await runProgram(
      baseConfig({
        integrations: [{ name: "crm-sync", owners: [OWNER_OBJECT_ID.toUpperCase(), DEPLOYER_OBJECT_ID] }],
      }),
    );
    const expected = [DEPLOYER_OBJECT_ID, OWNER_OBJECT_ID].sort();
    assert.deepEqual(run.one(APP, "crm-sync-identity-app").inputs.owners, expected);
    assert.deepEqual(run.one(SP, "crm-sync-identity-sp").inputs.owners, expected);
  });

  it("keeps owners identical whoever previews, once deployerObjectId pins the deploy identity", async () => {
    const person = "7a7a7a7a-1111-4222-8333-444455556666";
    const config = baseConfig({ deployerObjectId: DEPLOYER_OBJECT_ID.toUpperCase() });
    const pipeline = await runProgram(config);
    const human = await runProgram(config, { runnerObjectId: person, preview: true });
    for (const [type, name] of [
      [APP, "crm-sync-identity-app"],
      [SP, "crm-sync-identity-sp"],
    ]) {
      assert.deepEqual(human.one(type, name).inputs.owners, [DEPLOYER_OBJECT_ID]);
      assert.deepEqual(human.one(type, name).inputs.owners, pipeline.one(type, name).inputs.owners);
    }
    // The person is told that their own `pulumi up` would stop; the pipeline is told nothing.
    assert.deepEqual(pipeline.logs, []);
    assert.deepEqual(
      human.logs.map((entry) => entry.severity),
      ["warn"],
    );
    assert.match(
      human.logs[0].message,
      new RegExp(`^Previewing as ${person}, not as smartspace-integration:deployerObjectId`),
    );
  });

  it("makes whoever runs Pulumi the owner when deployerObjectId is not set", async () => {
    const person = "7a7a7a7a-1111-4222-8333-444455556666";
    const run = await runProgram(baseConfig(), { runnerObjectId: person });
    assert.deepEqual(run.one(APP, "crm-sync-identity-app").inputs.owners, [person]);
  });

  it("exports provider-shaped IDs per integration and nothing secret", async () => {
    const run = await runProgram(baseConfig());
    const integration = (run.outputs.integrations as Record<string, Record<string, string>>)["crm-sync"];
    const app = run.one(APP, "crm-sync-identity-app");
    assert.equal(integration.tenantId, TENANT_ID);
    assert.equal(integration.displayName, "smartspace-crm-sync-dev");
    assert.match(integration.clientId, /^[0-9a-f-]{36}$/);
    const ids = new Set([
      integration.clientId,
      integration.applicationObjectId,
      integration.servicePrincipalObjectId,
    ]);
    assert.equal(
      ids.size,
      3,
      "client ID, application object ID and service principal object ID are distinct",
    );
    assert.ok(app.urn.endsWith("crm-sync-identity-app"));
    assert.deepEqual(run.secretOutputs, []);
  });

  it("declares several integrations in one stack, each with its own identity", async () => {
    const run = await runProgram(
      baseConfig({
        integrations: [{ name: "crm-sync" }, { name: "billing-bot", displayName: "Billing bot (dev)" }],
      }),
    );
    assert.equal(run.byType(APP).length, 2);
    assert.equal(run.byType(ROLE).length, 2);
    assert.equal(run.one(APP, "billing-bot-identity-app").inputs.displayName, "Billing bot (dev)");
    assert.deepEqual(Object.keys(run.outputs.integrations as object).sort(), ["billing-bot", "crm-sync"]);
    // The Smartspace app is looked up once per stack, not once per integration.
    const lookups = run.invokes.filter(
      (i) => i.token === "azuread:index/getServicePrincipal:getServicePrincipal",
    );
    assert.equal(lookups.length, 1);
  });

  describe("replacement", () => {
    // `pulumi up --replace` (or an input change) with the same values: Graph keeps at most one of each.
    for (const [type, name, graph] of [
      [ROLE, "crm-sync-identity-role", (t: MockTenant) => t.appRoleAssignments],
      [SP, "crm-sync-identity-sp", (t: MockTenant) => t.servicePrincipals],
      [APP, "crm-sync-identity-app", (t: MockTenant) => t.applications],
    ] as const) {
      it(`deletes ${name} before re-creating it, since Graph refuses a duplicate`, async () => {
        const tenant = new MockTenant();
        await runProgram(baseConfig(), { tenant });
        const id = tenant.stack.get(`${type}::${name}`)?.id;
        assert.ok(id);
        await runProgram(baseConfig(), { tenant });
        assert.equal(tenant.stack.get(`${type}::${name}`)?.id, id, "a plain second run replaces nothing");

        await runProgram(baseConfig(), { tenant, replace: [name] });
        assert.notEqual(tenant.stack.get(`${type}::${name}`)?.id, id, "replaced");
        assert.equal(graph(tenant).size, 1, "exactly one left in the directory");
        assert.equal(tenant.appRoleAssignments.size, 1);
      });
    }
  });

  describe("pulumi up by another identity than deployerObjectId", () => {
    const person = "7a7a7a7a-1111-4222-8333-444455556666";

    it("stops before declaring any resource, naming both identities and the ways forward", async () => {
      const tenant = new MockTenant();
      await assert.rejects(
        runProgram(baseConfig({ deployerObjectId: DEPLOYER_OBJECT_ID }), { runnerObjectId: person, tenant }),
        (error: Error & { registeredResources?: unknown[] }) => {
          assert.match(
            error.message,
            new RegExp(
              `runs as ${person}, but smartspace-integration:deployerObjectId is ${DEPLOYER_OBJECT_ID}`,
            ),
          );
          assert.match(error.message, new RegExp(`run \`pulumi up\` as ${DEPLOYER_OBJECT_ID}`));
          assert.match(error.message, /tenant-wide application rights .*allowOtherDeployers to true/);
          assert.deepEqual(error.registeredResources, [], "nothing declared, not even a component");
          return true;
        },
      );
      assert.equal(tenant.applications.size, 0);
    });

    it("would otherwise half-deploy: an identity with ownership-only rights loses them mid-run", async () => {
      // What the stop prevents, shown with the check switched off for an identity that lacks tenant-wide rights.
      const tenant = new MockTenant();
      await assert.rejects(
        runProgram(baseConfig({ deployerObjectId: DEPLOYER_OBJECT_ID, allowOtherDeployers: true }), {
          runnerObjectId: person,
          tenant,
        }),
        /403 \(403 Forbidden\) with error: Authorization_RequestDenied/,
      );
      const [application] = [...tenant.applications.values()];
      assert.deepEqual(
        [...application.owners],
        [DEPLOYER_OBJECT_ID],
        "created, and no longer owned by the runner",
      );
      assert.equal(tenant.passwords.size, 0, "so no credential could be added");
    });

    it("deploys when allowOtherDeployers is set and the identity has tenant-wide rights", async () => {
      const tenant = new MockTenant();
      const run = await runProgram(
        baseConfig({ deployerObjectId: DEPLOYER_OBJECT_ID, allowOtherDeployers: true }),
        {
          runnerObjectId: person,
          runnerRights: "tenant",
          tenant,
        },
      );
      assert.deepEqual(run.one(APP, "crm-sync-identity-app").inputs.owners, [DEPLOYER_OBJECT_ID]);
      assert.equal(tenant.passwords.size, 2);
    });
  });
});
