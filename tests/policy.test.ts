import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { Policies } from "@pulumi/policy";
import { EnforcementLevel } from "@pulumi/pulumi/proto/analyzer_pb";
import { checkPasswordLifetime, CONFIG, PACK_NAME, policies, POLICY } from "../policy/policies";
import { policyPackConfig, stackFileFacts, stackSettings } from "../policy/write-config";
import { DEPLOYER_OBJECT_ID, SMARTSPACE, SUBSCRIPTION_ID } from "./support/azureMocks";
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
} as const;

/** The pack config a production stack's pipeline writes, as the config writer builds it. */
const PACK_CONFIG: PackConfig = policyPackConfig({
  stack: "prod",
  settings: { production: true },
  facts: { allowedOwners: [DEPLOYER_OBJECT_ID, OWNER_OBJECT_ID], longestRotationDays: 90 },
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
  ],
  alerts: { emails: ["platform-team@contoso.com"] },
});

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

    it("passes every policy for every resource the program declares, with a created or an existing vault", async () => {
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
        ["azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential", {}],
        ["azuread:index/applicationCertificate:ApplicationCertificate", {}],
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
      assert.match(messages[2], /not a service principal this stack declares/);
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
    it("limits a password's lifetime, from now when it has no start date, to the configured maximum", async () => {
      const now = new Date("2025-01-01T00:00:00Z");
      assert.deepEqual(checkPasswordLifetime({ endDate: "2025-12-31T00:00:00Z" }, now), []);
      assert.match(checkPasswordLifetime({ endDate: "2026-06-01T00:00:00Z" }, now)[0], /\(now to endDate/);
      assert.match(
        checkPasswordLifetime({ endDate: "2025-07-01T00:00:00Z" }, now, 180)[0],
        /maximum is 180 days/,
      );
      assert.match(checkPasswordLifetime({}, now)[0], /endDate is not set/);
      assert.match(
        checkPasswordLifetime({ endDateRelative: "8760h", endDate: "2025-02-01T00:00:00Z" }, now)[0],
        /endDateRelative/,
      );
      const limited = policyPackConfig({
        stack: "dev",
        settings: { production: false, limits: { maxPasswordLifetimeDays: 200 } },
        facts: { longestRotationDays: 90 },
        smartspaceServicePrincipalObjectId: SMARTSPACE.objectId,
      });
      const long = resource(T.applicationPassword, "slot", { endDate: "2099-01-01T00:00:00Z" });
      assert.match((await check(POLICY.passwordLifetime, [long], limited))[0], /maximum is 200 days/);
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
            facts: { longestRotationDays: 90 },
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
        /shorter than the stack's secrets live \(2 x rotationDays 180\)/,
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
          resource(
            "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential",
            "fic",
            {},
          ),
        );
        assert.deepEqual(
          backdoor.map((v) => v.policy),
          [POLICY.declaredTypes],
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
