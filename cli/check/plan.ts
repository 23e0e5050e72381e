/**
 * Turns what the program declared under offline mocks (./evaluate.ts) into a plan a platform engineer can
 * read: per integration, what the stack creates and keeps in step, with names; what it looks up; and what
 * only the deployment will know. Every fact comes from a recorded resource's inputs, so the plan shows what
 * `pulumi up` would be asked to do, not what this file assumes.
 */
import { defaultVaultNamePrefix } from "../../components/credentialVault";
import { KEY_VAULT_SECRETS_USER_ROLE_ID } from "../../components/integrationCredentials";
import type { StackConfig } from "../../program/config";
import { type Evaluation, type LogEntry, type RecordedResource, isUnknown, UNKNOWN } from "./evaluate";
import { isDeployTimeSymbol } from "./offlineMocks";

const INTEGRATION = "smartspace:index:SmartspaceIntegration";
/** The order resources are listed in, by kind: the order in which a reader follows the chain. */
const KIND_ORDER = [
  "vault",
  "identity",
  "role",
  "credential",
  "secret",
  "reader",
  "workspace",
  "alert",
  "other",
];
const DEPLOY_TIME = "(deploy time)";

export interface PlanResource {
  /** What it is for, in a word: identity, role, credential, secret, reader, workspace, vault, alert, other. */
  readonly kind: string;
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly summary: string;
  /** Inputs as declared; values only known at deploy time are null, secret ones "[secret]". */
  readonly inputs: Record<string, unknown>;
  /** Dotted paths of the inputs only known at deploy time. */
  readonly deployTime: readonly string[];
}

export interface PlanGroup {
  /** An integration's name, or the name of another top-level component. */
  readonly name: string;
  readonly type: string;
  readonly resources: readonly PlanResource[];
}

export interface PlanLookup {
  readonly token: string;
  readonly summary: string;
  readonly inputs: Record<string, unknown>;
}

export interface Plan {
  readonly stack: string;
  readonly lookups: readonly PlanLookup[];
  readonly integrations: readonly PlanGroup[];
  /** Resources outside any integration (the vault), grouped by their top-level component. */
  readonly shared: readonly PlanGroup[];
  /** Stack outputs; values only known at deploy time are null. */
  readonly outputs: Record<string, unknown>;
  readonly deployTimeOutputs: readonly string[];
  /** What the program said while it ran (warnings, information). */
  readonly messages: readonly LogEntry[];
  readonly resourceCount: number;
}

interface Context {
  readonly config: StackConfig;
  readonly raw: Readonly<Record<string, string>>;
  readonly byUrn: ReadonlyMap<string, RecordedResource>;
  readonly resources: readonly RecordedResource[];
}

export function buildPlan(
  evaluation: Evaluation,
  config: StackConfig,
  raw: Readonly<Record<string, string>>,
): Plan {
  const byUrn = new Map(evaluation.resources.map((resource) => [resource.urn, resource]));
  const context: Context = { config, raw, byUrn, resources: evaluation.resources };
  const groups = new Map<string, { root: RecordedResource; resources: PlanResource[] }>();
  for (const resource of evaluation.resources) {
    if (!resource.custom) continue;
    const root = groupOf(resource, byUrn);
    const group = groups.get(root.urn) ?? { root, resources: [] };
    group.resources.push(describe(resource, context));
    groups.set(root.urn, group);
  }
  // Registration order depends on when each Output resolved; list by kind, then name, for a stable plan.
  const rank = (resource: PlanResource) => KIND_ORDER.indexOf(resource.kind);
  const toGroup = (group: { root: RecordedResource; resources: PlanResource[] }): PlanGroup => ({
    name: group.root.name,
    type: group.root.type,
    resources: group.resources.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name)),
  });
  const all = [...groups.values()];
  const deployTimeOutputs: string[] = [];
  return {
    stack: config.stack,
    lookups: lookups(evaluation, context),
    integrations: all.filter((group) => group.root.type === INTEGRATION).map(toGroup),
    shared: all.filter((group) => group.root.type !== INTEGRATION).map(toGroup),
    outputs: sanitize(evaluation.outputs, "", deployTimeOutputs, evaluation.secretOutputs) as Record<
      string,
      unknown
    >,
    deployTimeOutputs,
    messages: evaluation.logs,
    resourceCount: evaluation.resources.filter((resource) => resource.custom).length,
  };
}

/** The top-level component a resource belongs to (itself when it has no parent). */
function groupOf(resource: RecordedResource, byUrn: ReadonlyMap<string, RecordedResource>): RecordedResource {
  let current = resource;
  for (
    let parent = byUrn.get(current.parentUrn);
    parent !== undefined;
    parent = byUrn.get(current.parentUrn)
  ) {
    current = parent;
  }
  return current;
}

/**
 * Unknowns and the offline stand-ins for the login's identity become null (their paths recorded), secrets
 * "[secret]", serialized code is left out.
 */
function sanitize(
  value: unknown,
  at: string,
  unknownPaths: string[],
  secretPaths: readonly string[],
): unknown {
  if (secretPaths.includes(at)) return "[secret]";
  if (value === UNKNOWN || isDeployTimeSymbol(value)) {
    unknownPaths.push(at);
    return null;
  }
  if (Array.isArray(value)) {
    return value.map((item, index) => sanitize(item, `${at}[${index}]`, unknownPaths, secretPaths));
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => key !== "__provider")
        .map(([key, item]) => [key, sanitize(item, at ? `${at}.${key}` : key, unknownPaths, secretPaths)]),
    );
  }
  return value;
}

function text(value: unknown): string {
  if (isUnknown(value)) return DEPLOY_TIME;
  return typeof value === "string" ? value : JSON.stringify(value);
}

function day(value: unknown): string {
  return typeof value === "string" && /^\d{4}-\d{2}-\d{2}T/.test(value) ? value.slice(0, 10) : text(value);
}

function describe(resource: RecordedResource, context: Context): PlanResource {
  const deployTime: string[] = [];
  const inputs = sanitize(resource.inputs, "", deployTime, resource.secretInputs) as Record<string, unknown>;
  const [kind, summary] = summarize(resource, context);
  return { kind, type: resource.type, name: resource.name, urn: resource.urn, summary, inputs, deployTime };
}

function integrationOf(resource: RecordedResource, context: Context) {
  const root = groupOf(resource, context.byUrn);
  return root.type === INTEGRATION
    ? context.config.integrations.find((i) => i.name === root.name)
    : undefined;
}

function owners(resource: RecordedResource, context: Context): string {
  const value = resource.inputs.owners;
  if (!isUnknown(value)) return Array.isArray(value) ? value.join(", ") : text(value);
  // Unknown only when the deployer comes from the login (getClientConfig) rather than deployerObjectId.
  const extra = integrationOf(resource, context)?.owners ?? [];
  return ["the identity running Pulumi", ...extra].join(", ");
}

function summarize(resource: RecordedResource, context: Context): [string, string] {
  const inputs = resource.inputs as Record<string, unknown> & {
    properties?: Record<string, unknown>;
    tags?: Record<string, unknown>;
  };
  switch (resource.type) {
    case "azuread:index/application:Application": {
      const audience =
        inputs.signInAudience === "AzureADMyOrg"
          ? "single tenant"
          : `sign-in audience ${text(inputs.signInAudience)}`;
      return [
        "identity",
        `app registration "${text(inputs.displayName)}", ${audience}; owners: ${owners(resource, context)}`,
      ];
    }
    case "azuread:index/servicePrincipal:ServicePrincipal":
      return ["identity", `service principal of the app registration; owners: ${owners(resource, context)}`];
    case "azuread:index/appRoleAssignment:AppRoleAssignment":
      return [
        "role",
        `Smartspace app role "${context.config.smartspace.roleName}" assigned to the service principal`,
      ];
    case "azuread:index/applicationPassword:ApplicationPassword": {
      const slot = /-slot-([a-z0-9]+)$/.exec(resource.name)?.[1] ?? resource.name;
      const current = context.resources.some(
        (other) =>
          other.type === "azure-native:keyvault:Secret" &&
          other.parentUrn === resource.parentUrn &&
          (other.inputs.tags as Record<string, unknown> | undefined)?.slot === slot,
      );
      return [
        "credential",
        `client secret slot ${slot}, valid until ${day(inputs.endDate)}${current ? ", the current one (stored in Key Vault)" : ""}`,
      ];
    }
    case "azure-native:keyvault:Secret": {
      const tags = inputs.tags ?? {};
      const detail =
        tags.slot !== undefined
          ? `: client secret slot ${text(tags.slot)}, expires ${day(tags["expires-on"])}, next rotation ${day(tags["next-rotation-on"])}`
          : "";
      return ["secret", `Key Vault secret ${text(inputs.secretName)}${detail}`];
    }
    case "azure-native:authorization:RoleAssignment": {
      // The scope is the ID of a secret or certificate created in the same run: name it by what it depends on.
      const target = (resource.propertyDependencies.scope ?? [])
        .map((urn) => context.byUrn.get(urn)?.inputs)
        .find((scope) => scope?.secretName !== undefined || scope?.certificateName !== undefined);
      const on =
        target?.secretName !== undefined
          ? `secret ${text(target.secretName)}`
          : target?.certificateName !== undefined
            ? `certificate ${text(target.certificateName)}`
            : text(inputs.scope);
      const role = isUnknown(inputs.roleDefinitionId)
        ? ""
        : String(inputs.roleDefinitionId).endsWith(`/${KEY_VAULT_SECRETS_USER_ROLE_ID}`)
          ? ", role Key Vault Secrets User"
          : `, role ${text(inputs.roleDefinitionId)}`;
      if (target === undefined && isUnknown(inputs.scope)) {
        // A scope built from the vault's ID: its description says what it covers.
        return ["reader", `${text(inputs.principalId)}: ${text(inputs.description)}${role}`];
      }
      return ["reader", `${text(inputs.principalId)} may read ${on}${role}`];
    }
    case "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess":
      return [
        "workspace",
        `access to workspace ${text(inputs.workspaceId)} for the service principal, granted through ${text(inputs.adminApiUrl)}`,
      ];
    case "azure-native:keyvault:Vault":
      return ["vault", describeVault(resource, context)];
    case "azuread:index/applicationCertificate:ApplicationCertificate": {
      const slot = /-slot-([a-z0-9]+)$/.exec(resource.name)?.[1] ?? resource.name;
      return [
        "credential",
        `certificate slot ${slot} (${text(inputs.type)}), valid until ${day(inputs.endDate)}`,
      ];
    }
    case "pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate":
      return [
        "secret",
        `Key Vault certificate ${text(inputs.certificateName)}, the version for slot ${text(inputs.slot)}: ` +
          `${text(inputs.subject)}, ${text(inputs.keySize)}-bit key, valid ${text(inputs.validityInMonths)} months`,
      ];
    case "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential":
      return [
        "credential",
        `federated credential ${text(inputs.displayName)}: tokens from ${text(inputs.issuer)} with subject ` +
          `${text(inputs.subject)}`,
      ];
    case "azure-native:managedidentity:UserAssignedIdentity":
      return [
        "identity",
        `user-assigned managed identity ${text(inputs.resourceName)} in resource group ${text(inputs.resourceGroupName)}`,
      ];
    case "azure-native:monitor:ActionGroup": {
      const receivers = Array.isArray(inputs.emailReceivers)
        ? (inputs.emailReceivers as { emailAddress?: unknown }[]).map((receiver) =>
            text(receiver.emailAddress),
          )
        : [];
      return [
        "alert",
        `action group ${text(inputs.actionGroupName)}${receivers.length > 0 ? `, emailing ${receivers.join(", ")}` : ""}`,
      ];
    }
    case "azure-native:eventgrid:SystemTopic":
      return ["alert", `Event Grid system topic of the Key Vault, for its expiry events`];
    case "azure-native:eventgrid:SystemTopicEventSubscription": {
      const destination = (inputs.destination ?? {}) as Record<string, unknown>;
      return ["alert", `${text(destination.severity)} alert: ${text(destination.description)}`];
    }
    case "random:index/randomString:RandomString": {
      const names = context.resources.some((other) =>
        (other.propertyDependencies.vaultName ?? []).includes(resource.urn),
      );
      const what = names ? "random suffix of the vault's name" : "random string";
      return ["other", `${what}: ${text(inputs.length)} characters, chosen at the first deployment and kept`];
    }
    default:
      return ["other", `${resource.type} ${resource.name}`];
  }
}

function describeVault(resource: RecordedResource, context: Context): string {
  const inputs = resource.inputs;
  let name = text(inputs.vaultName);
  const suffix = (resource.propertyDependencies.vaultName ?? [])
    .map((urn) => context.byUrn.get(urn))
    .find((other) => other?.type === "random:index/randomString:RandomString");
  if (isUnknown(inputs.vaultName) && suffix !== undefined) {
    name = `${defaultVaultNamePrefix(context.config.stack)}-<${text(suffix.inputs.length)} random characters>`;
  }
  // The azure-native provider's default location: its own setting, else the resource group's
  // (pulumi-azure-native provider/pkg/provider/provider.go, getDefaultLocation).
  const configured = context.raw["azure-native:location"];
  const region =
    inputs.location !== undefined
      ? text(inputs.location)
      : configured !== undefined
        ? `${configured} (azure-native:location)`
        : "the resource group's";
  const properties = inputs.properties as Record<string, unknown> | undefined;
  const settings =
    properties === undefined || isUnknown(properties)
      ? "settings at deploy time (they include your login's tenant)"
      : `RBAC authorization ${properties.enableRbacAuthorization === true ? "on" : "off"}, soft delete ` +
        `${properties.enableSoftDelete === false ? "off" : `${text(properties.softDeleteRetentionInDays ?? 90)} days`}, ` +
        `purge protection ${properties.enablePurgeProtection === true ? "on" : "off"}`;
  return `Key Vault ${name} in resource group ${text(inputs.resourceGroupName)}, region ${region};\n${settings}`;
}

function lookups(evaluation: Evaluation, context: Context): PlanLookup[] {
  const found = evaluation.invokes.map((invoke): PlanLookup => {
    const inputs = invoke.inputs;
    let summary: string;
    switch (invoke.token) {
      case "azuread:index/getClientConfig:getClientConfig":
        summary = "the identity running Pulumi, for Entra ID (azuread): its tenant and object ID";
        break;
      case "azure-native:authorization:getClientConfig":
        summary =
          "the identity running Pulumi, for Azure (azure-native): its subscription" +
          (context.raw["azure-native:subscriptionId"]
            ? ` (${context.raw["azure-native:subscriptionId"]})`
            : "");
        break;
      case "azuread:index/getServicePrincipal:getServicePrincipal":
        if (inputs.objectId !== undefined) {
          summary = `the existing service principal ${text(inputs.objectId)}, a managed identity the configuration names`;
          break;
        }
        summary =
          `the Smartspace service principal (${inputs.clientId !== undefined ? `client ID ${text(inputs.clientId)}` : `display name "${text(inputs.displayName)}"`})` +
          ` and its app role "${context.config.smartspace.roleName}", which must be enabled and assignable to applications`;
        break;
      case "azure-native:keyvault:getVault":
        summary = `the existing Key Vault ${text(inputs.vaultName)} in resource group ${text(inputs.resourceGroupName)}, which must use RBAC authorization (read, never changed)`;
        break;
      default:
        summary = `${invoke.token} ${JSON.stringify(inputs)}`;
    }
    return { token: invoke.token, summary, inputs };
  });
  // The existing vault is looked up only once its subscription is known to match the provider's, which
  // offline it is only when azure-native:subscriptionId is set.
  const vaultId = context.config.keyVault.id;
  if (vaultId !== undefined && !found.some((lookup) => lookup.token === "azure-native:keyvault:getVault")) {
    found.push({
      token: "azure-native:keyvault:getVault",
      summary: `the existing Key Vault ${vaultId} (read, never changed), after checking that it is in the provider's subscription`,
      inputs: { id: vaultId },
    });
  }
  return found;
}

/** The plan as text, for a terminal. */
export function renderPlan(plan: Plan, file: string): string {
  const lines: string[] = [`${file} is valid for stack ${plan.stack}.`, ""];
  if (plan.lookups.length > 0) {
    lines.push("Looks up at deploy time (read only):");
    lines.push(...plan.lookups.map((lookup) => `  - ${lookup.summary}`), "");
  }
  lines.push("Creates, and keeps as declared on every deployment:");
  const group = (title: string, resources: readonly PlanResource[]) => {
    lines.push(`  ${title}`);
    for (const resource of resources) {
      const [first, ...rest] = resource.summary.split("\n");
      lines.push(
        `    ${resource.kind.padEnd(11)} ${first}`,
        ...rest.map((line) => `${" ".repeat(16)}${line}`),
      );
    }
  };
  const titles: Record<string, string> = {
    "smartspace:keyvault:CredentialVault": "credential vault",
    "smartspace:alerts:ExpiryAlerts": "expiry alerts",
  };
  for (const shared of plan.shared) {
    group(titles[shared.type] ?? `${shared.type} ${shared.name}`, shared.resources);
  }
  for (const integration of plan.integrations) {
    group(`integration ${integration.name}`, integration.resources);
  }
  lines.push("", "Stack outputs:");
  const leaves: [string, unknown][] = [];
  const walk = (value: unknown, at: string) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [key, item] of Object.entries(value)) walk(item, at ? `${at}.${key}` : key);
    } else {
      leaves.push([at, value]);
    }
  };
  walk(plan.outputs, "");
  const width = Math.max(...leaves.map(([at]) => at.length));
  for (const [at, value] of leaves) {
    const shown = plan.deployTimeOutputs.includes(at) ? DEPLOY_TIME : text(value);
    lines.push(`  ${at.padEnd(width)}  ${shown}`);
  }
  for (const message of plan.messages) {
    lines.push("", `${message.severity}: ${message.message}`);
  }
  lines.push(
    "",
    `${plan.resourceCount} resources. Not checked offline: that the Smartspace app, the resource group or vault and`,
    "the workspaces exist, that you may create all this, and that the tenant's app management policy allows these",
    "credentials' lifetimes; npm run preview checks those against Azure.",
  );
  return lines.join("\n");
}
