/**
 * The stack's configuration: the only module that reads Pulumi config.
 *
 * Every key lives in the project namespace (`smartspace-integration:`). All of it is validated against one
 * schema before any resource is declared, so a typo or a malformed ID fails `pulumi preview` with a message
 * naming the key, the bad value and the expected form, instead of half-creating an environment.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { DEFAULT_ROTATION_DAYS, MAX_ROTATION_DAYS, MIN_ROTATION_DAYS } from "../rules/rotation";
import { GUID } from "../rules/ids";
import { API_SCOPE, API_SCOPE_EXPECTED } from "../rules/scopes";
import { ENDPOINT_EXPECTED, isEndpoint } from "../rules/urls";

export const PROJECT = "smartspace-integration";

export const DEFAULT_ROLE_NAME = "Integrations";

const INTEGRATION_NAME = /^[a-z0-9-]{3,40}$/;
// Azure: 3-24 characters, alphanumerics and hyphens, starting with a letter, ending with a letter or
// digit, no consecutive hyphens.
const KEY_VAULT_NAME = /^(?!.*--)[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const KEY_VAULT_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/Microsoft\.KeyVault\/vaults\/[a-zA-Z0-9-]{3,24}$/i;
const RESOURCE_GROUP_NAME = /^[-\w.()]{0,89}[-\w()]$/;
// An IPv4 address, or a CIDR range of one (Key Vault firewall rules take no IPv6).
const IPV4_RANGE = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/([89]|[12]\d|3[0-2]))?$/;
const SUBNET_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/Microsoft\.Network\/virtualNetworks\/[-\w.]{2,64}\/subnets\/[-\w.]{1,80}$/i;
const PRIVATE_DNS_ZONE_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/Microsoft\.Network\/privateDnsZones\/privatelink\.vaultcore\.(azure\.net|azure\.cn|usgovcloudapi\.net)$/i;
const LOG_ANALYTICS_WORKSPACE_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/Microsoft\.OperationalInsights\/workspaces\/[-\w]{4,63}$/i;
const AZURE_LOCATION = /^[a-z][a-z0-9]{2,40}$/;
// Deliberately plain: Azure Monitor validates the address itself; this catches typos such as a missing "@".
const EMAIL = /^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$/;
const ACTION_GROUP_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/microsoft\.insights\/actionGroups\/[^/]{1,260}$/i;
const SYSTEM_TOPIC_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/Microsoft\.EventGrid\/systemTopics\/[a-zA-Z0-9-]{3,128}$/i;

/** Human-readable expectations, reused as the schema's messages so each problem says what would be valid. */
const EXPECTED = {
  guid: "use a GUID such as 00000000-0000-0000-0000-000000000000",
  integrationName: "use 3-40 lowercase letters, digits or hyphens",
  displayName: "use 1-120 characters",
  httpsUrl: ENDPOINT_EXPECTED,
  rotationDays: `use a whole number of days from ${MIN_ROTATION_DAYS} to ${MAX_ROTATION_DAYS}`,
  keyVaultName:
    "use 3-24 letters, digits or hyphens, starting with a letter, ending with a letter or digit, no '--'",
  keyVaultId:
    "use a Key Vault resource ID: /subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<name>",
  resourceGroupName: "use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.'",
  location: "use an Azure region name such as australiaeast",
  scope: API_SCOPE_EXPECTED,
  nonEmptyString: "use a non-empty string",
  ipRange: "use an IPv4 address or CIDR range such as 203.0.113.0/24 (/8 to /32)",
  subnetId:
    "use a subnet resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
  privateDnsZoneId:
    "use the resource ID of a privatelink.vaultcore.azure.net private DNS zone: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net",
  workspaceId:
    "use a Log Analytics workspace resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.OperationalInsights/workspaces/<name>",
  boolean: "use true or false",
  email: "use an email address such as platform-team@contoso.com (at most 128 characters)",
  actionGroupId:
    "use an action group resource ID: /subscriptions/<subscription id>/resourceGroups/<group>/providers/microsoft.insights/actionGroups/<name>",
  systemTopicId:
    "use an Event Grid system topic resource ID: /subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.EventGrid/systemTopics/<name>",
} as const;

const guid = z.string({ error: EXPECTED.guid }).regex(GUID, { error: EXPECTED.guid });
const httpsUrl = z.string({ error: EXPECTED.httpsUrl }).refine(isEndpoint, { error: EXPECTED.httpsUrl });
const displayName = z
  .string({ error: EXPECTED.displayName })
  .trim()
  .min(1, { error: EXPECTED.displayName })
  .max(120, { error: EXPECTED.displayName });

function uniqueList<T extends z.ZodType<string>>(item: T, what: string) {
  return z.array(item, { error: `use a list of ${what}` }).superRefine((values, ctx) => {
    const seen = new Set<string>();
    values.forEach((value, index) => {
      const key = value.toLowerCase();
      if (seen.has(key)) {
        ctx.addIssue({
          code: "custom",
          path: [index],
          input: value,
          message: `duplicate ${what} in the list`,
        });
      }
      seen.add(key);
    });
  });
}

const smartspaceSchema = z
  .strictObject(
    {
      appClientId: guid.optional(),
      appDisplayName: displayName.optional(),
      roleName: displayName.default(DEFAULT_ROLE_NAME),
      adminApiUrl: httpsUrl.optional(),
      chatApiUrl: httpsUrl.optional(),
      adminApiScope: z
        .string({ error: EXPECTED.scope })
        .regex(API_SCOPE, { error: EXPECTED.scope })
        .optional(),
    },
    { error: "use an object with appClientId (or appDisplayName), roleName, adminApiUrl and chatApiUrl" },
  )
  .superRefine((value, ctx) => {
    if (value.appClientId !== undefined && value.appDisplayName !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["appDisplayName"],
        input: value.appDisplayName,
        message:
          "set either appClientId or appDisplayName, not both (prefer appClientId: display names are not unique)",
      });
    }
    if (value.appClientId === undefined && value.appDisplayName === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["appClientId"],
        input: undefined,
        message:
          "is required: set appClientId to the Smartspace app's client ID (admin portal > Admin API documentation > CLI Setup), or appDisplayName to its display name",
      });
    }
  });

/**
 * Network rules of a created vault: public access denied except from these IPv4 ranges, and/or a private
 * endpoint in a subnet. Whatever runs `pulumi up` (the pipeline's runner) and every secret reader must still
 * reach the vault; see docs/operations.md, "Key Vault network rules and audit logs".
 */
const vaultNetworkSchema = z
  .strictObject(
    {
      allowedIpRanges: uniqueList(
        z.string({ error: EXPECTED.ipRange }).regex(IPV4_RANGE, { error: EXPECTED.ipRange }),
        "IP ranges",
      ).default([]),
      privateEndpoint: z
        .strictObject(
          {
            subnetId: z.string({ error: EXPECTED.subnetId }).regex(SUBNET_ID, { error: EXPECTED.subnetId }),
            privateDnsZoneId: z
              .string({ error: EXPECTED.privateDnsZoneId })
              .regex(PRIVATE_DNS_ZONE_ID, { error: EXPECTED.privateDnsZoneId })
              .optional(),
          },
          { error: "use an object with subnetId and optionally privateDnsZoneId" },
        )
        .optional(),
    },
    { error: "use an object with allowedIpRanges and/or privateEndpoint" },
  )
  .superRefine((value, ctx) => {
    if (value.allowedIpRanges.length === 0 && value.privateEndpoint === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["allowedIpRanges"],
        input: value.allowedIpRanges,
        message:
          "list at least one IP range or set privateEndpoint: with neither, nothing (not even the deployment) could reach the vault",
      });
    }
  });

const keyVaultSchema = z
  .strictObject(
    {
      id: z
        .string({ error: EXPECTED.keyVaultId })
        .regex(KEY_VAULT_ID, { error: EXPECTED.keyVaultId })
        .optional(),
      resourceGroupName: z
        .string({ error: EXPECTED.resourceGroupName })
        .regex(RESOURCE_GROUP_NAME, { error: EXPECTED.resourceGroupName })
        .optional(),
      name: z
        .string({ error: EXPECTED.keyVaultName })
        .regex(KEY_VAULT_NAME, { error: EXPECTED.keyVaultName })
        .optional(),
      location: z
        .string({ error: EXPECTED.location })
        .regex(AZURE_LOCATION, { error: EXPECTED.location })
        .optional(),
      network: vaultNetworkSchema.optional(),
      auditLogWorkspaceId: z
        .string({ error: EXPECTED.workspaceId })
        .regex(LOG_ANALYTICS_WORKSPACE_ID, { error: EXPECTED.workspaceId })
        .optional(),
    },
    { error: "use an object with either id (an existing vault) or resourceGroupName (create a vault)" },
  )
  .superRefine((value, ctx) => {
    if (value.id !== undefined) {
      // The stack never reconfigures a vault it does not own: network rules and logging belong to its owner.
      for (const key of [
        "resourceGroupName",
        "name",
        "location",
        "network",
        "auditLogWorkspaceId",
      ] as const) {
        if (value[key] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            input: value[key],
            message: "only applies when creating a vault; remove it, or remove id to create a vault instead",
          });
        }
      }
    } else if (value.resourceGroupName === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["resourceGroupName"],
        input: undefined,
        message:
          "is required: set resourceGroupName (an existing resource group to create the vault in), or id (an existing vault)",
      });
    }
  });

const integrationSchema = z.strictObject(
  {
    name: z
      .string({ error: EXPECTED.integrationName })
      .regex(INTEGRATION_NAME, { error: EXPECTED.integrationName }),
    displayName: displayName.optional(),
    owners: uniqueList(guid, "owner object IDs").default([]),
    workspaces: uniqueList(guid, "workspace IDs").default([]),
    rotationDays: z
      .number({ error: EXPECTED.rotationDays })
      .int({ error: EXPECTED.rotationDays })
      .min(MIN_ROTATION_DAYS, { error: EXPECTED.rotationDays })
      .max(MAX_ROTATION_DAYS, { error: EXPECTED.rotationDays })
      .default(DEFAULT_ROTATION_DAYS),
    secretReaders: uniqueList(guid, "secret reader object IDs").default([]),
  },
  { error: "use an object with at least a name" },
);

const integrationsSchema = z
  .array(integrationSchema, { error: "use a list of integrations, each with at least a name" })
  .min(1, { error: "declare at least one integration, such as [{ name: crm-sync }]" })
  .superRefine((integrations, ctx) => {
    const seen = new Set<string>();
    integrations.forEach((integration, index) => {
      if (seen.has(integration.name)) {
        ctx.addIssue({
          code: "custom",
          path: [index, "name"],
          input: integration.name,
          message: "duplicate integration name; each name must be unique in the list",
        });
      }
      seen.add(integration.name);
    });
  });

const alertsSchema = z
  .strictObject(
    {
      emails: uniqueList(
        z
          .string({ error: EXPECTED.email })
          .max(128, { error: EXPECTED.email })
          .regex(EMAIL, { error: EXPECTED.email }),
        "email addresses",
      ).default([]),
      actionGroupIds: uniqueList(
        z.string({ error: EXPECTED.actionGroupId }).regex(ACTION_GROUP_ID, { error: EXPECTED.actionGroupId }),
        "action group IDs",
      ).default([]),
      systemTopicId: z
        .string({ error: EXPECTED.systemTopicId })
        .regex(SYSTEM_TOPIC_ID, { error: EXPECTED.systemTopicId })
        .optional(),
    },
    { error: "use an object with emails and/or actionGroupIds (lists), and optionally systemTopicId" },
  )
  .superRefine((value, ctx) => {
    if (value.emails.length === 0 && value.actionGroupIds.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["emails"],
        input: undefined,
        message:
          "is required: list at least one address in emails or one action group in actionGroupIds, or remove alerts",
      });
    }
  });

const stackConfigSchema = z
  .strictObject({
    smartspace: smartspaceSchema,
    integrations: integrationsSchema,
    keyVault: keyVaultSchema,
    deployerObjectId: guid.optional(),
    allowOtherDeployers: z.boolean({ error: EXPECTED.boolean }).default(false),
    alerts: alertsSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.smartspace.adminApiUrl === undefined) {
      const index = value.integrations.findIndex((integration) => integration.workspaces.length > 0);
      if (index >= 0) {
        ctx.addIssue({
          code: "custom",
          path: ["smartspace", "adminApiUrl"],
          input: undefined,
          message: `is required because integrations[${index}] (${value.integrations[index].name}) lists workspaces: set it to the Smartspace admin API base URL`,
        });
      }
    }
  });

export type SmartspaceConfig = z.output<typeof smartspaceSchema>;
export type KeyVaultConfig = z.output<typeof keyVaultSchema>;
export type IntegrationConfig = z.output<typeof integrationSchema>;
export type AlertsConfig = z.output<typeof alertsSchema>;

export interface StackConfig {
  readonly project: string;
  readonly stack: string;
  readonly smartspace: SmartspaceConfig;
  readonly keyVault: KeyVaultConfig;
  /** In the order declared; names are unique. */
  readonly integrations: readonly (IntegrationConfig & { readonly displayName: string })[];
  /**
   * Object ID of the identity that owns what the stack creates (the pipeline's deploy identity). Unset: the
   * identity running Pulumi.
   */
  readonly deployerObjectId?: string;
  /**
   * Whether `pulumi up` may run as another identity than `deployerObjectId`. Only for identities with tenant-wide
   * application rights: see program/deployer.ts.
   */
  readonly allowOtherDeployers: boolean;
  /** Who hears about expiring credentials (docs/alerts.md). Unset: no alerts. */
  readonly alerts?: AlertsConfig;
}

const KNOWN_KEYS = Object.keys(stackConfigSchema.shape) as (keyof typeof stackConfigSchema.shape)[];

/** Raised for invalid configuration; Pulumi prints the message without a stack trace. */
export class ConfigError extends pulumi.RunError {
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((problem) => `  - ${problem}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/**
 * Validates raw stack configuration: a map from fully qualified key (`smartspace-integration:smartspace`) to
 * its value as Pulumi stores it (a JSON string for structured values). Keys of other namespaces (providers)
 * are ignored. Throws a {@link ConfigError} listing every problem.
 */
export function parseStackConfig(raw: Readonly<Record<string, string>>, stack: string): StackConfig {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [fullKey, text] of Object.entries(raw)) {
    const separator = fullKey.indexOf(":");
    if (fullKey.slice(0, separator) !== PROJECT) {
      continue;
    }
    const key = fullKey.slice(separator + 1);
    if (!(KNOWN_KEYS as string[]).includes(key)) {
      problems.push(
        `${fullKey} ${formatValue(parseValue(text))}: unknown key; expected one of ${KNOWN_KEYS.map((k) => `${PROJECT}:${k}`).join(", ")}`,
      );
      continue;
    }
    values[key] = parseValue(text);
  }

  const result = stackConfigSchema.safeParse(values);
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(describeIssue(issue, values));
    }
  }
  if (problems.length > 0 || !result.success) {
    throw new ConfigError(problems);
  }

  const config = result.data;
  return {
    project: PROJECT,
    stack,
    smartspace: config.smartspace,
    keyVault: config.keyVault,
    deployerObjectId: config.deployerObjectId?.toLowerCase(),
    allowOtherDeployers: config.allowOtherDeployers,
    alerts: config.alerts,
    integrations: config.integrations.map((integration) => ({
      ...integration,
      displayName: integration.displayName ?? `smartspace-${integration.name}-${stack}`,
    })),
  };
}

/** Reads and validates this stack's configuration. Call before declaring any resource. */
export function loadStackConfig(): StackConfig {
  return parseStackConfig(pulumi.runtime.allConfig(), pulumi.getStack());
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Plain string values are stored unquoted.
    return text;
  }
}

function describeIssue(issue: z.core.$ZodIssue, values: Record<string, unknown>): string {
  const [top, ...rest] = issue.path;
  if (issue.code === "unrecognized_keys") {
    const parentPath = formatPath(issue.path);
    const allowed = allowedKeysAt(issue.path);
    return issue.keys
      .map(
        (key) =>
          `${parentPath}.${key} ${formatValue(valueAt(values, [...issue.path, key]))}: unknown key; expected one of ${allowed.join(", ")}`,
      )
      .join("\n  - ");
  }
  if (top === undefined) {
    return `${PROJECT}: ${issue.message}`;
  }
  const key = formatPath([top, ...rest]);
  const value = valueAt(values, issue.path);
  if (value === undefined) {
    return issue.message.startsWith("is required")
      ? `${key} ${issue.message}`
      : `${key} is required: ${issue.message}`;
  }
  return `${key} ${formatValue(value)}: ${issue.message}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let text = PROJECT;
  path.forEach((segment, index) => {
    if (typeof segment === "number") {
      text += `[${segment}]`;
    } else {
      text += index === 0 ? `:${String(segment)}` : `.${String(segment)}`;
    }
  });
  return text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const segment of path) {
    if (current === null || typeof current !== "object") {
      return undefined;
    }
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function allowedKeysAt(path: readonly PropertyKey[]): string[] {
  const top = path[0];
  if (top === "smartspace") return Object.keys(smartspaceSchema.shape);
  if (top === "keyVault") return Object.keys(keyVaultSchema.shape);
  if (top === "integrations") return Object.keys(integrationSchema.shape);
  if (top === "alerts") return Object.keys(alertsSchema.shape);
  return KNOWN_KEYS;
}

function formatValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
