import * as assert from "node:assert/strict";
import * as path from "node:path";
import type { Policies } from "@pulumi/policy";
import { EnforcementLevel } from "@pulumi/pulumi/proto/analyzer_pb";
import {
  checkAppRoleAssignment,
  checkPasswordLifetime,
  KEY_VAULT_SECRETS_USER_ROLE_ID,
  PACK_NAME,
  policies,
  POLICY,
  SMARTSPACE_PRINCIPAL_CONFIG_KEY,
} from "../policy/policies";
import { SMARTSPACE, SUBSCRIPTION_ID } from "./support/azureMocks";
import { baseConfig, OWNER_OBJECT_ID, READER_OBJECT_ID, WORKSPACE_A, WORKSPACE_B } from "./support/fixtures";
import {
  analyzeResource,
  analyzerInfo,
  configurePack,
  type HarnessResource,
  type PackConfig,
  resource,
  resourcesFromRun,
  runPolicies,
  servePolicyPack,
  type Violation,
} from "./support/policyHarness";
import { runProgram } from "./support/program";

const T = {
  application: "azuread:index/application:Application",
  applicationPassword: "azuread:index/applicationPassword:ApplicationPassword",
  servicePrincipal: "azuread:index/servicePrincipal:ServicePrincipal",
  servicePrincipalPassword: "azuread:index/servicePrincipalPassword:ServicePrincipalPassword",
  appRoleAssignment: "azuread:index/appRoleAssignment:AppRoleAssignment",
  vault: "azure-native:keyvault:Vault",
  secret: "azure-native:keyvault:Secret",
  roleAssignment: "azure-native:authorization:RoleAssignment",
} as const;

const PACK_CONFIG: PackConfig = {
  [POLICY.appRoleAssignment]: { [SMARTSPACE_PRINCIPAL_CONFIG_KEY]: SMARTSPACE.objectId },
};
const RG = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-smartspace-dev`;
const VAULT_ID = `${RG}/providers/Microsoft.KeyVault/vaults/kv-ss-dev-abcde`;
const SECRETS_USER = `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER_ROLE_ID}`;

function policyNamed(name: string): Policies {
  const found = policies.filter((policy) => policy.name === name);
  assert.equal(found.length, 1, `policy ${name} exists`);
  return found;
}

/** Runs one policy over the given resources and returns its messages. */
async function check(
  name: string,
  items: HarnessResource[],
  config: PackConfig = PACK_CONFIG,
): Promise<string[]> {
  const violations = await runPolicies(policyNamed(name), items, config);
  return violations.map((violation) => violation.message);
}

function describeViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.policy} on ${v.urn ?? "stack"}: ${v.message}`).join("\n");
}

const slot = (name: string, props: Record<string, unknown>, extra: Partial<HarnessResource> = {}) =>
  resource(T.applicationPassword, name, { applicationId: "/applications/1", ...props }, extra);

describe("policy pack", () => {
  describe(POLICY.passwordLifetime, () => {
    it("accepts a slot valid for 360 days (2 x 180, the longest rotation)", async () => {
      const messages = await check(POLICY.passwordLifetime, [
        slot("crm-sync-credentials-slot-a", {
          startDate: "2025-01-01T00:00:00Z",
          endDate: "2025-12-27T00:00:00Z",
        }),
      ]);
      assert.deepEqual(messages, []);
    });

    it("rejects a password that lives longer than 365 days, naming both dates", async () => {
      const messages = await check(POLICY.passwordLifetime, [
        slot("long", { startDate: "2025-01-01T00:00:00Z", endDate: "2026-01-02T00:00:00Z" }),
      ]);
      assert.equal(messages.length, 1);
      assert.match(
        messages[0],
        /lives 366 days \(startDate 2025-01-01T00:00:00Z to endDate 2026-01-02T00:00:00Z\)/,
      );
      assert.match(messages[0], /maximum is 365 days/);
    });

    it("rejects a password without an end date, a relative end date and an end before the start", async () => {
      assert.match((await check(POLICY.passwordLifetime, [slot("no-end", {})]))[0], /endDate is not set/);
      const relative = await check(POLICY.passwordLifetime, [
        slot("relative", {
          endDateRelative: "8760h",
          endDate: "2025-02-01T00:00:00Z",
          startDate: "2025-01-01T00:00:00Z",
        }),
      ]);
      assert.deepEqual(relative.length, 1);
      assert.match(relative[0], /endDateRelative "8760h" is not allowed/);
      assert.match(
        (
          await check(POLICY.passwordLifetime, [
            slot("reversed", { startDate: "2025-02-01T00:00:00Z", endDate: "2025-01-01T00:00:00Z" }),
          ])
        )[0],
        /is not after startDate/,
      );
      assert.match(
        (
          await check(POLICY.passwordLifetime, [
            slot("garbage", { startDate: "2025-01-01T00:00:00Z", endDate: "soon" }),
          ])
        )[0],
        /endDate "soon" is not an RFC3339 date/,
      );
    });

    it("measures from now when startDate is omitted, as Entra ID does", () => {
      const now = new Date("2025-01-01T00:00:00Z");
      assert.deepEqual(checkPasswordLifetime({ endDate: "2025-12-31T00:00:00Z" }, now), []);
      assert.match(checkPasswordLifetime({ endDate: "2026-06-01T00:00:00Z" }, now)[0], /\(now to endDate/);
    });

    it("also checks service principal passwords and an application's inline password", async () => {
      const messages = await check(POLICY.passwordLifetime, [
        resource(T.servicePrincipalPassword, "sp-pass", {
          servicePrincipalId: "/servicePrincipals/1",
          startDate: "2025-01-01T00:00:00Z",
          endDate: "2027-01-01T00:00:00Z",
        }),
        resource(T.application, "app", {
          signInAudience: "AzureADMyOrg",
          password: {
            displayName: "inline",
            startDate: "2025-01-01T00:00:00Z",
            endDate: "2027-01-01T00:00:00Z",
          },
        }),
      ]);
      assert.equal(messages.length, 2);
      assert.match(messages[0], /lives 730 days/);
      assert.match(messages[1], /^password block: lives 730 days/);
    });
  });

  describe(POLICY.passwordsPerApplication, () => {
    const app = resource(T.application, "crm-sync-identity-app", { signInAudience: "AzureADMyOrg" });
    const dated = { startDate: "2025-01-01T00:00:00Z", endDate: "2025-06-01T00:00:00Z" };
    const onApp = (name: string) => slot(name, dated, { dependencies: [app.urn] });

    it("accepts the two rotation slots of an application", async () => {
      assert.deepEqual(
        await check(POLICY.passwordsPerApplication, [app, onApp("slot-a"), onApp("slot-b")]),
        [],
      );
    });

    it("rejects a third password, found through its dependency on the application", async () => {
      const messages = await check(POLICY.passwordsPerApplication, [
        app,
        onApp("slot-a"),
        onApp("slot-b"),
        onApp("extra"),
      ]);
      assert.equal(messages.length, 1);
      assert.match(
        messages[0],
        new RegExp(`application ${app.urn} has 3 client secrets \\(slot-a, slot-b, extra\\)`),
      );
    });

    it("counts an inline password block and a service principal password of the same application", async () => {
      const appWithInline = resource(T.application, "app", {
        signInAudience: "AzureADMyOrg",
        password: { displayName: "inline", ...dated },
      });
      const sp = resource(T.servicePrincipal, "sp", { clientId: "x" }, { dependencies: [appWithInline.urn] });
      const messages = await check(POLICY.passwordsPerApplication, [
        appWithInline,
        sp,
        slot("slot-a", dated, { dependencies: [appWithInline.urn] }),
        resource(
          T.servicePrincipalPassword,
          "sp-pass",
          { servicePrincipalId: "/servicePrincipals/1", ...dated },
          {
            dependencies: [sp.urn],
          },
        ),
      ]);
      assert.equal(messages.length, 1);
      assert.match(messages[0], /has 3 client secrets \(app\.password, slot-a, sp-pass\)/);
    });

    // The engine sends, beside the flat dependency list, the resources each input depends on; the rule keys a
    // password by what its applicationId depends on, which stays right when the password also depends on
    // other applications (an explicit dependsOn, or a display name built from another application).
    it("keys a password by the application its applicationId depends on, as the engine reports it", async () => {
      const other = resource(T.application, "other-app", { signInAudience: "AzureADMyOrg" });
      // During a preview the application's ID is unknown, so only the dependencies identify it.
      const viaProperty = (name: string) =>
        slot(
          name,
          { ...dated, applicationId: undefined },
          {
            dependencies: [app.urn, other.urn],
            propertyDependencies: { applicationId: [app.urn], displayName: [other.urn], endDate: [] },
          },
        );
      assert.deepEqual(
        await check(POLICY.passwordsPerApplication, [
          app,
          other,
          viaProperty("slot-a"),
          viaProperty("slot-b"),
        ]),
        [],
      );
      const messages = await check(POLICY.passwordsPerApplication, [
        app,
        other,
        viaProperty("slot-a"),
        viaProperty("slot-b"),
        viaProperty("extra"),
      ]);
      assert.equal(messages.length, 1, messages.join("\n"));
      assert.match(messages[0], new RegExp(`application ${app.urn} has 3 client secrets`));
    });

    it("keys a service principal password by the principal its servicePrincipalId depends on", async () => {
      const other = resource(T.application, "other-app", { signInAudience: "AzureADMyOrg" });
      const sp = resource(T.servicePrincipal, "sp", { clientId: "x" }, { dependencies: [app.urn] });
      const otherSp = resource(
        T.servicePrincipal,
        "other-sp",
        { clientId: "y" },
        { dependencies: [other.urn] },
      );
      const messages = await check(POLICY.passwordsPerApplication, [
        app,
        other,
        sp,
        otherSp,
        onApp("slot-a"),
        onApp("slot-b"),
        resource(
          T.servicePrincipalPassword,
          "sp-pass",
          { ...dated },
          {
            dependencies: [otherSp.urn, sp.urn],
            propertyDependencies: { servicePrincipalId: [sp.urn], displayName: [otherSp.urn] },
          },
        ),
      ]);
      assert.equal(messages.length, 1, messages.join("\n"));
      assert.match(
        messages[0],
        new RegExp(`application ${app.urn} has 3 client secrets \\(slot-a, slot-b, sp-pass\\)`),
      );
    });

    it("groups passwords of an application referenced by ID rather than by resource", async () => {
      const byId = (name: string) => slot(name, { ...dated, applicationId: "/applications/AAAA" });
      assert.deepEqual(await check(POLICY.passwordsPerApplication, [byId("a"), byId("b")]), []);
      assert.equal(
        (
          await check(POLICY.passwordsPerApplication, [
            byId("a"),
            byId("b"),
            slot("c", { ...dated, applicationId: "/applications/aaaa" }),
          ])
        ).length,
        1,
      );
    });
  });

  describe(POLICY.integrationApplication, () => {
    const minimal = { displayName: "smartspace-crm-sync-dev", signInAudience: "AzureADMyOrg", owners: ["x"] };

    it("accepts a single-tenant application without permissions or redirect URIs", async () => {
      assert.deepEqual(
        await check(POLICY.integrationApplication, [resource(T.application, "app", minimal)]),
        [],
      );
      assert.deepEqual(
        await check(POLICY.integrationApplication, [
          resource(T.application, "app", {
            ...minimal,
            requiredResourceAccesses: [],
            web: { redirectUris: [] },
          }),
        ]),
        [],
      );
    });

    it("rejects API permissions, every kind of redirect URI, public-client fallback and other audiences", async () => {
      const messages = await check(POLICY.integrationApplication, [
        resource(T.application, "app", {
          ...minimal,
          signInAudience: "AzureADMultipleOrgs",
          requiredResourceAccesses: [
            {
              resourceAppId: "00000003-0000-0000-c000-000000000000",
              resourceAccesses: [{ id: "x", type: "Role" }],
            },
          ],
          web: { redirectUris: ["https://example.com/callback"] },
          singlePageApplication: { redirectUris: ["https://spa.example.com/"] },
          publicClient: { redirectUris: ["http://localhost"] },
          fallbackPublicClientEnabled: true,
        }),
      ]);
      assert.equal(messages.length, 6, messages.join("\n"));
      assert.match(
        messages[0],
        /requests API permissions \(requiredResourceAccesses for 00000003-0000-0000-c000-000000000000\)/,
      );
      assert.match(messages[1], /web redirect URIs \["https:\/\/example.com\/callback"\]/);
      assert.match(messages[2], /single-page application redirect URIs/);
      assert.match(messages[3], /public client redirect URIs/);
      assert.match(messages[4], /fallbackPublicClientEnabled is true/);
      assert.match(messages[5], /signInAudience is "AzureADMultipleOrgs"; set it to "AzureADMyOrg"/);
    });

    it("requires single-tenant to be declared, not left to a provider default", async () => {
      const [message] = await check(POLICY.integrationApplication, [
        resource(T.application, "app", { displayName: "x" }),
      ]);
      assert.match(message, /signInAudience is undefined/);
    });

    it("rejects resources that would add API permissions or redirect URIs beside the application", async () => {
      const messages = await check(POLICY.integrationApplication, [
        resource("azuread:index/applicationApiAccess:ApplicationApiAccess", "graph", { applicationId: "x" }),
        resource("azuread:index/applicationRedirectUris:ApplicationRedirectUris", "web", { type: "Web" }),
        resource(
          "azuread:index/servicePrincipalDelegatedPermissionGrant:ServicePrincipalDelegatedPermissionGrant",
          "grant",
          {},
        ),
      ]);
      assert.equal(messages.length, 3);
      assert.match(
        messages[0],
        /ApplicationApiAccess is not allowed in this stack: integration applications request no API permissions/,
      );
      assert.match(messages[1], /have no redirect URIs/);
      assert.match(messages[2], /request no API permissions/);
    });
  });

  describe(POLICY.keyVault, () => {
    const hardened = {
      tenantId: "t",
      sku: { family: "A", name: "standard" },
      enableRbacAuthorization: true,
      accessPolicies: [],
      enableSoftDelete: true,
      softDeleteRetentionInDays: 90,
      enablePurgeProtection: true,
    };

    it("accepts a vault with RBAC authorization, soft delete and purge protection", async () => {
      assert.deepEqual(
        await check(POLICY.keyVault, [resource(T.vault, "vault", { properties: hardened })]),
        [],
      );
    });

    it("rejects each missing protection, also on an explicitly versioned vault type", async () => {
      const messages = await check(POLICY.keyVault, [
        resource("azure-native:keyvault/v20230701:Vault", "vault", {
          properties: {
            ...hardened,
            enableRbacAuthorization: false,
            accessPolicies: [{ objectId: "x", tenantId: "t", permissions: { secrets: ["get"] } }],
            enableSoftDelete: false,
            enablePurgeProtection: undefined,
          },
        }),
      ]);
      assert.equal(messages.length, 4, messages.join("\n"));
      assert.match(messages[0], /enableRbacAuthorization is false; set it to true/);
      assert.match(messages[1], /1 legacy access policy/);
      assert.match(messages[2], /enableSoftDelete is false/);
      assert.match(messages[3], /enablePurgeProtection is undefined/);
    });

    it("rejects legacy access policy resources", async () => {
      const [message] = await check(POLICY.keyVault, [
        resource("azure-native:keyvault:AccessPolicy", "legacy", {}),
      ]);
      assert.match(message, /AccessPolicy is not allowed in this stack: Key Vaults use RBAC authorization/);
    });
  });

  describe(POLICY.credentialSecret, () => {
    const credential = {
      secretName: "smartspace-crm-sync-client-secret",
      properties: {
        value: "Q~secret",
        contentType: "Entra ID client secret",
        attributes: { expires: 1767225600 },
      },
    };

    it("accepts a client secret with expiry and content type", async () => {
      assert.deepEqual(
        await check(POLICY.credentialSecret, [resource(T.secret, "crm-sync-client-secret", credential)]),
        [],
      );
    });

    it("rejects a client secret without expiry or content type", async () => {
      const messages = await check(POLICY.credentialSecret, [
        resource(T.secret, "crm-sync-client-secret", {
          secretName: "smartspace-crm-sync-client-secret",
          properties: { value: "Q~secret", attributes: { enabled: true } },
        }),
      ]);
      assert.equal(messages.length, 2);
      assert.match(messages[0], /properties.attributes.expires is undefined/);
      assert.match(messages[1], /properties.contentType is undefined/);
    });

    it("recognises credentials by content type too, and leaves identifiers alone", async () => {
      const byType = await check(POLICY.credentialSecret, [
        resource(T.secret, "mystery", {
          secretName: "mystery",
          properties: { value: "v", contentType: "API token" },
        }),
      ]);
      assert.equal(byType.length, 1);
      assert.match(byType[0], /expires is undefined/);
      const identifier = await check(POLICY.credentialSecret, [
        resource(T.secret, "crm-sync-client-id", {
          secretName: "smartspace-crm-sync-client-id",
          properties: { value: "guid" },
        }),
      ]);
      assert.deepEqual(identifier, []);
    });
  });

  describe(POLICY.passwordBackedSecret, () => {
    const password = slot("slot-a", { startDate: "2025-01-01T00:00:00Z", endDate: "2025-06-01T00:00:00Z" });

    it("rejects a secret fed by a client secret whose name does not say so, when it lacks expiry", async () => {
      const messages = await check(POLICY.passwordBackedSecret, [
        password,
        resource(
          T.secret,
          "opaque",
          { secretName: "opaque", properties: { value: "v" } },
          { dependencies: [password.urn] },
        ),
      ]);
      assert.equal(messages.length, 2);
      assert.match(messages[0], /^holds a client secret but properties.attributes.expires is undefined/);
    });

    it("judges a secret by what its value depends on when the engine reports per-property dependencies", async () => {
      // Both secrets depend on the password; only the first one's value comes from it. The second merely tags
      // itself with the password's key ID, as the stack's client-secret does.
      const valueFromPassword = resource(
        T.secret,
        "opaque",
        { secretName: "opaque", properties: { value: "v" } },
        {
          dependencies: [password.urn],
          propertyDependencies: { properties: [password.urn], secretName: [], tags: [] },
        },
      );
      const taggedOnly = resource(
        T.secret,
        "notes",
        { secretName: "notes", properties: { value: "v" }, tags: { "key-id": "k" } },
        {
          dependencies: [password.urn],
          propertyDependencies: { properties: [], secretName: [], tags: [password.urn] },
        },
      );
      const violations = await runPolicies(policyNamed(POLICY.passwordBackedSecret), [
        password,
        valueFromPassword,
        taggedOnly,
      ]);
      assert.deepEqual(
        violations.map((violation) => violation.urn),
        [valueFromPassword.urn, valueFromPassword.urn],
        describeViolations(violations),
      );
    });

    it("accepts such a secret with metadata, and ignores secrets not fed by a password", async () => {
      assert.deepEqual(
        await check(POLICY.passwordBackedSecret, [
          password,
          resource(
            T.secret,
            "opaque",
            {
              secretName: "opaque",
              properties: { value: "v", contentType: "x", attributes: { expires: 1 } },
            },
            { dependencies: [password.urn] },
          ),
          resource(T.secret, "plain", { secretName: "plain", properties: { value: "v" } }),
        ]),
        [],
      );
    });
  });

  describe(POLICY.roleAssignment, () => {
    const assignment = (props: Record<string, unknown>) =>
      resource(T.roleAssignment, "reader", {
        principalId: READER_OBJECT_ID,
        principalType: "ServicePrincipal",
        roleDefinitionId: SECRETS_USER,
        scope: `${VAULT_ID}/secrets/smartspace-crm-sync-client-secret`,
        ...props,
      });

    it("accepts Key Vault Secrets User on a secret or on a vault", async () => {
      assert.deepEqual(await check(POLICY.roleAssignment, [assignment({})]), []);
      assert.deepEqual(
        await check(POLICY.roleAssignment, [
          assignment({
            scope: VAULT_ID,
            roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER_ROLE_ID.toUpperCase()}`,
          }),
        ]),
        [],
      );
    });

    it("rejects scopes wider than a vault", async () => {
      for (const scope of [
        RG,
        `/subscriptions/${SUBSCRIPTION_ID}`,
        "/",
        `${RG}/providers/Microsoft.Storage/storageAccounts/st1`,
      ]) {
        const messages = await check(POLICY.roleAssignment, [assignment({ scope })]);
        assert.equal(messages.length, 1, scope);
        assert.match(messages[0], /the scope must be a Key Vault/);
      }
    });

    it("rejects any role other than Key Vault Secrets User", async () => {
      const owner = `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635`;
      const [message] = await check(POLICY.roleAssignment, [assignment({ roleDefinitionId: owner })]);
      assert.match(message, /grants role .*8e3af657.*; the stack may only grant Key Vault Secrets User/);
      assert.equal(
        (
          await check(POLICY.roleAssignment, [
            assignment({ roleDefinitionId: KEY_VAULT_SECRETS_USER_ROLE_ID }),
          ])
        ).length,
        1,
      );
    });

    it("rejects Entra directory role assignments", async () => {
      const [message] = await check(POLICY.roleAssignment, [
        resource("azuread:index/directoryRoleAssignment:DirectoryRoleAssignment", "admin", { roleId: "x" }),
      ]);
      assert.match(
        message,
        /DirectoryRoleAssignment is not allowed in this stack: the stack grants no Entra directory roles/,
      );
    });
  });

  describe(POLICY.appRoleAssignment, () => {
    const roleAssignment = (resourceObjectId: string) =>
      resource(T.appRoleAssignment, "crm-sync-identity-role", {
        appRoleId: SMARTSPACE.integrationsRoleId,
        principalObjectId: "11111111-2222-4333-8444-555555555555",
        resourceObjectId,
      });

    it("accepts an assignment of a Smartspace role, whatever the case of the ID", async () => {
      assert.deepEqual(
        await check(POLICY.appRoleAssignment, [roleAssignment(SMARTSPACE.objectId.toUpperCase())]),
        [],
      );
    });

    it("rejects an assignment of another service principal's role (e.g. Microsoft Graph)", async () => {
      const [message] = await check(POLICY.appRoleAssignment, [
        roleAssignment("0a0b0c0d-0000-4000-8000-000000000001"),
      ]);
      assert.match(
        message,
        new RegExp(
          `integrations may only hold roles of the Smartspace service principal ${SMARTSPACE.objectId}`,
        ),
      );
    });

    it("declares its config key required, accepting object IDs in either case", () => {
      const [policy] = policyNamed(POLICY.appRoleAssignment);
      const schema = policy.configSchema;
      assert.deepEqual(schema?.required, [SMARTSPACE_PRINCIPAL_CONFIG_KEY]);
      const pattern = new RegExp(String(schema?.properties[SMARTSPACE_PRINCIPAL_CONFIG_KEY].pattern));
      assert.ok(pattern.test(SMARTSPACE.objectId) && pattern.test(SMARTSPACE.objectId.toUpperCase()));
      assert.ok(!pattern.test(`${SMARTSPACE.objectId}-extra`));
    });

    it("fails closed without pack config naming the Smartspace service principal", async () => {
      const [message] = await check(POLICY.appRoleAssignment, [roleAssignment(SMARTSPACE.objectId)], {});
      assert.match(message, /pass the Smartspace service principal's object ID with --policy-pack-config/);
      assert.equal(checkAppRoleAssignment({ resourceObjectId: "x" }, "not-a-guid").length, 1);
    });
  });

  describe("over the real program", () => {
    const fullConfig = baseConfig({
      integrations: [
        {
          name: "crm-sync",
          owners: [OWNER_OBJECT_ID],
          workspaces: [WORKSPACE_A, WORKSPACE_B],
          secretReaders: [READER_OBJECT_ID],
        },
        {
          name: "billing-bot",
          rotationDays: 30,
          workspaces: [WORKSPACE_A],
          secretReaders: [READER_OBJECT_ID],
        },
      ],
    });

    it("passes every policy for every resource the program declares", async () => {
      const run = await runProgram(fullConfig);
      const resources = resourcesFromRun(run);
      // The rules must have had something to look at: a pack that matched nothing would pass vacuously.
      for (const type of [
        T.application,
        T.applicationPassword,
        T.appRoleAssignment,
        T.vault,
        T.secret,
        T.roleAssignment,
      ]) {
        assert.ok(run.byType(type).length > 0, `the program declares a ${type}`);
      }
      const violations = await runPolicies(policies, resources, PACK_CONFIG);
      assert.deepEqual(violations, [], describeViolations(violations));
    });

    it("sees the per-property dependencies the engine sends, and catches a third secret or an unlabelled copy", async () => {
      const run = await runProgram(fullConfig);
      const resources = resourcesFromRun(run);
      const applications = new Set(run.byType(T.application).map((app) => app.urn));
      const passwords = resources.filter((item) => item.type === T.applicationPassword);
      assert.equal(passwords.length, 4, "two slots per integration");
      for (const password of passwords) {
        const viaApplicationId = password.propertyDependencies?.applicationId ?? [];
        assert.equal(
          viaApplicationId.length,
          1,
          `${password.name}: applicationId depends on its application`,
        );
        assert.ok(applications.has(viaApplicationId[0]), password.name);
      }
      const clientSecret = resources.find(
        (item) => item.type === T.secret && item.name === "crm-sync-credentials-client-secret",
      );
      assert.ok(clientSecret, "the program declares crm-sync's client secret");
      const valueSources = clientSecret.propertyDependencies?.properties ?? [];
      assert.ok(
        valueSources.some((urn) => passwords.some((password) => password.urn === urn)),
        "the client secret's value depends on a slot",
      );

      const renamed = (item: HarnessResource, name: string): HarnessResource => ({
        ...item,
        name,
        urn: item.urn.replace(/::[^:]+$/, `::${name}`),
      });
      const thirdSlot = renamed(passwords[0], passwords[0].name.replace(/slot-[ab]$/, "slot-c"));
      const properties = clientSecret.props.properties as Record<string, unknown>;
      const unlabelledCopy = {
        ...renamed(clientSecret, "crm-sync-copy"),
        props: {
          ...clientSecret.props,
          secretName: "crm-sync-copy",
          properties: { value: properties.value },
        },
      };
      const violations = await runPolicies(policies, [...resources, thirdSlot, unlabelledCopy], PACK_CONFIG);
      assert.deepEqual(
        violations.map((violation) => [violation.policy, violation.urn ?? "stack"]),
        [
          [POLICY.passwordsPerApplication, "stack"],
          [POLICY.passwordBackedSecret, unlabelledCopy.urn],
          [POLICY.passwordBackedSecret, unlabelledCopy.urn],
        ],
        describeViolations(violations),
      );
      assert.ok(
        violations[0].message.startsWith(
          `application ${passwords[0].propertyDependencies?.applicationId?.[0]} has 3 client secrets`,
        ),
        violations[0].message,
      );
    });

    it("passes with an existing vault too", async () => {
      const run = await runProgram(
        baseConfig({ keyVault: { id: VAULT_ID }, integrations: fullConfig.integrations }),
        {
          existingVaults: { "kv-ss-dev-abcde": { enableRbacAuthorization: true } },
        },
      );
      assert.equal(run.byType(T.vault).length, 0, "an existing vault is not declared");
      const violations = await runPolicies(policies, resourcesFromRun(run), PACK_CONFIG);
      assert.deepEqual(violations, [], describeViolations(violations));
    });

    it("stops the program when the pack expects a different Smartspace service principal", async () => {
      const run = await runProgram(fullConfig);
      const violations = await runPolicies(policies, resourcesFromRun(run), {
        [POLICY.appRoleAssignment]: {
          [SMARTSPACE_PRINCIPAL_CONFIG_KEY]: "0a0b0c0d-0000-4000-8000-000000000001",
        },
      });
      assert.deepEqual(
        violations.map((violation) => violation.policy),
        run.byType(T.appRoleAssignment).map(() => POLICY.appRoleAssignment),
      );
    });
  });

  describe("as the Pulumi CLI loads it", () => {
    it("serves every policy as mandatory and enforces them over gRPC", async function () {
      // Type-checking the pack at load (as the CLI does) takes a few seconds on a small machine.
      this.timeout(60_000);
      const pack = await servePolicyPack(path.resolve(__dirname, "..", "policy"));
      try {
        const info = await analyzerInfo(pack);
        assert.equal(info.name, PACK_NAME);
        assert.equal(info.version, "1.0.0");
        assert.deepEqual(
          info.policies.map((policy) => policy.name).sort(),
          policies.map((policy) => policy.name).sort(),
        );
        for (const policy of info.policies) {
          assert.equal(policy.enforcementLevel, EnforcementLevel.MANDATORY, `${policy.name} is mandatory`);
        }
        assert.deepEqual(
          info.policies.find((policy) => policy.name === POLICY.appRoleAssignment)?.configRequired,
          [SMARTSPACE_PRINCIPAL_CONFIG_KEY],
        );

        await configurePack(pack, PACK_CONFIG);
        const weakVault = await analyzeResource(
          pack,
          resource(T.vault, "vault", {
            properties: { enableRbacAuthorization: true, enableSoftDelete: true },
          }),
        );
        assert.deepEqual(
          weakVault.map((v) => v.policy),
          [POLICY.keyVault],
        );
        assert.match(weakVault[0].message, /enablePurgeProtection/);
        const foreignRole = await analyzeResource(
          pack,
          resource(T.appRoleAssignment, "role", { resourceObjectId: "0a0b0c0d-0000-4000-8000-000000000001" }),
        );
        assert.deepEqual(
          foreignRole.map((v) => v.policy),
          [POLICY.appRoleAssignment],
        );
        const smartspaceRole = await analyzeResource(
          pack,
          resource(T.appRoleAssignment, "role", { resourceObjectId: SMARTSPACE.objectId }),
        );
        assert.deepEqual(smartspaceRole, []);
      } finally {
        await pack.close();
      }
    });
  });
});
