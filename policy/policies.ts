/**
 * The guardrails of the smartspace-integration stack, as CrossGuard policies: an allowlist of the resource
 * types this stack declares, each allowed only in the shape the stack declares it.
 *
 * Each rule is a pure check over a resource's inputs (or, for cross-resource rules, over the stack's
 * resources and their dependencies) that returns one message per problem; the policy objects below only
 * route resources to those checks. Tests call both, and run the pack over every resource the real program
 * declares.
 *
 * The pack deliberately imports nothing from the stack program: a change to the program (or to its
 * constants) must never silently relax the rules that guard it. Pipelines load it from the base branch for
 * pull requests, so a pull request cannot weaken the rules that judge it.
 *
 * Resource-level policies run on every resource's inputs before Pulumi creates or updates it, so a violation
 * stops `pulumi up` before anything reaches Azure. During `pulumi preview`, an input that depends on a
 * resource not yet created is unknown; the policy SDK then reports "can't run policy during preview" as
 * advisory, and the rule is enforced when `pulumi up` knows the value. Cross-resource rules run once over the
 * whole stack and work from dependencies, which are known in previews too.
 *
 * Per stack, each policy's enforcement level and limits come from the pack config that policy/write-config.ts
 * writes from policy/stacks.yaml, which refuses to weaken a production stack below the minimums.
 */
import type {
  PolicyResource,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { GUID } from "../rules/ids";

export const PACK_NAME = "smartspace-guardrails";

/** Built-in Azure role "Key Vault Secrets User" (read secret contents): the only role the stack may grant. */
export const KEY_VAULT_SECRETS_USER_ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6";
/** Entra ID's own ceiling for the stack's longest rotation (2 x 180 days) plus slack. */
export const MAX_PASSWORD_LIFETIME_DAYS = 365;
export const MAX_PASSWORDS_PER_APPLICATION = 2;
export const SINGLE_TENANT_AUDIENCE = "AzureADMyOrg";
/** Key Vault's longest soft-delete retention, which the stack uses. */
export const MAX_SOFT_DELETE_RETENTION_DAYS = 90;

/** Names of the policies, as `--policy-pack-config` and violation messages refer to them. */
export const POLICY = {
  declaredTypes: "resource-types-declared-by-this-stack",
  passwordLifetime: "password-lifetime-at-most-365-days",
  passwordsPerApplication: "at-most-two-passwords-per-application",
  credentialsOnStackApplications: "credentials-only-on-stack-applications",
  integrationApplication: "integration-application-minimal",
  owners: "owners-only-from-configuration",
  keyVault: "key-vault-rbac-soft-delete-purge-protection",
  secretExpiry: "key-vault-secrets-expire-and-say-what-they-hold",
  roleAssignment: "role-assignment-secrets-user-on-stack-secrets",
  appRoleAssignment: "app-role-assignment-targets-smartspace",
  expiryAlerts: "expiry-alerts-only-notify",
} as const;

export type PolicyName = (typeof POLICY)[keyof typeof POLICY];

/** Config keys, per policy (see each policy's `configSchema`). */
export const CONFIG = {
  smartspacePrincipal: "smartspaceServicePrincipalObjectId",
  smartspaceAppRole: "smartspaceAppRoleId",
  allowedOwners: "allowedOwners",
  maxDays: "maxDays",
  minRetentionDays: "minSoftDeleteRetentionDays",
  requireNetworkRules: "requireNetworkRules",
} as const;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Type tokens, matched loosely enough that an explicitly versioned azure-native resource (for example
 * `azure-native:keyvault/v20230701:Vault`) is recognised as what it is.
 */
const TYPE = {
  stack: /^pulumi:pulumi:Stack$/,
  provider: /^pulumi:providers:(azure-native|azuread|random|pulumi-nodejs)$/,
  component: /^smartspace:[a-z]+:[A-Z][A-Za-z]*$/,
  application: /^azuread:index\/application:Application$/,
  applicationPassword: /^azuread:index\/applicationPassword:ApplicationPassword$/,
  servicePrincipal: /^azuread:index\/servicePrincipal:ServicePrincipal$/,
  servicePrincipalPassword: /^azuread:index\/servicePrincipalPassword:ServicePrincipalPassword$/,
  appRoleAssignment: /^azuread:index\/appRoleAssignment:AppRoleAssignment$/,
  keyVault: /^azure-native[^:]*:keyvault(\/[a-z0-9]+)?:Vault$/i,
  keyVaultSecret: /^azure-native[^:]*:keyvault(\/[a-z0-9]+)?:Secret$/i,
  roleAssignment: /^azure-native[^:]*:authorization(\/[a-z0-9]+)?:RoleAssignment$/i,
  privateEndpoint: /^azure-native[^:]*:network(\/[a-z0-9]+)?:PrivateEndpoint$/i,
  privateDnsZoneGroup: /^azure-native[^:]*:network(\/[a-z0-9]+)?:PrivateDnsZoneGroup$/i,
  diagnosticSetting: /^azure-native[^:]*:monitor(\/[a-z0-9]+)?:DiagnosticSetting$/i,
  actionGroup: /^azure-native[^:]*:monitor(\/[a-z0-9]+)?:ActionGroup$/i,
  systemTopic: /^azure-native[^:]*:eventgrid(\/[a-z0-9]+)?:SystemTopic$/i,
  systemTopicEventSubscription: /^azure-native[^:]*:eventgrid(\/[a-z0-9]+)?:SystemTopicEventSubscription$/i,
  randomString: /^random:index\/randomString:RandomString$/,
  /** WorkspaceAccess, a dynamic resource (`pulumi-nodejs:dynamic:Resource` for grants stored by 0.1.0). */
  workspaceAccess: /^pulumi-nodejs:dynamic(:Resource|\/smartspace:WorkspaceAccess)$/,
} as const;

type Props = Record<string, unknown>;

/** One allowed resource type: what it is in this stack. */
export interface DeclaredType {
  readonly type: RegExp;
  readonly role: string;
}

/**
 * Every resource type this stack declares. Anything else is refused by `resource-types-declared-by-this-stack`:
 * a federated credential, a certificate, an `ApplicationOwner`, a directory role, a role definition, an access
 * policy, API permissions... none of them can enter through a change to the code. A feature that declares a new
 * type adds it here (or, for a credential, to CREDENTIAL_MODE_TYPES below) together with the rule for its shape.
 */
export const DECLARED_TYPES: readonly DeclaredType[] = [
  { type: TYPE.stack, role: "the stack itself" },
  { type: TYPE.provider, role: "provider configuration" },
  { type: TYPE.component, role: "a component of this project (it creates nothing by itself)" },
  { type: TYPE.application, role: "integration app registration" },
  { type: TYPE.servicePrincipal, role: "integration service principal" },
  { type: TYPE.appRoleAssignment, role: "Smartspace app role assignment" },
  { type: TYPE.applicationPassword, role: "client secret slot" },
  { type: TYPE.keyVault, role: "credential Key Vault" },
  { type: TYPE.keyVaultSecret, role: "Key Vault secret" },
  { type: TYPE.roleAssignment, role: "secret reader role assignment" },
  { type: TYPE.randomString, role: "vault name suffix" },
  { type: TYPE.workspaceAccess, role: "Smartspace workspace access grant" },
  { type: TYPE.privateEndpoint, role: "Key Vault private endpoint" },
  { type: TYPE.privateDnsZoneGroup, role: "DNS registration of the Key Vault private endpoint" },
  { type: TYPE.diagnosticSetting, role: "Key Vault audit log setting" },
  { type: TYPE.actionGroup, role: "e-mail receivers of expiry alerts" },
  { type: TYPE.systemTopic, role: "Event Grid topic of the Key Vault's events" },
  { type: TYPE.systemTopicEventSubscription, role: "expiry events turned into Azure Monitor alerts" },
];

// ---------------------------------------------------------------------------------------------------------
// Credential modes. Credential types beyond the client-secret slots (issue 10: federated identity credentials,
// application certificates, user-assigned managed identities, the Key Vault certificate resource) are added
// HERE, and only here, each in the one shape the credential-mode work declares. Until an entry exists, the type
// is refused like any undeclared type. Ownership (the credential is on an application or identity this stack
// declares) is checked by `credentials-only-on-stack-applications` from `ownerProperty` and `ownerTypes`.
// ---------------------------------------------------------------------------------------------------------

export interface CredentialType extends DeclaredType {
  /** Input that names what the credential belongs to (e.g. `applicationId`); must depend on a stack resource. */
  readonly ownerProperty: string;
  /** Types that owner may have, among the resources this stack declares. */
  readonly ownerTypes: readonly RegExp[];
  /** Problems with the credential's inputs; empty when it has the shape the stack declares. */
  readonly checkShape: (props: Props) => string[];
  /**
   * For a Key Vault object a reader may be granted (a certificate): Azure roles allowed on it besides Key Vault
   * Secrets User, as role definition GUIDs.
   */
  readonly readerRoleIds?: readonly string[];
}

/** Credential types of the credential modes, in the shape each mode declares (see the comment above). */
export const CREDENTIAL_MODE_TYPES: readonly CredentialType[] = [
  // Example of an entry (added by the credential-mode work, not here):
  // {
  //   type: /^azuread:index\/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential$/,
  //   role: "federated identity credential",
  //   ownerProperty: "applicationId",
  //   ownerTypes: [TYPE.application],
  //   checkShape: (props) => (props.issuer === "https://..." ? [] : ["..."]),
  // },
];

/** The client-secret slots, described like a credential mode so that one ownership rule covers every credential. */
const PASSWORD_CREDENTIAL: CredentialType = {
  type: TYPE.applicationPassword,
  role: "client secret slot",
  ownerProperty: "applicationId",
  ownerTypes: [TYPE.application],
  checkShape: () => [],
};

function credentialTypes(): readonly CredentialType[] {
  return [PASSWORD_CREDENTIAL, ...CREDENTIAL_MODE_TYPES];
}

/** Why a well-known type is refused, for a clearer message than "not declared". */
const REFUSAL_HINTS: readonly { readonly type: RegExp; readonly why: string }[] = [
  {
    type: /applicationApiAccess|DelegatedPermissionGrant|applicationPermissionScope/i,
    why: "integration applications request no API permissions",
  },
  { type: /applicationRedirectUris/i, why: "integration applications have no redirect URIs" },
  {
    type: /applicationOwner|servicePrincipalOwner|groupMember/i,
    why: "owners come only from configuration, on the application itself",
  },
  {
    type: /directoryRole|roleDefinition|roleEligibility|administrativeUnit/i,
    why: "the stack grants no directory roles and defines no roles; it grants only Key Vault Secrets User on its own secrets",
  },
  { type: /keyvault.*:AccessPolicy$/i, why: "Key Vaults use RBAC authorization, not legacy access policies" },
  {
    type: /Password|Certificate|FederatedIdentityCredential|Credential/,
    why: "a credential type is allowed only in the shape a credential mode declares (policy/policies.ts, CREDENTIAL_MODE_TYPES)",
  },
];

export function checkDeclaredType(type: string): string[] {
  if ([...DECLARED_TYPES, ...CREDENTIAL_MODE_TYPES].some((declared) => declared.type.test(type))) return [];
  const hint = REFUSAL_HINTS.find((candidate) => candidate.type.test(type));
  return [
    `${type} is not a resource type this stack declares${hint ? `: ${hint.why}` : ""}; a feature that needs it adds it to the allowlist in policy/policies.ts with a rule for its shape`,
  ];
}

const ROLE_DEFINITION_ID =
  /^(?:\/subscriptions\/[^/]+)?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-f-]{36})$/i;
const SECRET_SCOPE =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/[^/]+\/(secrets|certificates)\/[^/]+$/i;

function isRecord(value: unknown): value is Props {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function record(value: unknown): Props {
  return isRecord(value) ? value : {};
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** A list input as a list; absent or malformed inputs count as empty. */
function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

// ---------------------------------------------------------------------------------------------------------
// Pure checks. Each returns one message per problem; an empty list means compliant.
// ---------------------------------------------------------------------------------------------------------

/**
 * A password credential lives at most `maxDays`. Without `startDate` Entra ID starts the credential when it
 * is created, so the lifetime is measured from `now`; without `endDate` Entra ID would choose one, so it is
 * required.
 */
export function checkPasswordLifetime(
  props: Props,
  now: Date = new Date(),
  maxDays: number = MAX_PASSWORD_LIFETIME_DAYS,
): string[] {
  const problems: string[] = [];
  if (props.endDateRelative !== undefined) {
    problems.push(
      `endDateRelative ${show(props.endDateRelative)} is not allowed: set an absolute endDate (RFC3339) so the lifetime can be checked`,
    );
  }
  if (props.endDate === undefined || props.endDate === "") {
    problems.push(
      `endDate is not set: Entra ID would pick a lifetime; set endDate at most ${maxDays} days after startDate`,
    );
    return problems;
  }
  const end = typeof props.endDate === "string" ? Date.parse(props.endDate) : NaN;
  if (Number.isNaN(end)) {
    problems.push(`endDate ${show(props.endDate)} is not an RFC3339 date such as 2025-01-31T00:00:00Z`);
    return problems;
  }
  const hasStart = props.startDate !== undefined && props.startDate !== "";
  const start = !hasStart
    ? now.getTime()
    : typeof props.startDate === "string"
      ? Date.parse(props.startDate)
      : NaN;
  if (Number.isNaN(start)) {
    problems.push(`startDate ${show(props.startDate)} is not an RFC3339 date such as 2025-01-01T00:00:00Z`);
    return problems;
  }
  const from = hasStart ? `startDate ${String(props.startDate)}` : "now";
  if (end <= start) {
    problems.push(`endDate ${String(props.endDate)} is not after ${from}`);
    return problems;
  }
  const days = (end - start) / DAY_MS;
  if (days > maxDays) {
    problems.push(
      `lives ${Number.isInteger(days) ? days : days.toFixed(2)} days (${from} to endDate ${String(props.endDate)}); the maximum is ${maxDays} days`,
    );
  }
  return problems;
}

/**
 * An integration application only calls Smartspace: no API permissions, no redirect URIs (web, single-page or
 * public client), no public-client fallback, no identifier URIs (it exposes no API), no inline credentials,
 * and single-tenant.
 */
export function checkIntegrationApplication(props: Props): string[] {
  const problems: string[] = [];
  const access = asList(props.requiredResourceAccesses);
  if (access.length > 0) {
    const apis = access.map((entry) => String(record(entry).resourceAppId ?? "?")).join(", ");
    problems.push(
      `requests API permissions (requiredResourceAccesses for ${apis}); integration applications only call Smartspace through its app role, so remove them`,
    );
  }
  for (const [block, label] of [
    ["web", "web"],
    ["singlePageApplication", "single-page application"],
    ["publicClient", "public client"],
  ] as const) {
    const uris = asList(record(props[block]).redirectUris);
    if (uris.length > 0) {
      problems.push(
        `has ${label} redirect URIs ${show(uris)}; integration applications sign in no users, so remove them`,
      );
    }
  }
  if (props.fallbackPublicClientEnabled === true) {
    problems.push(
      "fallbackPublicClientEnabled is true; integration applications are confidential clients, so remove it",
    );
  }
  const identifierUris = asList(props.identifierUris);
  if (identifierUris.length > 0) {
    problems.push(
      `has identifier URIs ${show(identifierUris)}; integration applications expose no API (an identifier URI lets others request tokens for it), so remove them`,
    );
  }
  if (isRecord(props.password) || asList(props.passwords).length > 0) {
    problems.push(
      "declares an inline password; client secrets are the two rotating ApplicationPassword slots only",
    );
  }
  if (props.signInAudience !== SINGLE_TENANT_AUDIENCE) {
    problems.push(
      `signInAudience is ${show(props.signInAudience)}; set it to "${SINGLE_TENANT_AUDIENCE}" (single-tenant)`,
    );
  }
  return problems;
}

/**
 * Owners of an application or service principal are only those the stack configuration names (the deploy
 * identity and each integration's `owners`), so that code cannot make anyone else an owner, who could then add
 * credentials. Unknown during a preview (an owner computed from another resource) is checked by `pulumi up`.
 */
export function checkOwners(props: Props, allowedOwners: readonly string[] | undefined): string[] {
  if (allowedOwners === undefined) return [];
  const allowed = new Set(allowedOwners.map((owner) => owner.toLowerCase()));
  const extra = asList(props.owners).filter(
    (owner) => typeof owner !== "string" || !allowed.has(owner.toLowerCase()),
  );
  return extra.length === 0
    ? []
    : [
        `has owners ${show(extra)} that the stack configuration does not name; owners come from deployerObjectId and integrations[].owners only`,
      ];
}

/**
 * A Key Vault uses RBAC authorization (no legacy access policies), soft delete with at least the configured
 * retention, purge protection, and, where the stack's settings require it, network rules that deny by default.
 */
export function checkKeyVault(
  props: Props,
  options: { minRetentionDays?: number; requireNetworkRules?: boolean } = {},
): string[] {
  const problems: string[] = [];
  const properties = record(props.properties);
  if (properties.enableRbacAuthorization !== true) {
    problems.push(
      `properties.enableRbacAuthorization is ${show(properties.enableRbacAuthorization)}; set it to true so access is granted with Azure RBAC`,
    );
  }
  const accessPolicies = asList(properties.accessPolicies);
  if (accessPolicies.length > 0) {
    problems.push(
      `properties.accessPolicies has ${accessPolicies.length} legacy access polic${accessPolicies.length === 1 ? "y" : "ies"}; grant access with role assignments instead`,
    );
  }
  if (properties.enableSoftDelete !== true) {
    problems.push(`properties.enableSoftDelete is ${show(properties.enableSoftDelete)}; set it to true`);
  }
  const minRetention = options.minRetentionDays ?? MAX_SOFT_DELETE_RETENTION_DAYS;
  const retention = properties.softDeleteRetentionInDays;
  if (typeof retention !== "number" || retention < minRetention) {
    problems.push(
      `properties.softDeleteRetentionInDays is ${show(retention)}; keep deleted secrets at least ${minRetention} days`,
    );
  }
  if (properties.enablePurgeProtection !== true) {
    problems.push(
      `properties.enablePurgeProtection is ${show(properties.enablePurgeProtection)}; set it to true so a deleted secret cannot be purged before its retention ends`,
    );
  }
  if (options.requireNetworkRules && record(properties.networkAcls).defaultAction !== "Deny") {
    problems.push(
      `properties.networkAcls.defaultAction is ${show(record(properties.networkAcls).defaultAction)}; this stack's settings require network rules: set keyVault.network in the stack configuration`,
    );
  }
  return problems;
}

/**
 * Every Key Vault secret the stack writes says when it expires and what it holds: tenants that enforce the
 * built-in Azure Policy "Key Vault secrets should have an expiration date" refuse secrets without one.
 */
export function checkSecret(props: Props): string[] {
  const problems: string[] = [];
  const properties = record(props.properties);
  const expires = record(properties.attributes).expires;
  if (typeof expires !== "number" || !Number.isFinite(expires) || expires <= 0) {
    problems.push(
      `properties.attributes.expires is ${show(expires)}; set when the secret expires (seconds since 1970-01-01T00:00:00Z)`,
    );
  }
  const contentType = properties.contentType;
  if (typeof contentType !== "string" || contentType.trim() === "") {
    problems.push(
      `properties.contentType is ${show(contentType)}; say what the secret holds (e.g. "Entra ID client secret")`,
    );
  }
  return problems;
}

/** What an expiry alert subscription may forward: Key Vault's expiry events, nothing else. */
const EXPIRY_EVENT_TYPES = new Set(
  ["SecretNearExpiry", "SecretExpired", "CertificateNearExpiry", "CertificateExpired"].map(
    (event) => `Microsoft.KeyVault.${event}`,
  ),
);
const ACTION_GROUP_RECEIVERS = [
  "armRoleReceivers",
  "automationRunbookReceivers",
  "azureAppPushReceivers",
  "azureFunctionReceivers",
  "eventHubReceivers",
  "incidentReceivers",
  "itsmReceivers",
  "logicAppReceivers",
  "smsReceivers",
  "voiceReceivers",
  "webhookReceivers",
];

/**
 * Expiry alerts notify people and do nothing else (components/expiryAlerts.ts): the action group has e-mail
 * receivers only, the system topic carries a Key Vault's events, and each event subscription forwards only
 * expiry events, filtered by subject, to an Azure Monitor alert. Nothing can be sent to an endpoint, run, or
 * dead-lettered to storage through them.
 */
export function checkExpiryAlert(type: string, props: Props): string[] {
  const problems: string[] = [];
  if (TYPE.actionGroup.test(type)) {
    for (const key of ACTION_GROUP_RECEIVERS) {
      if (Array.isArray(props[key]) && props[key].length > 0) {
        problems.push(`${key} is set; the stack's action groups only send e-mail (emailReceivers)`);
      }
    }
  } else if (TYPE.systemTopic.test(type)) {
    if (props.topicType !== "Microsoft.KeyVault.vaults") {
      problems.push(`topicType is ${show(props.topicType)}; the stack's topics carry Key Vault events only`);
    }
    if (
      typeof props.source !== "string" ||
      !/\/providers\/Microsoft\.KeyVault\/vaults\/[^/]+$/i.test(props.source)
    ) {
      problems.push(`source is ${show(props.source)}; use the Key Vault's resource ID`);
    }
  } else if (TYPE.systemTopicEventSubscription.test(type)) {
    const destination = record(props.destination);
    if (destination.endpointType !== "MonitorAlert") {
      problems.push(
        `destination.endpointType is ${show(destination.endpointType)}; deliver only to MonitorAlert`,
      );
    }
    for (const key of [
      "deliveryWithResourceIdentity",
      "deadLetterDestination",
      "deadLetterWithResourceIdentity",
    ]) {
      if (props[key] !== undefined) problems.push(`${key} is set; expiry alerts go to Azure Monitor only`);
    }
    const filter = record(props.filter);
    const events = Array.isArray(filter.includedEventTypes) ? filter.includedEventTypes : [];
    if (events.length === 0 || events.some((event) => !EXPIRY_EVENT_TYPES.has(String(event)))) {
      problems.push(
        `filter.includedEventTypes is ${show(filter.includedEventTypes)}; forward only Key Vault expiry events`,
      );
    }
    const bySubject = (Array.isArray(filter.advancedFilters) ? filter.advancedFilters : []).some(
      (candidate) => record(candidate).operatorType === "StringIn" && record(candidate).key === "subject",
    );
    if (!bySubject) {
      problems.push(
        "filter has no StringIn filter on subject; scope the alerts to the stack's own Key Vault objects",
      );
    }
  }
  return problems;
}

function readerRoleIds(): Set<string> {
  return new Set([
    KEY_VAULT_SECRETS_USER_ROLE_ID,
    ...CREDENTIAL_MODE_TYPES.flatMap((credential) => credential.readerRoleIds ?? []).map((id) =>
      id.toLowerCase(),
    ),
  ]);
}

/**
 * A role assignment grants Key Vault Secrets User to a service principal on one secret (or certificate):
 * never on a vault, which may hold other integrations, and never wider.
 */
export function checkRoleAssignment(props: Props): string[] {
  const problems: string[] = [];
  const roleDefinitionId = props.roleDefinitionId;
  const role = typeof roleDefinitionId === "string" ? ROLE_DEFINITION_ID.exec(roleDefinitionId) : null;
  if (!role || !readerRoleIds().has(role[1].toLowerCase())) {
    problems.push(
      `grants role ${show(roleDefinitionId)}; the stack may only grant Key Vault Secrets User (/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER_ROLE_ID})`,
    );
  }
  const scope = props.scope;
  if (typeof scope !== "string" || !SECRET_SCOPE.test(scope)) {
    problems.push(
      `is scoped to ${show(scope)}; the scope must be one secret (or certificate) of a Key Vault: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<name>/secrets/<name>`,
    );
  }
  if (props.principalType !== "ServicePrincipal") {
    problems.push(
      `principalType is ${show(props.principalType)}; readers are service principals (managed identities, applications), set "ServicePrincipal"`,
    );
  }
  return problems;
}

/** An app role assignment assigns the configured Smartspace role of the configured Smartspace service principal. */
export function checkAppRoleAssignment(
  props: Props,
  expectedObjectId: string | undefined,
  expectedAppRoleId?: string,
): string[] {
  if (expectedObjectId === undefined || !GUID.test(expectedObjectId)) {
    return [
      `cannot check the target: policy config ${POLICY.appRoleAssignment}.${CONFIG.smartspacePrincipal} is ${show(expectedObjectId)}; ` +
        "write the pack config with npm run policy:config (see docs/operations.md)",
    ];
  }
  const problems: string[] = [];
  const target = props.resourceObjectId;
  if (typeof target !== "string" || target.toLowerCase() !== expectedObjectId.toLowerCase()) {
    problems.push(
      `assigns an app role of service principal ${show(target)}; integrations may only hold roles of the Smartspace service principal ${expectedObjectId}`,
    );
  }
  if (expectedAppRoleId !== undefined) {
    const role = props.appRoleId;
    if (typeof role !== "string" || role.toLowerCase() !== expectedAppRoleId.toLowerCase()) {
      problems.push(
        `assigns app role ${show(role)}; integrations may only hold the configured Smartspace role ${expectedAppRoleId}`,
      );
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------
// Cross-resource checks over the stack.
// ---------------------------------------------------------------------------------------------------------

/** What the cross-resource checks need of a resource: a subset of `PolicyResource`. */
export interface StackResource {
  readonly type: string;
  readonly urn: string;
  readonly name: string;
  readonly props: Props;
  readonly dependencies: readonly StackResource[];
  readonly propertyDependencies?: Readonly<Record<string, readonly StackResource[]>>;
}

/** The stack resources an input depends on (what the engine reports per property; else all dependencies). */
function dependenciesOf(resource: StackResource, property: string): readonly StackResource[] {
  return resource.propertyDependencies?.[property] ?? resource.dependencies;
}

/**
 * The application a password belongs to, as a stable key: the application resource's URN when the password
 * depends on it (known even during a preview, before IDs exist), else the `applicationId` value.
 */
function applicationKeyOfPassword(password: StackResource): string | undefined {
  const viaProperty = (password.propertyDependencies?.applicationId ?? []).find((dep) =>
    TYPE.application.test(dep.type),
  );
  if (viaProperty) return viaProperty.urn;
  const applications = password.dependencies.filter((dep) => TYPE.application.test(dep.type));
  if (applications.length === 1) return applications[0].urn;
  const applicationId = password.props.applicationId;
  return typeof applicationId === "string" ? applicationId.toLowerCase() : undefined;
}

export interface PasswordCount {
  /** The application's URN or resource ID. */
  readonly application: string;
  /** Names of the password resources. */
  readonly credentials: readonly string[];
}

/** Client secrets declared per application. */
export function countPasswordsPerApplication(resources: readonly StackResource[]): PasswordCount[] {
  const byApplication = new Map<string, string[]>();
  for (const resource of resources) {
    if (!TYPE.applicationPassword.test(resource.type)) continue;
    const key = applicationKeyOfPassword(resource) ?? "(unknown application)";
    byApplication.set(key, [...(byApplication.get(key) ?? []), resource.name]);
  }
  return [...byApplication.entries()].map(([application, credentials]) => ({ application, credentials }));
}

export function checkPasswordsPerApplication(resources: readonly StackResource[]): string[] {
  return countPasswordsPerApplication(resources)
    .filter((entry) => entry.credentials.length > MAX_PASSWORDS_PER_APPLICATION)
    .map(
      (entry) =>
        `application ${entry.application} has ${entry.credentials.length} client secrets (${entry.credentials.join(", ")}); ` +
        `the two-slot rotation needs exactly ${MAX_PASSWORDS_PER_APPLICATION}, and every extra secret is one more credential to leak`,
    );
}

interface Finding {
  readonly urn: string;
  readonly problem: string;
}

/**
 * Credentials (passwords, and the credential modes' types) are added only to applications or identities this
 * stack declares: the input naming the owner must depend on such a resource. A credential on an application
 * given by ID (someone else's, or one of ours named by its ID) is a backdoor the stack has no reason to create.
 */
export function checkCredentialOwnership(resources: readonly StackResource[]): Finding[] {
  const findings: Finding[] = [];
  for (const resource of resources) {
    const credential = credentialTypes().find((candidate) => candidate.type.test(resource.type));
    if (!credential) continue;
    const owners = dependenciesOf(resource, credential.ownerProperty).filter((dep) =>
      credential.ownerTypes.some((type) => type.test(dep.type)),
    );
    if (owners.length !== 1) {
      findings.push({
        urn: resource.urn,
        problem: `${credential.role} ${resource.name}: ${credential.ownerProperty} ${show(resource.props[credential.ownerProperty])} is not taken from an application this stack declares; credentials are added only to the stack's own applications`,
      });
    }
    for (const problem of credential.checkShape(resource.props)) {
      findings.push({ urn: resource.urn, problem: `${credential.role} ${resource.name}: ${problem}` });
    }
  }
  return findings;
}

/** Reader role assignments are scoped to a secret (or credential-mode certificate) that this stack declares. */
export function checkRoleAssignmentTargets(resources: readonly StackResource[]): Finding[] {
  const secretTypes = [
    TYPE.keyVaultSecret,
    ...CREDENTIAL_MODE_TYPES.filter((c) => c.readerRoleIds).map((c) => c.type),
  ];
  return resources
    .filter((resource) => TYPE.roleAssignment.test(resource.type))
    .filter(
      (resource) =>
        !dependenciesOf(resource, "scope").some((dep) => secretTypes.some((type) => type.test(dep.type))),
    )
    .map((resource) => ({
      urn: resource.urn,
      problem: `role assignment ${resource.name} is scoped to ${show(resource.props.scope)}, which is not a secret this stack declares; readers are granted only this stack's secrets`,
    }));
}

/** App role assignments go to service principals this stack declares, never to another principal. */
export function checkAppRoleAssignmentPrincipals(resources: readonly StackResource[]): Finding[] {
  return resources
    .filter((resource) => TYPE.appRoleAssignment.test(resource.type))
    .filter(
      (resource) =>
        !dependenciesOf(resource, "principalObjectId").some((dep) => TYPE.servicePrincipal.test(dep.type)),
    )
    .map((resource) => ({
      urn: resource.urn,
      problem: `app role assignment ${resource.name} assigns the Smartspace role to ${show(resource.props.principalObjectId)}, which is not a service principal this stack declares`,
    }));
}

// ---------------------------------------------------------------------------------------------------------
// Policies: route resources to the checks, with each policy's config.
// ---------------------------------------------------------------------------------------------------------

const GUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

export interface SmartspacePolicyConfig {
  readonly [CONFIG.smartspacePrincipal]?: string;
  readonly [CONFIG.smartspaceAppRole]?: string;
}

const declaredTypes: ResourceValidationPolicy = {
  name: POLICY.declaredTypes,
  description:
    "Only the resource types this stack declares (an allowlist): no federated credential, certificate, owner, directory role, role definition or access policy can enter through code.",
  severity: "critical",
  validateResource: (args, reportViolation) => {
    for (const problem of checkDeclaredType(args.type)) reportViolation(problem);
  },
};

const passwordLifetime: ResourceValidationPolicy = {
  name: POLICY.passwordLifetime,
  description: `Client secrets live at most ${MAX_PASSWORD_LIFETIME_DAYS} days (less where the stack's settings say so).`,
  severity: "high",
  configSchema: {
    properties: {
      [CONFIG.maxDays]: {
        type: "integer",
        minimum: 1,
        maximum: MAX_PASSWORD_LIFETIME_DAYS,
        default: MAX_PASSWORD_LIFETIME_DAYS,
      },
    },
  },
  validateResource: (args, reportViolation) => {
    if (TYPE.applicationPassword.test(args.type) || TYPE.servicePrincipalPassword.test(args.type)) {
      const maxDays = args.getConfig<{ [CONFIG.maxDays]?: number }>()[CONFIG.maxDays];
      for (const problem of checkPasswordLifetime(args.props, new Date(), maxDays)) reportViolation(problem);
    }
  },
};

const passwordsPerApplication: StackValidationPolicy = {
  name: POLICY.passwordsPerApplication,
  description: `No integration application has more than ${MAX_PASSWORDS_PER_APPLICATION} client secrets.`,
  severity: "high",
  validateStack: (args: StackValidationArgs, reportViolation) => {
    for (const problem of checkPasswordsPerApplication(args.resources)) reportViolation(problem);
  },
};

const credentialsOnStackApplications: StackValidationPolicy = {
  name: POLICY.credentialsOnStackApplications,
  description:
    "Credentials are added only to applications (or identities) this stack declares, in the shape the stack declares them.",
  severity: "critical",
  validateStack: (args, reportViolation) => {
    for (const finding of checkCredentialOwnership(args.resources))
      reportViolation(finding.problem, finding.urn);
  },
};

const integrationApplication: ResourceValidationPolicy = {
  name: POLICY.integrationApplication,
  description:
    "Integration applications request no API permissions, have no redirect URIs, identifier URIs or inline passwords, and are single-tenant.",
  severity: "high",
  validateResource: (args, reportViolation) => {
    if (TYPE.application.test(args.type)) {
      for (const problem of checkIntegrationApplication(args.props)) reportViolation(problem);
    }
  },
};

const owners: ResourceValidationPolicy = {
  name: POLICY.owners,
  description: "Applications and service principals have only the owners the stack configuration names.",
  severity: "critical",
  configSchema: {
    properties: {
      [CONFIG.allowedOwners]: {
        type: "array",
        items: { type: "string", pattern: GUID_PATTERN },
        description:
          "deployerObjectId and every integration's owners, from the stack file (npm run policy:config)",
      },
    },
  },
  validateResource: (args, reportViolation) => {
    if (TYPE.application.test(args.type) || TYPE.servicePrincipal.test(args.type)) {
      const allowed = args.getConfig<{ [CONFIG.allowedOwners]?: string[] }>()[CONFIG.allowedOwners];
      for (const problem of checkOwners(args.props, allowed)) reportViolation(problem);
    }
  },
};

const keyVault: ResourceValidationPolicy = {
  name: POLICY.keyVault,
  description:
    "Key Vaults use RBAC authorization (no access policies), soft delete with full retention and purge protection.",
  severity: "high",
  configSchema: {
    properties: {
      [CONFIG.minRetentionDays]: {
        type: "integer",
        minimum: 7,
        maximum: MAX_SOFT_DELETE_RETENTION_DAYS,
        default: MAX_SOFT_DELETE_RETENTION_DAYS,
      },
      [CONFIG.requireNetworkRules]: { type: "boolean", default: false },
    },
  },
  validateResource: (args, reportViolation) => {
    if (TYPE.keyVault.test(args.type)) {
      const config = args.getConfig<{
        [CONFIG.minRetentionDays]?: number;
        [CONFIG.requireNetworkRules]?: boolean;
      }>();
      for (const problem of checkKeyVault(args.props, {
        minRetentionDays: config[CONFIG.minRetentionDays],
        requireNetworkRules: config[CONFIG.requireNetworkRules],
      })) {
        reportViolation(problem);
      }
    }
  },
};

const secretExpiry: ResourceValidationPolicy = {
  name: POLICY.secretExpiry,
  description:
    "Every Key Vault secret the stack writes sets an expiry (properties.attributes.expires) and a content type.",
  severity: "high",
  validateResource: (args, reportViolation) => {
    if (TYPE.keyVaultSecret.test(args.type)) {
      for (const problem of checkSecret(args.props)) reportViolation(problem);
    }
  },
};

const roleAssignment: StackValidationPolicy = {
  name: POLICY.roleAssignment,
  description:
    "Azure role assignments grant only Key Vault Secrets User, to a service principal, on one secret this stack declares.",
  severity: "critical",
  validateStack: (args, reportViolation) => {
    for (const resource of args.resources.filter((candidate) => TYPE.roleAssignment.test(candidate.type))) {
      for (const problem of checkRoleAssignment(resource.props)) reportViolation(problem, resource.urn);
    }
    for (const finding of checkRoleAssignmentTargets(args.resources))
      reportViolation(finding.problem, finding.urn);
  },
};

const appRoleAssignment: StackValidationPolicy = {
  name: POLICY.appRoleAssignment,
  description:
    "Every app role assignment assigns the configured Smartspace role of the configured Smartspace service principal to a service principal this stack declares.",
  severity: "critical",
  configSchema: {
    properties: {
      [CONFIG.smartspacePrincipal]: {
        type: "string",
        // JSON Schema patterns have no flags, so both cases are spelled out.
        pattern: GUID_PATTERN,
        description:
          "Object ID of the Smartspace enterprise application (service principal) in this environment's tenant; the stack output smartspaceServicePrincipalObjectId.",
      },
      [CONFIG.smartspaceAppRole]: {
        type: "string",
        pattern: GUID_PATTERN,
        description: "ID of the Smartspace app role the integrations hold (the Integrations role).",
      },
    },
    required: [CONFIG.smartspacePrincipal],
  },
  validateStack: (args, reportViolation) => {
    const config = args.getConfig<SmartspacePolicyConfig>();
    for (const resource of args.resources.filter((candidate: PolicyResource) =>
      TYPE.appRoleAssignment.test(candidate.type),
    )) {
      for (const problem of checkAppRoleAssignment(
        resource.props,
        config[CONFIG.smartspacePrincipal],
        config[CONFIG.smartspaceAppRole],
      )) {
        reportViolation(problem, resource.urn);
      }
    }
    for (const finding of checkAppRoleAssignmentPrincipals(args.resources))
      reportViolation(finding.problem, finding.urn);
  },
};

const expiryAlerts: ResourceValidationPolicy = {
  name: POLICY.expiryAlerts,
  description:
    "Expiry alerts only notify: e-mail-only action groups, Key Vault system topics, and subscriptions forwarding Key Vault expiry events of the stack's objects to Azure Monitor alerts.",
  severity: "high",
  validateResource: (args, reportViolation) => {
    for (const problem of checkExpiryAlert(args.type, args.props)) reportViolation(problem);
  },
};

/** The whole pack. Each policy's enforcement level comes from the pack config (default: mandatory). */
export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  declaredTypes,
  passwordLifetime,
  passwordsPerApplication,
  credentialsOnStackApplications,
  integrationApplication,
  owners,
  keyVault,
  secretExpiry,
  roleAssignment,
  appRoleAssignment,
  expiryAlerts,
];
