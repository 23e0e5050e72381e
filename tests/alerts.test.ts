import * as assert from "node:assert/strict";
import { nearExpiryMeansTrouble } from "../components/expiryAlerts";
import { ConfigError, parseStackConfig } from "../program/config";
import { MockTenant, RESOURCE_GROUP_LOCATION, SUBSCRIPTION_ID } from "./support/azureMocks";
import { baseConfig } from "./support/fixtures";
import { runProgram, toRawConfig } from "./support/program";

const ACTION_GROUP = "azure-native:monitor:ActionGroup";
const TOPIC = "azure-native:eventgrid:SystemTopic";
const SUBSCRIPTION = "azure-native:eventgrid:SystemTopicEventSubscription";

const ONCALL_GROUP = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-monitoring/providers/microsoft.insights/actionGroups/oncall`;
const SHARED_VAULT = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-shared/providers/Microsoft.KeyVault/vaults/kv-shared`;
const SHARED_TOPIC = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-shared/providers/Microsoft.EventGrid/systemTopics/kv-shared-topic`;

type Destination = { endpointType: string; actionGroups: string[]; severity: string; description: string };
type Filter = {
  includedEventTypes: string[];
  advancedFilters: { operatorType: string; key: string; values: string[] }[];
};

function alertsConfig(alerts: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  // "crm" is a prefix of "crm-sync": subject filters must still tell them apart.
  return baseConfig({ integrations: [{ name: "crm" }, { name: "crm-sync" }], alerts, ...extra });
}

describe("expiry alerts", () => {
  it("turns every expiry event of this stack's Key Vault objects into an Azure Monitor alert", async () => {
    const run = await runProgram(
      alertsConfig({ emails: ["Ops@Contoso.com", "alice@contoso.com"], actionGroupIds: [ONCALL_GROUP] }),
    );

    const [group] = run.byType(ACTION_GROUP);
    assert.equal(run.byType(ACTION_GROUP).length, 1);
    assert.deepEqual(group.inputs.emailReceivers, [
      { name: "alice@contoso.com", emailAddress: "alice@contoso.com", useCommonAlertSchema: true },
      { name: "ops@contoso.com", emailAddress: "ops@contoso.com", useCommonAlertSchema: true },
    ]);
    assert.equal(group.inputs.enabled, true);
    assert.equal(group.inputs.location, "Global");
    assert.ok(String(group.inputs.groupShortName).length <= 12);
    assert.equal(group.inputs.resourceGroupName, "rg-smartspace-dev");

    const topic = run.one(TOPIC, "alerts-topic");
    assert.equal(topic.inputs.source, run.outputs.keyVaultId);
    assert.equal(topic.inputs.topicType, "Microsoft.KeyVault.vaults");
    assert.equal(topic.inputs.location, RESOURCE_GROUP_LOCATION, "in the vault's region");
    assert.equal(topic.deleteBeforeReplace, true, "one system topic per source");

    const alerts = run.outputs.alerts as { actionGroupIds: string[]; systemTopicId: string };
    assert.equal(alerts.actionGroupIds.length, 2);
    assert.equal(alerts.actionGroupIds[1], ONCALL_GROUP);
    assert.match(alerts.systemTopicId, /\/providers\/Microsoft\.EventGrid\/systemTopics\//);

    assert.equal(run.byType(SUBSCRIPTION).length, 4);
    for (const integration of ["crm", "crm-sync"]) {
      const secrets = ["client-id", "tenant-id", "client-secret"].map(
        (kind) => `smartspace-${integration}-${kind}`,
      );
      for (const [kind, severity, events] of [
        ["near-expiry", "Sev2", ["SecretNearExpiry", "CertificateNearExpiry"]],
        ["expired", "Sev1", ["SecretExpired", "CertificateExpired"]],
      ] as const) {
        const subscription = run.one(SUBSCRIPTION, `alerts-${integration}-${kind}`);
        assert.equal(subscription.inputs.eventSubscriptionName, `smartspace-${integration}-${kind}`);
        assert.equal(subscription.inputs.systemTopicName, topic.inputs.systemTopicName);
        assert.equal(subscription.inputs.resourceGroupName, "rg-smartspace-dev");
        const destination = subscription.inputs.destination as Destination;
        assert.equal(destination.endpointType, "MonitorAlert");
        assert.deepEqual(destination.actionGroups, alerts.actionGroupIds);
        assert.equal(destination.severity, severity);
        assert.match(destination.description, new RegExp(`integration ${integration} `));
        const filter = subscription.inputs.filter as Filter;
        assert.deepEqual(
          filter.includedEventTypes,
          events.map((event) => `Microsoft.KeyVault.${event}`),
        );
        assert.deepEqual(filter.advancedFilters, [
          { operatorType: "StringIn", key: "subject", values: secrets },
        ]);
      }
    }
  });

  it("alerts only configured action groups when no address is given", async () => {
    const run = await runProgram(alertsConfig({ actionGroupIds: [ONCALL_GROUP] }));
    assert.equal(run.byType(ACTION_GROUP).length, 0);
    const destination = run.one(SUBSCRIPTION, "alerts-crm-expired").inputs.destination as Destination;
    assert.deepEqual(destination.actionGroups, [ONCALL_GROUP]);
  });

  it("skips near-expiry alerts where a working weekly rotation would trigger them every period", async () => {
    // Key Vault warns 30 days ahead; a healthy stack replaces the version with rotationDays + 1 days left, and
    // the weekly pipeline does so up to a week late.
    assert.equal(nearExpiryMeansTrouble(36), false);
    assert.equal(nearExpiryMeansTrouble(37), true);
    const run = await runProgram(
      baseConfig({
        integrations: [{ name: "crm" }, { name: "hourly-sync", rotationDays: 30 }],
        alerts: { actionGroupIds: [ONCALL_GROUP] },
      }),
    );
    assert.deepEqual(
      run
        .byType(SUBSCRIPTION)
        .map((s) => s.name)
        .sort(),
      ["alerts-crm-expired", "alerts-crm-near-expiry", "alerts-hourly-sync-expired"],
    );
  });

  it("declares nothing new for a stack without alerts", async () => {
    const run = await runProgram(baseConfig());
    assert.deepEqual(
      run.resources.filter((r) => /eventgrid|monitor|alerts/.test(r.type)),
      [],
    );
    assert.equal(run.outputs.alerts, undefined);
  });

  describe("on an existing vault that already has a system topic", () => {
    const existing = {
      existingVaults: { "kv-shared": { enableRbacAuthorization: true } },
      existingSystemTopics: {
        "kv-shared-topic": { source: SHARED_VAULT, topicType: "Microsoft.KeyVault.vaults" },
      },
    };
    const onSharedVault = (alerts: Record<string, unknown>) =>
      alertsConfig(alerts, { keyVault: { id: SHARED_VAULT } });

    it("says what Azure says when the topic is not named: one system topic per source", async () => {
      await assert.rejects(
        runProgram(onSharedVault({ emails: ["ops@contoso.com"] }), { ...existing, tenant: new MockTenant() }),
        /existing tracked system topic for the given source .*kv-shared\. Only one system topic is allowed per source/,
      );
    });

    it("subscribes on the named topic and creates none", async () => {
      const tenant = new MockTenant();
      const run = await runProgram(
        onSharedVault({ emails: ["ops@contoso.com"], systemTopicId: SHARED_TOPIC }),
        {
          ...existing,
          tenant,
        },
      );
      assert.equal(run.byType(TOPIC).length, 0);
      const subscription = run.one(SUBSCRIPTION, "alerts-crm-near-expiry");
      assert.equal(subscription.inputs.systemTopicName, "kv-shared-topic");
      assert.equal(subscription.inputs.resourceGroupName, "rg-shared");
      assert.equal((run.outputs.alerts as { systemTopicId: string }).systemTopicId, SHARED_TOPIC);
      assert.equal(tenant.systemTopics.size, 1);
    });

    it("refuses a named topic of another source before subscribing anything", async () => {
      await assert.rejects(
        runProgram(onSharedVault({ emails: ["ops@contoso.com"], systemTopicId: SHARED_TOPIC }), {
          ...existing,
          existingSystemTopics: {
            "kv-shared-topic": { source: `${SHARED_VAULT}-other`, topicType: "Microsoft.KeyVault.vaults" },
          },
        }),
        (error: Error) => {
          assert.match(error.message, /alerts\.systemTopicId names .*kv-shared-topic/);
          assert.match(error.message, /not the system topic of this stack's Key Vault .*kv-shared:/);
          return true;
        },
      );
    });
  });

  describe("configuration", () => {
    const problems = (alerts: unknown): string[] => {
      try {
        parseStackConfig(toRawConfig(baseConfig({ alerts })), "dev");
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return [...error.problems];
      }
      assert.fail("expected the configuration to be rejected");
    };

    it("needs at least one address or action group", () => {
      assert.deepEqual(problems({}), [
        "smartspace-integration:alerts.emails is required: list at least one address in emails or one action group in actionGroupIds, or remove alerts",
      ]);
      assert.equal(problems({ emails: [] }).length, 1);
    });

    it("names each bad address, action group or topic ID", () => {
      assert.deepEqual(
        problems({
          emails: ["ops@contoso.com", "ops.contoso.com", "OPS@contoso.com"],
          actionGroupIds: ["oncall"],
          systemTopicId: "kv-shared-topic",
        }),
        [
          'smartspace-integration:alerts.emails[1] "ops.contoso.com": use an email address such as platform-team@contoso.com (at most 128 characters)',
          'smartspace-integration:alerts.emails[2] "OPS@contoso.com": duplicate email addresses in the list',
          'smartspace-integration:alerts.actionGroupIds[0] "oncall": use an action group resource ID: /subscriptions/<subscription id>/resourceGroups/<group>/providers/microsoft.insights/actionGroups/<name>',
          'smartspace-integration:alerts.systemTopicId "kv-shared-topic": use an Event Grid system topic resource ID: /subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.EventGrid/systemTopics/<name>',
        ],
      );
    });
  });
});
