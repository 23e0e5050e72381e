import * as assert from "node:assert/strict";
import { KEY_VAULT_SECRETS_USER_ROLE_ID, roleAssignmentName } from "../components/integrationCredentials";
import { MockTenant, mockPasswordValue, SUBSCRIPTION_ID, TENANT_ID } from "./support/azureMocks";
import { baseConfig, READER_OBJECT_ID } from "./support/fixtures";
import { runProgram } from "./support/program";

const PASSWORD = "azuread:index/applicationPassword:ApplicationPassword";
const VAULT = "azure-native:keyvault:Vault";
const SECRET = "azure-native:keyvault:Secret";
const ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const APP = "azuread:index/application:Application";

// Period arithmetic for rotationDays 90 from the 2024-01-01 epoch: period 10 runs 2026-06-19 .. 2026-09-17
// and is in effect from a day before each boundary (rules/rotation.ts), so on 2026-08-01 slot a (even) holds
// the current generation 10 and slot b the previous generation 9.
const NOW = new Date("2026-08-01T10:00:00Z");
const LATER_SAME_PERIOD = new Date("2026-09-15T23:59:59Z");
const NEXT_PERIOD = new Date("2026-09-16T00:00:00Z");
const BOUNDARY = Date.parse("2026-09-17T00:00:00Z");

describe("credentials", () => {
  it("issues two password slots on the application resource ID, ending with their generations", async () => {
    const run = await runProgram(baseConfig(), { now: NOW });
    const app = run.one(APP, "crm-sync-identity-app");
    const a = run.one(PASSWORD, "crm-sync-credentials-slot-a");
    const b = run.one(PASSWORD, "crm-sync-credentials-slot-b");
    const integration = (run.outputs.integrations as Record<string, Record<string, string>>)["crm-sync"];
    const expectedAppId = `/applications/${integration.applicationObjectId}`;
    assert.equal(
      a.inputs.applicationId,
      expectedAppId,
      "ApplicationPassword takes the /applications/ resource ID",
    );
    assert.equal(b.inputs.applicationId, expectedAppId);
    assert.ok(a.dependencies.includes(app.urn));

    // Generation 10 runs 2026-06-19 .. 2026-12-16; the credential starts when Entra ID issues it.
    assert.equal(a.inputs.startDate, undefined, "never backdated: Entra ID starts a password at creation");
    assert.equal(a.inputs.endDate, "2026-12-16T00:00:00Z");
    assert.deepEqual(a.inputs.rotateWhenChanged, { generation: "10" });
    // Generation 9 runs 2026-03-21 .. 2026-09-17.
    assert.equal(b.inputs.startDate, undefined);
    assert.equal(b.inputs.endDate, "2026-09-17T00:00:00Z");
    assert.deepEqual(b.inputs.rotateWhenChanged, { generation: "9" });
    assert.ok(a.additionalSecretOutputs.includes("value"), "the password value is a secret output");

    assert.equal(integration.secretExpiresOn, "2026-12-16T00:00:00Z");
    assert.equal(integration.nextRotationOn, "2026-09-16T00:00:00Z", "a day before slot b expires");
  });

  it("stores the current slot's password as a secret Key Vault secret that expires with the slot", async () => {
    const run = await runProgram(baseConfig(), { now: NOW });
    const secret = run.one(SECRET, "crm-sync-credentials-client-secret");
    const properties = secret.inputs.properties as Record<string, unknown>;
    assert.equal(secret.inputs.secretName, "smartspace-crm-sync-client-secret");
    assert.equal(
      properties.value,
      mockPasswordValue("crm-sync-credentials-slot-a"),
      "holds the current slot (a)",
    );
    assert.ok(
      secret.secretInputs.includes("properties.value"),
      `the value must reach the provider as a secret; secret inputs were ${JSON.stringify(secret.secretInputs)}`,
    );
    const attributes = properties.attributes as Record<string, unknown>;
    assert.equal(attributes.expires, Date.parse("2026-12-16T00:00:00Z") / 1000);
    assert.equal(attributes.enabled, true);
    assert.match(String(properties.contentType), /client secret.*slot a/);
    const tags = secret.inputs.tags as Record<string, string>;
    assert.equal(tags.slot, "a");
    assert.match(tags["key-id"], /^[0-9a-f-]{36}$/);
    assert.ok(secret.dependencies.includes(run.one(PASSWORD, "crm-sync-credentials-slot-a").urn));
  });

  it("stores the client and tenant IDs beside the secret and exports versionless URIs", async () => {
    const run = await runProgram(baseConfig(), { now: NOW });
    const integration = (run.outputs.integrations as Record<string, Record<string, unknown>>)["crm-sync"];
    const clientIdSecret = run.one(SECRET, "crm-sync-credentials-client-id");
    const tenantIdSecret = run.one(SECRET, "crm-sync-credentials-tenant-id");
    assert.equal((clientIdSecret.inputs.properties as Record<string, unknown>).value, integration.clientId);
    assert.equal((tenantIdSecret.inputs.properties as Record<string, unknown>).value, TENANT_ID);
    const uris = integration.keyVaultSecretUris as Record<string, string>;
    const vaultUri = String(run.outputs.keyVaultUri);
    assert.deepEqual(uris, {
      clientId: `${vaultUri}secrets/smartspace-crm-sync-client-id`,
      tenantId: `${vaultUri}secrets/smartspace-crm-sync-tenant-id`,
      clientSecret: `${vaultUri}secrets/smartspace-crm-sync-client-secret`,
    });
  });

  it("gives the client and tenant ID secrets an expiry that only moves at a rotation, as an update", async () => {
    const expiries = async (now: Date) => {
      const run = await runProgram(baseConfig(), { now });
      return ["client-id", "tenant-id"].map((kind) => {
        const secret = run.one(SECRET, `crm-sync-credentials-${kind}`);
        const attributes = (secret.inputs.properties as Record<string, Record<string, unknown>>).attributes;
        return { urn: secret.urn, expires: attributes.expires as number };
      });
    };
    // One program run at a time: the mocks record into one process-wide runtime.
    const now = await expiries(NOW);
    const samePeriod = await expiries(LATER_SAME_PERIOD);
    const nextPeriod = await expiries(NEXT_PERIOD);
    // Period 10 ends 2026-09-17; identifiers stay valid 90 days (rotationDays, at least 45) beyond it.
    assert.equal(new Date(now[0].expires * 1000).toISOString(), "2026-12-16T00:00:00.000Z");
    assert.deepEqual(samePeriod, now, "identical inputs within a period: no diff");
    assert.equal(new Date(nextPeriod[1].expires * 1000).toISOString(), "2027-03-16T00:00:00.000Z");
    assert.deepEqual(
      nextPeriod.map((secret) => secret.urn),
      now.map((secret) => secret.urn),
      "the same secrets: the provider writes a new version, never a new secret",
    );
    // Key Vault's near-expiry event (30 days ahead) must not fire while a short rotation keeps running.
    const weekly = await runProgram(baseConfig({ integrations: [{ name: "crm-sync", rotationDays: 7 }] }), {
      now: NOW,
    });
    const expires =
      ((
        weekly.one(SECRET, "crm-sync-credentials-client-id").inputs.properties as Record<
          string,
          Record<string, unknown>
        >
      ).attributes.expires as number) * 1000;
    assert.ok(expires - NOW.getTime() > 45 * 86_400_000);
  });

  it("switches the stored secret to the other slot at the next rotation, replacing only the older slot", async () => {
    const tenant = new MockTenant();
    const credential = (slot: string) =>
      tenant.stack.get(`${PASSWORD}::crm-sync-credentials-slot-${slot}`)?.id;
    const before = await runProgram(baseConfig(), { now: LATER_SAME_PERIOD, tenant });
    const [a, b] = [credential("a"), credential("b")];
    const after = await runProgram(baseConfig(), { now: NEXT_PERIOD, tenant });
    assert.equal(credential("a"), a, "the newer credential is kept");
    assert.notEqual(credential("b"), b, "the older one is replaced");
    assert.equal(tenant.passwords.size, 2);
    const slotA = (run: typeof before) => run.one(PASSWORD, "crm-sync-credentials-slot-a").inputs;
    const slotB = (run: typeof before) => run.one(PASSWORD, "crm-sync-credentials-slot-b").inputs;
    assert.deepEqual(slotA(after), slotA(before), "the newer slot is untouched");
    assert.notDeepEqual(slotB(after), slotB(before), "the older slot is re-issued");
    assert.deepEqual(slotB(after).rotateWhenChanged, { generation: "11" });
    const stored = (run: typeof before) =>
      (run.one(SECRET, "crm-sync-credentials-client-secret").inputs.properties as Record<string, unknown>)
        .value;
    assert.equal(stored(before), mockPasswordValue("crm-sync-credentials-slot-a"));
    assert.equal(stored(after), tenant.stack.get(`${PASSWORD}::crm-sync-credentials-slot-b`)?.state.value);
    // Same logical resource: the secret gets a new version, consumers keep the versionless URI.
    assert.equal(
      before.one(SECRET, "crm-sync-credentials-client-secret").urn,
      after.one(SECRET, "crm-sync-credentials-client-secret").urn,
    );
  });

  it("sends no end date that passes while a deployment started just before a boundary runs", async () => {
    // The program starts 10 s before slot b's end date; its credentials reach Entra ID five minutes later.
    const tenant = new MockTenant();
    await runProgram(baseConfig(), {
      now: new Date(BOUNDARY - 10_000),
      deploymentDelayMs: 5 * 60_000,
      tenant,
    });
    assert.equal(tenant.passwords.size, 2);
    for (const { endDate, createdAt } of tenant.passwords.values()) {
      assert.ok(
        Date.parse(endDate) - Date.parse(createdAt) > 24 * 60 * 60_000,
        `${endDate} from ${createdAt}`,
      );
    }
  });

  it("creates a vault with RBAC, soft delete (90 days) and purge protection, named from the stack", async () => {
    const run = await runProgram(baseConfig({ keyVault: { resourceGroupName: "rg-smartspace-dev" } }), {
      now: NOW,
    });
    const vault = run.one(VAULT, "credentials-vault");
    const properties = vault.inputs.properties as Record<string, unknown>;
    assert.equal(properties.enableRbacAuthorization, true);
    assert.equal(properties.enableSoftDelete, true);
    assert.equal(properties.softDeleteRetentionInDays, 90);
    assert.equal(properties.enablePurgeProtection, true);
    assert.deepEqual(properties.accessPolicies, []);
    assert.deepEqual(properties.sku, { family: "A", name: "standard" });
    assert.equal(properties.tenantId, TENANT_ID);
    assert.equal(vault.inputs.resourceGroupName, "rg-smartspace-dev");
    assert.equal(vault.inputs.location, undefined, "defaults to the provider's location");
    assert.match(String(vault.inputs.vaultName), /^kv-ss-dev-[a-z0-9]{5}$/);
    assert.ok(String(vault.inputs.vaultName).length <= 24);
    assert.equal(
      run.outputs.keyVaultId,
      `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-smartspace-dev/providers/Microsoft.KeyVault/vaults/${String(vault.inputs.vaultName)}`,
    );
  });

  it("keeps a derived vault name within 24 characters for long stack names, and honours name and location", async () => {
    const long = await runProgram(baseConfig(), { now: NOW, stack: "Production.Australia_East" });
    const name = String(long.one(VAULT, "credentials-vault").inputs.vaultName);
    assert.match(name, /^kv-ss-production-a-[a-z0-9]{5}$/);
    assert.ok(name.length <= 24 && !name.includes("--"));

    const named = await runProgram(
      baseConfig({ keyVault: { resourceGroupName: "rg-x", name: "kv-contoso-ss", location: "westeurope" } }),
      { now: NOW },
    );
    const vault = named.one(VAULT, "credentials-vault");
    assert.equal(vault.inputs.vaultName, "kv-contoso-ss");
    assert.equal(vault.inputs.location, "westeurope");
    assert.equal(named.byType("random:index/randomString:RandomString").length, 0);
  });

  it("uses an existing vault by ID without creating or adopting one", async () => {
    const id = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-shared/providers/Microsoft.KeyVault/vaults/kv-shared-ss`;
    const run = await runProgram(baseConfig({ keyVault: { id } }), {
      now: NOW,
      existingVaults: { "kv-shared-ss": { enableRbacAuthorization: true } },
    });
    assert.equal(run.byType(VAULT).length, 0);
    assert.equal(run.outputs.keyVaultId, id);
    const secret = run.one(SECRET, "crm-sync-credentials-client-secret");
    assert.equal(secret.inputs.vaultName, "kv-shared-ss");
    assert.equal(secret.inputs.resourceGroupName, "rg-shared");
  });

  it("refuses an existing vault in another subscription than the provider deploys to", async () => {
    const other = "0f0f0f0f-1111-4222-8333-444455556666";
    const id = `/subscriptions/${other}/resourceGroups/rg-shared/providers/Microsoft.KeyVault/vaults/kv-shared-ss`;
    await assert.rejects(
      runProgram(baseConfig({ keyVault: { id } }), {
        now: NOW,
        existingVaults: { "kv-shared-ss": { enableRbacAuthorization: true } },
      }),
      (error: Error & { logs: { severity: string }[] }) => {
        assert.match(
          error.message,
          new RegExp(
            `kv-shared-ss is in subscription ${other}, but the azure-native provider deploys to ${SUBSCRIPTION_ID}`,
          ),
        );
        // Said once, by the program: not logged again (with a stack trace) by the SDK on the way.
        assert.deepEqual(error.logs, []);
        return true;
      },
    );
  });

  it("refuses an existing vault that uses legacy access policies", async () => {
    const id = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-shared/providers/Microsoft.KeyVault/vaults/kv-legacy`;
    await assert.rejects(
      runProgram(baseConfig({ keyVault: { id } }), {
        now: NOW,
        existingVaults: { "kv-legacy": { enableRbacAuthorization: false } },
      }),
      /kv-legacy does not use RBAC authorization/,
    );
  });

  it("grants each reader Key Vault Secrets User on this integration's three secrets only", async () => {
    const second = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
    const run = await runProgram(
      baseConfig({
        integrations: [
          { name: "crm-sync", secretReaders: [READER_OBJECT_ID, second] },
          { name: "billing-bot" },
        ],
      }),
      { now: NOW },
    );
    const assignments = run.byType(ROLE_ASSIGNMENT);
    assert.equal(assignments.length, 6, "2 readers x 3 secrets; none for the integration without readers");
    const secretIds = new Set(
      ["client-id", "tenant-id", "client-secret"].map((kind) => {
        const name = String(run.one(SECRET, `crm-sync-credentials-${kind}`).inputs.secretName);
        return `${String(run.outputs.keyVaultId)}/secrets/${name}`;
      }),
    );
    for (const assignment of assignments) {
      const inputs = assignment.inputs;
      assert.equal(
        inputs.roleDefinitionId,
        `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER_ROLE_ID}`,
      );
      assert.equal(inputs.principalType, "ServicePrincipal");
      assert.ok(
        secretIds.has(String(inputs.scope)),
        `scope ${String(inputs.scope)} is one secret, not the vault`,
      );
      assert.equal(
        inputs.roleAssignmentName,
        roleAssignmentName(String(inputs.scope), String(inputs.principalId), String(inputs.roleDefinitionId)),
      );
    }
    assert.deepEqual(
      [...new Set(assignments.map((a) => a.inputs.principalId))].sort(),
      [READER_OBJECT_ID, second].sort(),
    );
    assert.equal(new Set(assignments.map((a) => a.inputs.roleAssignmentName)).size, 6);
  });

  it("derives role assignment names from scope, principal and role only", () => {
    const a = roleAssignmentName("/s/x", READER_OBJECT_ID, "/r/1");
    assert.equal(a, roleAssignmentName("/S/X", READER_OBJECT_ID.toUpperCase(), "/r/1"));
    assert.notEqual(a, roleAssignmentName("/s/y", READER_OBJECT_ID, "/r/1"));
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
