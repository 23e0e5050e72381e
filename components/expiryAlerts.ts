/**
 * Expiry alerts as code: Key Vault raises Event Grid events when a secret or certificate version is 30 days
 * from its expiry and when it has expired; an event subscription per integration turns them into Azure
 * Monitor alerts on action groups, so an expiring credential reaches a person even when the rotation
 * pipeline itself has stopped. docs/alerts.md says who receives what and how to test it.
 */
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import * as monitor from "@pulumi/azure-native/monitor";
import * as pulumi from "@pulumi/pulumi";

export const KEY_VAULT_TOPIC_TYPE = "Microsoft.KeyVault.vaults";
/** Key Vault raises NearExpiry events this long before the current version expires (not configurable). */
export const NEAR_EXPIRY_LEAD_DAYS = 30;
/** Longest gap between two runs of the rotation pipeline (.github/workflows/rotate.yml runs weekly). */
export const ROTATION_RUN_INTERVAL_DAYS = 7;

/**
 * Whether a NearExpiry event means something went wrong for this rotation period. A healthy stack writes a new
 * version when the current one still has rotationDays + 1 days left (rules/rotation.ts), and the weekly pipeline
 * does so up to a week later. With rotationDays of 36 or less every version comes within 30 days of its expiry
 * before it is replaced, so near-expiry alerts would fire each period for a stack that works.
 */
export function nearExpiryMeansTrouble(rotationDays: number): boolean {
  return rotationDays + 1 - ROTATION_RUN_INTERVAL_DAYS > NEAR_EXPIRY_LEAD_DAYS;
}

/** What each event subscription forwards, and how loudly. */
export const EXPIRY_ALERTS = {
  "near-expiry": {
    eventTypes: ["Microsoft.KeyVault.SecretNearExpiry", "Microsoft.KeyVault.CertificateNearExpiry"],
    severity: eventgrid.MonitorAlertSeverity.Sev2,
    description: "expires within 30 days and has not been rotated: check the rotation pipeline",
  },
  expired: {
    eventTypes: ["Microsoft.KeyVault.SecretExpired", "Microsoft.KeyVault.CertificateExpired"],
    severity: eventgrid.MonitorAlertSeverity.Sev1,
    description: "has expired: the integration can no longer authenticate until the stack is deployed",
  },
} as const;

export interface ExpiryAlertsArgs {
  /** The vault whose secrets and certificates are watched. */
  readonly vault: {
    readonly id: pulumi.Input<string>;
    readonly name: pulumi.Input<string>;
    readonly resourceGroupName: pulumi.Input<string>;
    readonly location: pulumi.Input<string>;
  };
  /** Addresses that receive the alerts, through an action group this component creates. */
  readonly emails: readonly string[];
  /** Existing action groups that receive the alerts as well (resource IDs). */
  readonly actionGroupIds: readonly string[];
  /**
   * Resource ID of the vault's existing Event Grid system topic. Azure allows one system topic per source, so
   * a vault that already has one (an existing vault used by other tools) must reuse it. Default: create one.
   */
  readonly existingSystemTopicId?: string;
  /** Per integration name: the Key Vault object names (secrets, certificates) watched, and its rotation period. */
  readonly integrations: Readonly<
    Record<string, { readonly keyVaultObjectNames: readonly string[]; readonly rotationDays: number }>
  >;
}

const SYSTEM_TOPIC_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.EventGrid\/systemTopics\/([^/]+)$/i;
const VAULT_SUBSCRIPTION = /^\/subscriptions\/([^/]+)\//i;

export class ExpiryAlerts extends pulumi.ComponentResource {
  /** The action group for `emails`, when any. */
  readonly actionGroup?: monitor.ActionGroup;
  /** The system topic this component created; undefined when it reuses an existing one. */
  readonly systemTopic?: eventgrid.SystemTopic;
  /** Per integration, its expired subscription and, when meaningful (nearExpiryMeansTrouble), near-expiry one. */
  readonly subscriptions: Readonly<
    Record<string, Partial<Record<keyof typeof EXPIRY_ALERTS, eventgrid.SystemTopicEventSubscription>>>
  >;
  /** Every action group alerted: the created one first, then the configured ones. */
  readonly actionGroupIds: pulumi.Output<string[]>;
  readonly systemTopicId: pulumi.Output<string>;

  constructor(name: string, args: ExpiryAlertsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:alerts:ExpiryAlerts", name, {}, opts);

    if (args.emails.length === 0 && args.actionGroupIds.length === 0) {
      throw new pulumi.ResourceError("ExpiryAlerts: give at least one email address or action group", this);
    }
    const stack = pulumi.getStack();
    const tags = { "managed-by": "pulumi", "pulumi-stack": stack };

    if (args.emails.length > 0) {
      this.actionGroup = new monitor.ActionGroup(
        `${name}-action-group`,
        {
          resourceGroupName: args.vault.resourceGroupName,
          actionGroupName: `smartspace-credential-expiry-${stack}`,
          // At most 12 characters; shown as the sender of e-mails and SMS.
          groupShortName: "smartspace",
          enabled: true,
          // Action groups are global resources.
          location: "Global",
          // Sorted and named by address, so reordering the list changes nothing.
          emailReceivers: [...args.emails]
            .map((email) => email.toLowerCase())
            .sort()
            .map((email) => ({ name: email, emailAddress: email, useCommonAlertSchema: true })),
          tags,
        },
        { parent: this },
      );
    }
    this.actionGroupIds = pulumi
      .all([this.actionGroup?.id, ...args.actionGroupIds])
      .apply((ids) => ids.filter((id): id is string => id !== undefined));

    let topic: { name: pulumi.Output<string>; resourceGroupName: pulumi.Output<string> };
    if (args.existingSystemTopicId === undefined) {
      this.systemTopic = new eventgrid.SystemTopic(
        `${name}-topic`,
        {
          resourceGroupName: args.vault.resourceGroupName,
          systemTopicName: pulumi.interpolate`${args.vault.name}-events`,
          // A system topic lives in its source's region.
          location: args.vault.location,
          source: args.vault.id,
          topicType: KEY_VAULT_TOPIC_TYPE,
          tags,
        },
        // Azure allows one system topic per source: a replacement must remove the old one first.
        { parent: this, deleteBeforeReplace: true },
      );
      this.systemTopicId = this.systemTopic.id;
      topic = { name: this.systemTopic.name, resourceGroupName: pulumi.output(args.vault.resourceGroupName) };
    } else {
      const existingId = args.existingSystemTopicId;
      const match = SYSTEM_TOPIC_ID.exec(existingId);
      if (!match) {
        throw new pulumi.ResourceError(`"${existingId}" is not an Event Grid system topic resource ID`, this);
      }
      const [, , resourceGroupName, systemTopicName] = match;
      // Read, never adopted: the topic may serve other tools. Everything below depends on the checked name, so
      // no subscription is added to a topic of another source.
      const existing = eventgrid.getSystemTopicOutput(
        { resourceGroupName, systemTopicName },
        { parent: this },
      );
      const checked = pulumi
        .all([existing.name, existing.source, existing.topicType, args.vault.id])
        .apply(([topicName, source, topicType, vaultId]) => {
          const vaultSubscription = VAULT_SUBSCRIPTION.exec(vaultId)?.[1];
          if (
            source?.toLowerCase() !== vaultId.toLowerCase() ||
            topicType?.toLowerCase() !== KEY_VAULT_TOPIC_TYPE.toLowerCase()
          ) {
            throw new pulumi.RunError(
              `smartspace-integration:alerts.systemTopicId names ${existingId}, a ${topicType ?? "system"} topic of ` +
                `${source ?? "an unknown source"}, not the system topic of this stack's Key Vault ${vaultId}: name the ` +
                `vault's own topic (az eventgrid system-topic list --query "[?source=='${vaultId}'].id"), or remove systemTopicId to create one`,
            );
          }
          if (vaultSubscription?.toLowerCase() !== match[1].toLowerCase()) {
            throw new pulumi.RunError(
              `smartspace-integration:alerts.systemTopicId ${existingId} is in another subscription than the Key Vault ${vaultId}`,
            );
          }
          return topicName;
        });
      this.systemTopicId = checked.apply(() => existingId);
      topic = { name: checked, resourceGroupName: pulumi.output(resourceGroupName) };
    }

    const subscriptions: Record<
      string,
      Partial<Record<keyof typeof EXPIRY_ALERTS, eventgrid.SystemTopicEventSubscription>>
    > = {};
    for (const [integration, { keyVaultObjectNames, rotationDays }] of Object.entries(args.integrations)) {
      const alert = (kind: keyof typeof EXPIRY_ALERTS) =>
        new eventgrid.SystemTopicEventSubscription(
          // Keyed by integration and kind, so adding or removing an integration touches only its own.
          `${name}-${integration}-${kind}`,
          {
            resourceGroupName: topic.resourceGroupName,
            systemTopicName: topic.name,
            eventSubscriptionName: `smartspace-${integration}-${kind}`,
            destination: {
              endpointType: "MonitorAlert",
              actionGroups: this.actionGroupIds,
              severity: EXPIRY_ALERTS[kind].severity,
              description: `Smartspace integration ${integration} (${pulumi.getProject()}/${stack}): a credential in Key Vault ${EXPIRY_ALERTS[kind].description}`,
            },
            filter: {
              includedEventTypes: [...EXPIRY_ALERTS[kind].eventTypes],
              // A Key Vault event's subject is the object's name. Exact names, not a prefix: integration names can
              // be prefixes of one another, and the vault may hold other stacks' objects.
              advancedFilters: [
                { operatorType: "StringIn", key: "subject", values: [...keyVaultObjectNames] },
              ],
            },
          },
          { parent: this },
        );
      subscriptions[integration] = nearExpiryMeansTrouble(rotationDays)
        ? { "near-expiry": alert("near-expiry"), expired: alert("expired") }
        : { expired: alert("expired") };
    }
    this.subscriptions = subscriptions;

    this.registerOutputs({ actionGroupIds: this.actionGroupIds, systemTopicId: this.systemTopicId });
  }
}
