import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { Policies } from "@pulumi/policy";
import { EnforcementLevel } from "@pulumi/pulumi/proto/analyzer_pb";
import { stringify as toYaml } from "yaml";
import { checkCredentialLifetime, CONFIG, PACK_NAME, policies, POLICY } from "../policy/policies";
import { policyPackConfig, stackFileFacts, stackSettings } from "../policy/write-config";
import {
  DEPLOYER_OBJECT_ID,
  SMARTSPACE,
  SUBSCRIPTION_ID,
  USER_ASSIGNED_IDENTITY,
} from "./support/azureMocks";
import {
  baseConfig,
  FEDERATED_INTEGRATION,
  OWNER_OBJECT_ID,
  READER_OBJECT_ID,
  WORKSPACE_A,
  WORKSPACE_B,
} from "./support/fixtures";
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

const ROOT = path.resolve(__dirname, "..");
const T = {
  application: "azuread:index/application:Application",
  applicationPassword: "azuread:index/applicationPassword:ApplicationPassword",
  servicePrincipal: "azuread:index/servicePrincipal:ServicePrincipal",
  appRoleAssignment: "azuread:index/appRoleAssignment:AppRoleAssignment",
  vault: "azure-native:keyvault:Vault",
  secret: "azure-native:keyvault:Secret",
  roleAssignment: "azure-native:authorization:RoleAssignment",
  actionGroup: "azure-native:monitor:ActionGroup",
  systemTopic: "azure-native:eventgrid:SystemTopic",
  systemTopicEventSubscription: "azure-native:eventgrid:SystemTopicEventSubscription",
  applicationCertificate: "azuread:index/applicationCertificate:ApplicationCertificate",
  federatedCredential:
    "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential",
  userAssignedIdentity: "azure-native:managedidentity:UserAssignedIdentity",
  keyVaultCertificate: "pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate",
} as const;

/** One integration of each credential type (both kinds of managed identity), with readers where they apply. */
const fullConfig = baseConfig({
  deployerObjectId: DEPLOYER_OBJECT_ID,
  integrations: [
    {
      name: "crm-sync",
      owners: [OWNER_OBJECT_ID],
      workspaces: [WORKSPACE_A, WORKSPACE_B],
      secretReaders: [READER_OBJECT_ID],
    },
    { name: "billing-bot", rotationDays: 30, workspaces: [WORKSPACE_A], secretReaders: [READER_OBJECT_ID] },
    {
      name: "onprem-agent",
      credential: { type: "certificate", rotationDays: 60, readers: [READER_OBJECT_ID] },
      workspaces: [WORKSPACE_A],
    },
    { ...FEDERATED_INTEGRATION, workspaces: [WORKSPACE_A] },
    {
      name: "func-app",
      credential: { type: "managedIdentity", create: { resourceGroupName: "rg-smartspace-dev" } },
      workspaces: [WORKSPACE_A],
    },
    {
      name: "aks-app",
      credential: { type: "managedIdentity", principalId: USER_ASSIGNED_IDENTITY.principalId },
      workspaces: [WORKSPACE_B],
    },
  ],
  alerts: { emails: ["platform-team@contoso.com"] },
});

/** The stack file of a configuration, as `Pulumi.<stack>.yaml` holds it, read by the config writer. */
function stackFileOf(config: Record<string, unknown>): string {
  return toYaml({
    config: Object.fromEntries(
      Object.entries(config).map(([key, value]) => [`smartspace-integration:${key}`, value]),
    ),
  });
}

/** The pack config a production stack's pipeline writes for `fullConfig`, as the config writer builds it. */
const PACK_CONFIG: PackConfig = policyPackConfig({
  stack: "prod",
  settings: { production: true },
  facts: stackFileFacts(stackFileOf(fullConfig)),
  smartspaceServicePrincipalObjectId: SMARTSPACE.objectId,
  smartspaceAppRoleId: SMARTSPACE.integrationsRoleId,
});
const RG = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-smartspace-dev`;
const VAULT_ID = `${RG}/providers/Microsoft.KeyVault/vaults/kv-ss-dev-abcde`;

function policyNamed(name: string): Policies {
  const found = policies.filter((policy) => policy.name === name);
  assert.equal(found.length, 1, `policy ${name} exists`);
  return found;
}

async function check(
  name: string,
  items: HarnessResource[],
  config: PackConfig = PACK_CONFIG,
): Promise<string[]> {
  return (await runPolicies(policyNamed(name), items, config)).map((violation) => violation.message);
}

function describeViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.policy} on ${v.urn ?? "stack"}: ${v.message}`).join("\n");
}

/** Every resource the real program declares, as the engine sends them to the pack. */
async function programResources(): Promise<HarnessResource[]> {
  return resourcesFromRun(await runProgram(fullConfig));
}

const renamed = (
  item: HarnessResource,
  name: string,
  props: Record<string, unknown> = item.props,
): HarnessResource => ({
  ...item,
  name,
  urn: item.urn.replace(/::[^:]+$/, `::${name}`),
  props,
});

describe("policy pack", () => {
  describe("over the real program", () => {
    let declared: HarnessResource[];
    before(async () => {
      declared = await programResources();
    });

    it("passes every policy for every resource the program declares, in every credential mode, with a created or an existing vault", async () => {
      for (const type of Object.values(T)) {
        assert.ok(
          declared.some((item) => item.type === type),
          `the program declares a ${type}, so the rules had something to check`,
        );
      }
      const violations = await runPolicies(policies, declared, PACK_CONFIG);
      assert.deepEqual(violations, [], describeViolations(violations));
      const existing = await runProgram(baseConfig({ ...fullConfig, keyVault: { id: VAULT_ID } }), {
        existingVaults: { "kv-ss-dev-abcde": { enableRbacAuthorization: true } },
      });
      const onExisting = await runPolicies(policies, resourcesFromRun(existing), PACK_CONFIG);
      assert.deepEqual(onExisting, [], describeViolations(onExisting));
    });

    it("refuses every resource type the stack does not declare", async () => {
      const attacks: [string, Record<string, unknown>][] = [
        // A federated credential on a managed identity: the stack trusts subjects on applications only.
        ["azure-native:managedidentity:FederatedIdentityCredential", {}],
        ["azuread:index/servicePrincipalCertificate:ServicePrincipalCertificate", {}],
        ["azuread:index/applicationOwner:ApplicationOwner", {}],
        ["azuread:index/directoryRoleAssignment:DirectoryRoleAssignment", {}],
        ["azure-native:authorization:RoleDefinition", {}],
        ["azure-native:keyvault:AccessPolicy", {}],
        ["azuread:index/applicationApiAccess:ApplicationApiAccess", {}],
        ["azuread:index/servicePrincipalPassword:ServicePrincipalPassword", {}],
        ["azure-native:storage:StorageAccount", {}],
        ["command:local:Command", {}],
      ];
      const violations = await runPolicies(
        policyNamed(POLICY.declaredTypes),
        attacks.map(([type, props], index) => resource(type, `attack-${index}`, props)),
        PACK_CONFIG,
      );
      assert.equal(violations.length, attacks.length, describeViolations(violations));
      assert.match(
        violations[0].message,
        /not a resource type this stack declares: a credential type is allowed only/,
      );
      assert.match(violations[3].message, /grants no directory roles/);
      assert.match(violations[5].message, /RBAC authorization, not legacy access policies/);
    });

    it("refuses a credential on one of our applications that the stack does not declare", async () => {
      const slot = declared.find((item) => item.type === T.applicationPassword);
      assert.ok(slot);
      // A third slot declared properly is caught by the count; a password on an application named by ID
      // (ours or anyone's) is refused outright, because the stack only ever derives applicationId from its own.
      const foreign = {
        ...renamed(slot, "backdoor", {
          ...slot.props,
          applicationId: "/applications/2f1e0d9c-0000-4000-8000-000000000001",
        }),
        dependencies: [],
        propertyDependencies: { applicationId: [] },
      };
      const violations = await runPolicies(policies, [...declared, foreign], PACK_CONFIG);
      assert.deepEqual(
        violations.map((violation) => [violation.policy, violation.urn]),
        [[POLICY.credentialsOnStackApplications, foreign.urn]],
        describeViolations(violations),
      );
      assert.match(
        violations[0].message,
        /client secret slot backdoor: applicationId .* is not taken from an application this stack declares/,
      );
      const third = renamed(slot, slot.name.replace(/slot-[ab]$/, "slot-c"));
      assert.deepEqual(
        (await runPolicies(policies, [...declared, third], PACK_CONFIG)).map((violation) => violation.policy),
        [POLICY.passwordsPerApplication],
      );
    });

    it("allows the credential modes' types only in the shape the stack declares them", async () => {
      const one = (type: string) => {
        const found = declared.find((item) => item.type === type);
        assert.ok(found, type);
        return found;
      };
      const changed = (
        item: HarnessResource,
        props: Record<string, unknown>,
        propertyDependencies: Record<string, string[]> = {},
      ): HarnessResource => ({
        ...item,
        props: { ...item.props, ...props },
        propertyDependencies: { ...item.propertyDependencies, ...propertyDependencies },
      });
      const certificate = one(T.applicationCertificate);
      const federated = one(T.federatedCredential);
      const version = one(T.keyVaultCertificate);
      const identity = one(T.userAssignedIdentity);
      const reader = declared.find(
        (item) => item.type === T.roleAssignment && item.name.includes("-certificate-reader-"),
      );
      assert.ok(reader, "the certificate's reader grant");
      const FOREIGN_APP = "/applications/2f1e0d9c-0000-4000-8000-000000000001";
      const cases: [string, HarnessResource, RegExp][] = [
        [
          "a certificate on an application named by ID",
          changed(certificate, { applicationId: FOREIGN_APP }, { applicationId: [] }),
          /applicationId .* is not taken from an application this stack declares/,
        ],
        [
          "a certificate whose key was not generated in Key Vault",
          changed(certificate, {}, { value: [] }),
          /value is not taken from a Key Vault certificate version this stack declares/,
        ],
        ["a symmetric key", changed(certificate, { type: "Symmetric" }), /register only public keys/],
        [
          "a federated credential for another audience",
          changed(federated, { audiences: ["api://AzureADTokenExchange", "api://other"] }),
          /accept exactly \["api:\/\/AzureADTokenExchange"\]/,
        ],
        [
          "a federated credential trusting an http issuer",
          changed(federated, { issuer: "http://idp.example.com" }),
          /issuer "http:\/\/idp\.example\.com"/,
        ],
        [
          "a federated credential on an application named by ID",
          changed(federated, { applicationId: FOREIGN_APP }, { applicationId: [] }),
          /federated identity credential .* is not taken from an application this stack declares/,
        ],
        [
          "a Key Vault certificate given its key and key policy",
          changed(version, {
            pem: "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----",
            exportable: false,
          }),
          /inputs \["pem","exportable"\] the stack does not declare/,
        ],
        [
          "a Key Vault certificate valid for ten years",
          changed(version, { validityInMonths: 120 }),
          /validityInMonths is 120; a version rotating every 60 days is valid 5 months/,
        ],
        [
          "a Key Vault certificate issued after a version of another certificate",
          changed(version, {
            issuedAfter: `${String(version.props.vaultUrl)}certificates/smartspace-other-client-cert/0123456789abcdef0123456789abcdef`,
          }),
          /issuedAfter is .*; expected a version of the same certificate in the same vault/,
        ],
        [
          "another provider behind the certificate's type",
          changed(version, { __provider: "exports.handler = __f0; // imports a PFX" }),
          /not the project's KeyVaultCertificate shim/,
        ],
        [
          "an identity without a name",
          changed(identity, { resourceName: undefined }),
          /resourceName is undefined/,
        ],
        [
          "a certificate reader granted another secret of the vault",
          changed(reader, {
            scope: String(reader.props.scope).replace(
              /secrets\/[^/]+$/,
              "secrets/smartspace-crm-sync-client-secret",
            ),
          }),
          /not a secret this stack declares \(nor the secret of a certificate it issues\)/,
        ],
      ];
      for (const [what, item, why] of cases) {
        const violations = await runPolicies(
          policies,
          declared.map((candidate) => (candidate.urn === item.urn ? item : candidate)),
          PACK_CONFIG,
        );
        assert.ok(
          violations.length > 0 && violations.every((violation) => violation.urn === item.urn),
          `${what}: ${describeViolations(violations)}`,
        );
        assert.ok(
          violations.some((violation) => why.test(violation.message)),
          `${what}: ${describeViolations(violations)}`,
        );
      }

      // No application gets more than the two certificate slots, or more federated credentials than Entra ID allows.
      const third = renamed(certificate, certificate.name.replace(/slot-[ab]$/, "slot-c"));
      const trusted = Array.from({ length: 19 }, (_, index) =>
        renamed(federated, `${federated.name}-${index}`),
      );
      const counted = await runPolicies(
        policyNamed(POLICY.credentialsOnStackApplications),
        [...declared, third, ...trusted],
        PACK_CONFIG,
      );
      assert.deepEqual(
        counted.map((violation) => /has (\d+) (.*?)s \(/.exec(violation.message)?.slice(1)),
        [
          ["3", "application certificate"],
          ["21", "federated identity credential"],
        ],
        describeViolations(counted),
      );
      assert.match(counted[1].message, /at most 20: Entra ID's limit per application/);
    });

    it("refuses client secrets, and at the strictest level certificates, where the stack requires secretless credentials", async () => {
      const at = async (level: string) => {
        const config = { ...PACK_CONFIG, [POLICY.secretless]: { [CONFIG.secretless]: level } };
        const violations = await runPolicies(policyNamed(POLICY.secretless), declared, config);
        return violations.map((violation) => {
          const item = declared.find((candidate) => candidate.urn === violation.urn);
          return [item?.type, violation.message] as const;
        });
      };
      assert.deepEqual(await at("off"), []);
      const noSecrets = await at("no-client-secrets");
      assert.deepEqual(
        noSecrets.map(([type]) => type),
        [T.applicationPassword, T.applicationPassword, T.applicationPassword, T.applicationPassword],
        "both slots of both secret integrations",
      );
      assert.match(
        noSecrets[0][1],
        /this stack requires secretless credentials \(limits\.requireSecretless: no-client-secrets in policy\/stacks\.yaml\); give the integration credential type federated, managedIdentity or certificate/,
      );
      assert.deepEqual(
        [...new Set((await at("no-stored-credentials")).map(([type]) => type))].sort(),
        [T.applicationCertificate, T.applicationPassword, T.keyVaultCertificate].sort(),
      );
    });

    it("refuses vault-wide, foreign-principal and undeclared-secret role assignments", async () => {
      const reader = declared.find((item) => item.type === T.roleAssignment);
      assert.ok(reader);
      const variants = {
        vaultWide: {
          ...renamed(reader, "vault-wide", { ...reader.props, scope: VAULT_ID }),
          propertyDependencies: { scope: [] },
        },
        user: renamed(reader, "user", { ...reader.props, principalType: "User" }),
        otherRole: renamed(reader, "owner-role", {
          ...reader.props,
          roleDefinitionId: `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635`,
        }),
        otherSecret: {
          ...renamed(reader, "other-secret", { ...reader.props, scope: `${VAULT_ID}/secrets/someone-elses` }),
          dependencies: [],
          propertyDependencies: { scope: [] },
        },
      };
      for (const [what, item] of Object.entries(variants)) {
        const violations = await runPolicies(
          policyNamed(POLICY.roleAssignment),
          [...declared, item],
          PACK_CONFIG,
        );
        assert.ok(violations.length > 0, what);
        assert.ok(
          violations.every((violation) => violation.urn === item.urn),
          describeViolations(violations),
        );
      }
      const [wide] = await check(POLICY.roleAssignment, [...declared, variants.vaultWide]);
      assert.match(wide, /must be one secret \(or certificate\) of a Key Vault/);
      assert.match(
        (await check(POLICY.roleAssignment, [...declared, variants.user]))[0],
        /principalType is "User"/,
      );
    });

    it("refuses app role assignments of another role, another resource, or to a principal the stack does not declare", async () => {
      const assignment = declared.find((item) => item.type === T.appRoleAssignment);
      assert.ok(assignment);
      const otherRole = renamed(assignment, "other-role", {
        ...assignment.props,
        appRoleId: "0a0b0c0d-0000-4000-8000-000000000009",
      });
      const graph = renamed(assignment, "graph", {
        ...assignment.props,
        resourceObjectId: "0a0b0c0d-0000-4000-8000-000000000001",
      });
      const stranger = {
        ...renamed(assignment, "stranger", {
          ...assignment.props,
          principalObjectId: "0a0b0c0d-0000-4000-8000-000000000002",
        }),
        dependencies: [],
        propertyDependencies: { principalObjectId: [] },
      };
      const messages = await check(POLICY.appRoleAssignment, [...declared, otherRole, graph, stranger]);
      assert.equal(messages.length, 3, messages.join("\n"));
      assert.match(messages[0], /only hold the configured Smartspace role/);
      assert.match(messages[1], /only hold roles of the Smartspace service principal/);
      assert.match(messages[2], /not a service principal or managed identity this stack declares/);
      // An existing managed identity holds the role only while the stack file names it.
      const unnamed = {
        ...PACK_CONFIG,
        [POLICY.appRoleAssignment]: { ...PACK_CONFIG[POLICY.appRoleAssignment] },
      };
      delete (unnamed[POLICY.appRoleAssignment] as Record<string, unknown>)[CONFIG.managedIdentityPrincipals];
      const existing = await runPolicies(policyNamed(POLICY.appRoleAssignment), declared, unnamed);
      assert.deepEqual(
        existing.map((violation) => violation.urn?.replace(/.*::/, "")),
        ["aks-app-identity-role"],
      );
    });

    it("refuses owners the configuration does not name, and identifier URIs", async () => {
      const app = declared.find((item) => item.type === T.application);
      assert.ok(app);
      const owned = renamed(app, "owned", {
        ...app.props,
        owners: [DEPLOYER_OBJECT_ID, "0a0b0c0d-0000-4000-8000-000000000003"],
        identifierUris: ["api://backdoor"],
      });
      assert.match(
        (await check(POLICY.owners, [owned]))[0],
        /owners \["0a0b0c0d-0000-4000-8000-000000000003"\]/,
      );
      assert.match(
        (await check(POLICY.integrationApplication, [owned]))[0],
        /identifier URIs \["api:\/\/backdoor"\]/,
      );
    });

    it("refuses a Key Vault secret without an expiry, whatever it holds", async () => {
      const secret = declared.find((item) => item.name === "crm-sync-credentials-client-id");
      assert.ok(secret);
      const properties = secret.props.properties as Record<string, unknown>;
      const [message] = await check(POLICY.secretExpiry, [
        renamed(secret, "no-expiry", {
          ...secret.props,
          properties: { ...properties, attributes: { enabled: true } },
        }),
      ]);
      assert.match(message, /properties\.attributes\.expires is undefined/);
    });
    it("refuses expiry alerts that could do more than notify", async () => {
      const byType = (type: string) => {
        const found = declared.find((item) => item.type === type);
        assert.ok(found, type);
        return found;
      };
      const group = byType(T.actionGroup);
      const topic = byType(T.systemTopic);
      const subscription = byType(T.systemTopicEventSubscription);
      const messages = await check(POLICY.expiryAlerts, [
        renamed(group, "webhook", {
          ...group.props,
          webhookReceivers: [{ name: "x", serviceUri: "https://x" }],
        }),
        renamed(topic, "storage-topic", { ...topic.props, topicType: "Microsoft.Storage.StorageAccounts" }),
        renamed(subscription, "to-webhook", {
          ...subscription.props,
          destination: { endpointType: "WebHook", endpointUrl: "https://collector.example.com" },
        }),
        renamed(subscription, "every-event", {
          ...subscription.props,
          filter: { includedEventTypes: ["Microsoft.KeyVault.SecretNewVersionCreated"] },
        }),
      ]);
      assert.equal(messages.length, 5, messages.join("\n"));
      assert.match(messages.join("\n"), /webhookReceivers is set/);
      assert.match(messages.join("\n"), /topicType is "Microsoft\.Storage\.StorageAccounts"/);
      assert.match(messages.join("\n"), /deliver only to MonitorAlert/);
      assert.match(messages.join("\n"), /forward only Key Vault expiry events/);
      assert.match(messages.join("\n"), /no StringIn filter on subject/);
    });
  });

  describe("rules", () => {
    it("limits a password's and a registered certificate's lifetime, from now when it has no start date, to the configured maximum", async () => {
      const now = new Date("2025-01-01T00:00:00Z");
      assert.deepEqual(checkCredentialLifetime({ endDate: "2025-12-31T00:00:00Z" }, now), []);
      assert.match(checkCredentialLifetime({ endDate: "2026-06-01T00:00:00Z" }, now)[0], /\(now to endDate/);
      assert.match(
        checkCredentialLifetime({ endDate: "2025-07-01T00:00:00Z" }, now, 180)[0],
        /maximum is 180 days/,
      );
      assert.match(checkCredentialLifetime({}, now)[0], /endDate is not set/);
      assert.match(
        checkCredentialLifetime({ endDateRelative: "8760h", endDate: "2025-02-01T00:00:00Z" }, now)[0],
        /endDateRelative/,
      );
      const limited = policyPackConfig({
        stack: "dev",
        settings: {
          production: false,
          limits: { maxPasswordLifetimeDays: 200, maxCertificateLifetimeDays: 190 },
        },
        facts: { integrations: [] },
        smartspaceServicePrincipalObjectId: SMARTSPACE.objectId,
      });
      const long = resource(T.applicationPassword, "slot", { endDate: "2099-01-01T00:00:00Z" });
      assert.match((await check(POLICY.passwordLifetime, [long], limited))[0], /maximum is 200 days/);
      const certificate = resource(T.applicationCertificate, "slot", { endDate: "2099-01-01T00:00:00Z" });
      assert.match(
        (await check(POLICY.certificateLifetime, [certificate], limited))[0],
        /maximum is 190 days/,
      );
      assert.match((await check(POLICY.certificateLifetime, [certificate]))[0], /maximum is 365 days/);
    });

    it("keeps vaults on RBAC, soft delete with the configured retention, purge protection and, if required, network rules", async () => {
      const vault = (properties: Record<string, unknown>) =>
        resource(T.vault, "vault", {
          properties: {
            enableRbacAuthorization: true,
            enableSoftDelete: true,
            softDeleteRetentionInDays: 90,
            enablePurgeProtection: true,
            ...properties,
          },
        });
      assert.deepEqual(await check(POLICY.keyVault, [vault({})]), []);
      const messages = await check(POLICY.keyVault, [
        vault({
          enableRbacAuthorization: false,
          accessPolicies: [{}],
          softDeleteRetentionInDays: 7,
          enablePurgeProtection: false,
        }),
      ]);
      assert.equal(messages.length, 4, messages.join("\n"));
      const strict = { ...PACK_CONFIG, [POLICY.keyVault]: { [CONFIG.requireNetworkRules]: true } };
      assert.match(
        (await check(POLICY.keyVault, [vault({})], strict))[0],
        /networkAcls\.defaultAction is undefined/,
      );
      assert.deepEqual(
        await check(POLICY.keyVault, [vault({ networkAcls: { defaultAction: "Deny" } })], strict),
        [],
      );
    });

    it("fails closed without the Smartspace service principal in the pack config", async () => {
      const [message] = await check(
        POLICY.appRoleAssignment,
        [resource(T.appRoleAssignment, "role", { resourceObjectId: SMARTSPACE.objectId })],
        {},
      );
      assert.match(message, /write the pack config with npm run policy:config/);
    });
  });

  describe("config writer", () => {
    const settingsText = readFileSync(path.join(ROOT, "policy", "stacks.yaml"), "utf8");
    const stackFile = [
      "config:",
      `  smartspace-integration:deployerObjectId: ${DEPLOYER_OBJECT_ID}`,
      "  smartspace-integration:integrations:",
      `    - { name: crm-sync, owners: [${OWNER_OBJECT_ID.toUpperCase()}], rotationDays: 180 }`,
      "    - { name: billing-bot }",
    ].join("\n");

    it("writes every policy mandatory with the allowed owners from the stack file", () => {
      const config = policyPackConfig({
        stack: "prod",
        settings: stackSettings(settingsText, "prod"),
        facts: stackFileFacts(stackFile),
        smartspaceServicePrincipalObjectId: SMARTSPACE.objectId,
        smartspaceAppRoleId: SMARTSPACE.integrationsRoleId,
      });
      assert.deepEqual(Object.keys(config).sort(), Object.values(POLICY).sort());
      for (const entry of Object.values(config)) assert.equal(entry.enforcementLevel, "mandatory");
      assert.deepEqual(
        config[POLICY.owners][CONFIG.allowedOwners],
        [DEPLOYER_OBJECT_ID, OWNER_OBJECT_ID].sort(),
      );
    });

    it("refuses to weaken a production stack, and treats a stack it does not know as production", () => {
      const weak = {
        production: true,
        enforcement: { [POLICY.declaredTypes]: "advisory" as const },
        limits: { minSoftDeleteRetentionDays: 7 },
      };
      assert.throws(
        () =>
          policyPackConfig({
            stack: "prod",
            settings: weak,
            facts: { integrations: [] },
            smartspaceServicePrincipalObjectId: SMARTSPACE.objectId,
          }),
        (error: Error) =>
          /resource-types-declared-by-this-stack must stay mandatory, not advisory/.test(error.message) &&
          /minSoftDeleteRetentionDays must be 90, not 7/.test(error.message) &&
          /pass --app-role-id/.test(error.message) &&
          /set smartspace-integration:deployerObjectId in Pulumi.prod.yaml/.test(error.message),
      );
      assert.equal(stackSettings(settingsText, "staging").production, true);
      assert.equal(stackSettings(settingsText, "dev").production, false);
      // Non-production stacks may relax a level, but never below what their own secrets need.
      assert.throws(
        () =>
          policyPackConfig({
            stack: "dev",
            settings: { production: false, limits: { maxPasswordLifetimeDays: 200 } },
            facts: stackFileFacts(stackFile),
            smartspaceServicePrincipalObjectId: SMARTSPACE.objectId,
          }),
        /limits\.maxPasswordLifetimeDays 200 is shorter than the stack's secrets can live \(361 days/,
      );
      assert.throws(
        () => stackSettings("dev: { production: maybe }", "dev"),
        /policy\/stacks\.yaml is invalid/,
      );
      assert.throws(
        () =>
          stackFileFacts("config:\n  smartspace-integration:deployerObjectId: <deploy identity object id>\n"),
        /"<deploy identity object id>", not object IDs; fill in the placeholders/,
      );
    });
    it("reads each integration's credential from the stack file: its rotation, its type, an existing identity", () => {
      const modes = stackFileFacts(stackFileOf(fullConfig));
      assert.deepEqual(
        modes.integrations.map((integration) => [
          integration.name,
          integration.type,
          integration.rotationDays,
        ]),
        [
          ["crm-sync", "secret", 90],
          ["billing-bot", "secret", 30],
          ["onprem-agent", "certificate", 60],
          ["ci-bot", "federated", undefined],
          ["func-app", "managedIdentity", undefined],
          ["aks-app", "managedIdentity", undefined],
        ],
      );
      assert.deepEqual(PACK_CONFIG[POLICY.appRoleAssignment][CONFIG.managedIdentityPrincipals], [
        USER_ASSIGNED_IDENTITY.principalId,
      ]);
      // credential.rotationDays counts like the integration-level key of earlier releases, per credential type.
      const write = (limits: Record<string, unknown>, integrations: unknown[]) =>
        policyPackConfig({
          stack: "dev",
          settings: { production: false, limits },
          facts: stackFileFacts(stackFileOf({ integrations })),
          smartspaceServicePrincipalObjectId: SMARTSPACE.objectId,
        });
      const longSecret = { name: "a", credential: { type: "secret", rotationDays: 180 } };
      const longCertificate = { name: "b", credential: { type: "certificate", rotationDays: 150 } };
      assert.throws(() => write({ maxPasswordLifetimeDays: 300 }, [longSecret]), /\(361 days/);
      assert.doesNotThrow(() => write({ maxPasswordLifetimeDays: 300 }, [longCertificate]));
      assert.throws(
        () => write({ maxCertificateLifetimeDays: 300 }, [longCertificate]),
        /limits\.maxCertificateLifetimeDays 300 is shorter than the stack's certificates can live \(301 days/,
      );
    });

    it("requires secretless credentials only where a stack asks, and only once its integrations have moved", () => {
      const write = (
        stack: string,
        settings: Parameters<typeof policyPackConfig>[0]["settings"],
        integrations: unknown[],
      ) =>
        policyPackConfig({
          stack,
          settings,
          facts: stackFileFacts(stackFileOf({ deployerObjectId: DEPLOYER_OBJECT_ID, integrations })),
          smartspaceServicePrincipalObjectId: SMARTSPACE.objectId,
          smartspaceAppRoleId: SMARTSPACE.integrationsRoleId,
        });
      const secret = { name: "crm-sync" };
      const certificate = { name: "agent", credential: { type: "certificate" } };
      const federated = {
        name: "ci-bot",
        credential: {
          type: "federated",
          subjects: [{ github: { repository: "contoso/crm", branch: "main" } }],
        },
      };
      // No production minimum: stacks deployed with client secrets (the default type) keep deploying.
      assert.equal(
        write("prod", stackSettings(settingsText, "prod"), [secret])[POLICY.secretless][CONFIG.secretless],
        "off",
      );
      const strict = { production: true, limits: { requireSecretless: "no-stored-credentials" as const } };
      assert.throws(
        () => write("prod", strict, [secret, certificate, federated]),
        (error: Error) =>
          /integration crm-sync uses credential type secret; move it to federated or managedIdentity first/.test(
            error.message,
          ) && /integration agent uses credential type certificate/.test(error.message),
      );
      assert.equal(
        write("prod", strict, [federated])[POLICY.secretless][CONFIG.secretless],
        "no-stored-credentials",
      );
      assert.doesNotThrow(() =>
        write("prod", { production: true, limits: { requireSecretless: "no-client-secrets" } }, [
          certificate,
        ]),
      );
      assert.throws(
        () => stackSettings("prod: { production: true, limits: { requireSecretless: yes } }", "prod"),
        /policy\/stacks\.yaml is invalid: prod\.limits\.requireSecretless/,
      );
    });
  });

  describe("as the Pulumi CLI loads it", () => {
    it("serves every policy, mandatory by default, and enforces them over gRPC", async function () {
      // Type-checking the pack at load (as the CLI does) takes a few seconds on a small machine.
      this.timeout(60_000);
      const pack = await servePolicyPack(path.join(ROOT, "policy"));
      try {
        const info = await analyzerInfo(pack);
        assert.equal(info.name, PACK_NAME);
        assert.deepEqual(
          info.policies.map((policy) => policy.name).sort(),
          policies.map((policy) => policy.name).sort(),
        );
        for (const policy of info.policies) {
          assert.equal(policy.enforcementLevel, EnforcementLevel.MANDATORY, `${policy.name} is mandatory`);
        }
        await configurePack(pack, PACK_CONFIG);
        const backdoor = await analyzeResource(
          pack,
          resource("azuread:index/applicationOwner:ApplicationOwner", "owner", {}),
        );
        assert.deepEqual(
          backdoor.map((v) => v.policy),
          [POLICY.declaredTypes],
        );
        const longLived = await analyzeResource(
          pack,
          resource(T.applicationCertificate, "slot", {
            type: "AsymmetricX509Cert",
            encoding: "base64",
            endDate: "2099-01-01T00:00:00Z",
          }),
        );
        assert.deepEqual(
          longLived.map((v) => v.policy),
          [POLICY.certificateLifetime],
        );
        const weakVault = await analyzeResource(
          pack,
          resource(T.vault, "vault", { properties: { enableRbacAuthorization: true } }),
        );
        assert.ok(
          weakVault.every((v) => v.policy === POLICY.keyVault) && weakVault.length === 3,
          describeViolations(weakVault),
        );
      } finally {
        await pack.close();
      }
    });
  });
});
