/**
 * The guardrails of the smartspace-integration stack, as CrossGuard policies.
 *
 * Each rule is a pure check over a resource's inputs (or, for cross-resource rules, over the stack's
 * resources and their dependencies) that returns one message per problem; the policy objects below only
 * route resources to those checks. Tests call both.
 *
 * The pack deliberately imports nothing from the stack program: a change to the program (or to its
 * constants) must never silently relax the rules that guard it.
 *
 * Resource-level policies run on every resource's inputs before Pulumi creates or updates it, so a violation
 * stops `pulumi up` before anything reaches Azure. During `pulumi preview`, an input that depends on a
 * resource not yet created (for example a role assignment scoped to a secret created in the same run) is
 * unknown; the policy SDK then reports "can't run policy during preview" as advisory, and the rule is enforced
 * when `pulumi up` knows the value. Cross-resource rules run once over the whole stack at the end of a preview
 * or update.
 */
import type { ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { GUID } from "../rules/ids";

export const PACK_NAME = "smartspace-guardrails";

/** Built-in Azure role "Key Vault Secrets User" (read secret contents): the only role the stack may grant. */
export const KEY_VAULT_SECRETS_USER_ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6";
export const MAX_PASSWORD_LIFETIME_DAYS = 365;
export const MAX_PASSWORDS_PER_APPLICATION = 2;
export const SINGLE_TENANT_AUDIENCE = "AzureADMyOrg";

/** Names of the policies, as `--policy-pack-config` and violation messages refer to them. */
export const POLICY = {
  passwordLifetime: "password-lifetime-at-most-365-days",
  passwordsPerApplication: "at-most-two-passwords-per-application",
  integrationApplication: "integration-application-minimal",
  keyVault: "key-vault-rbac-soft-delete-purge-protection",
  credentialSecret: "credential-secret-expires-and-content-type",
  passwordBackedSecret: "password-backed-secret-expires-and-content-type",
  roleAssignment: "role-assignment-secrets-user-at-vault-scope",
  appRoleAssignment: "app-role-assignment-targets-smartspace",
} as const;

/** Key of the pack config entry that names the Smartspace service principal (see `configSchema` below). */
export const SMARTSPACE_PRINCIPAL_CONFIG_KEY = "smartspaceServicePrincipalObjectId";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Type tokens, matched loosely enough that an explicitly versioned azure-native resource (for example
 * `azure-native:keyvault/v20230701:Vault`, or a locally generated versioned package) cannot slip past a rule.
 */
const TYPE = {
  application: /^azuread:index\/application:Application$/,
  applicationRegistration: /^azuread:index\/applicationRegistration:ApplicationRegistration$/,
  applicationPassword: /^azuread:index\/applicationPassword:ApplicationPassword$/,
  servicePrincipal: /^azuread:index\/servicePrincipal:ServicePrincipal$/,
  servicePrincipalPassword: /^azuread:index\/servicePrincipalPassword:ServicePrincipalPassword$/,
  appRoleAssignment: /^azuread:index\/appRoleAssignment:AppRoleAssignment$/,
  keyVault: /^azure-native[^:]*:keyvault(\/[a-z0-9]+)?:Vault$/i,
  keyVaultSecret: /^azure-native[^:]*:keyvault(\/[a-z0-9]+)?:Secret$/i,
  roleAssignment: /^azure-native[^:]*:authorization(\/[a-z0-9]+)?:RoleAssignment$/i,
} as const;

/**
 * Resources the stack never needs, each refused by the policy whose rule it would break: they would give an
 * integration application API permissions or redirect URIs outside its own inputs, grant a role other than
 * through a checked role assignment, or give a vault legacy access policies.
 */
interface ForbiddenType {
  readonly type: RegExp;
  readonly rule: string;
}

const FORBIDDEN_FOR_APPLICATIONS: readonly ForbiddenType[] = [
  {
    type: /^azuread:index\/applicationApiAccess:ApplicationApiAccess$/,
    rule: "integration applications request no API permissions",
  },
  {
    type: /^azuread:index\/servicePrincipalDelegatedPermissionGrant:ServicePrincipalDelegatedPermissionGrant$/,
    rule: "integration applications request no API permissions",
  },
  {
    type: /^azuread:index\/applicationRedirectUris:ApplicationRedirectUris$/,
    rule: "integration applications have no redirect URIs",
  },
];

const FORBIDDEN_ROLE_GRANTS: readonly ForbiddenType[] = [
  {
    type: /^azuread:index\/directoryRoleAssignment:DirectoryRoleAssignment$/,
    rule: "the stack grants no Entra directory roles, only Key Vault Secrets User on Key Vault secrets",
  },
];

const FORBIDDEN_FOR_VAULTS: readonly ForbiddenType[] = [
  {
    type: /^azure-native[^:]*:keyvault(\/[a-z0-9]+)?:AccessPolicy$/i,
    rule: "Key Vaults use RBAC authorization, not legacy access policies",
  },
];

function forbidden(list: readonly ForbiddenType[], type: string): string | undefined {
  const entry = list.find((candidate) => candidate.type.test(type));
  return entry ? `${type} is not allowed in this stack: ${entry.rule}` : undefined;
}

const ROLE_DEFINITION_ID =
  /^(?:\/subscriptions\/[^/]+)?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-f-]{36})$/i;
const VAULT_OR_SECRET_SCOPE =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/[^/]+(?:\/secrets\/[^/]+)?$/i;
/** Names of Key Vault secrets that hold a credential rather than an identifier. */
const CREDENTIAL_NAME = /(secret|password|passwd|credential|token|api-?key|private-?key|connection-?string)/i;

type Props = Record<string, unknown>;

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
 * A password credential (`ApplicationPassword`, `ServicePrincipalPassword`, or an application's inline
 * `password` block) lives at most 365 days. Without `startDate` Entra ID starts the credential when it is
 * created, so the lifetime is measured from `now`; without `endDate` Entra ID would choose one, so it is
 * required.
 */
export function checkPasswordLifetime(props: Props, now: Date = new Date()): string[] {
  const problems: string[] = [];
  if (props.endDateRelative !== undefined) {
    problems.push(
      `endDateRelative ${show(props.endDateRelative)} is not allowed: set an absolute endDate (RFC3339) so the lifetime can be checked`,
    );
  }
  if (props.endDate === undefined || props.endDate === "") {
    problems.push(
      `endDate is not set: Entra ID would pick a lifetime; set endDate at most ${MAX_PASSWORD_LIFETIME_DAYS} days after startDate`,
    );
    return problems;
  }
  const end = typeof props.endDate === "string" ? Date.parse(props.endDate) : NaN;
  if (Number.isNaN(end)) {
    problems.push(`endDate ${show(props.endDate)} is not an RFC3339 date such as 2025-01-31T00:00:00Z`);
    return problems;
  }
  let start = now.getTime();
  if (props.startDate !== undefined && props.startDate !== "") {
    start = typeof props.startDate === "string" ? Date.parse(props.startDate) : NaN;
    if (Number.isNaN(start)) {
      problems.push(`startDate ${show(props.startDate)} is not an RFC3339 date such as 2025-01-01T00:00:00Z`);
      return problems;
    }
  }
  const from =
    props.startDate !== undefined && props.startDate !== "" ? `startDate ${String(props.startDate)}` : "now";
  if (end <= start) {
    problems.push(`endDate ${String(props.endDate)} is not after ${from}`);
    return problems;
  }
  const days = (end - start) / DAY_MS;
  if (days > MAX_PASSWORD_LIFETIME_DAYS) {
    problems.push(
      `lives ${formatDays(days)} days (${from} to endDate ${String(props.endDate)}); the maximum is ${MAX_PASSWORD_LIFETIME_DAYS} days`,
    );
  }
  return problems;
}

function formatDays(days: number): string {
  return Number.isInteger(days) ? String(days) : days.toFixed(2);
}

/**
 * An integration application only calls Smartspace: it requests no API permissions, has no redirect URIs
 * (web, single-page or public client), does not fall back to public-client flows, and is single-tenant.
 * Applies to `Application` and `ApplicationRegistration` inputs.
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
  if (props.signInAudience !== SINGLE_TENANT_AUDIENCE) {
    problems.push(
      `signInAudience is ${show(props.signInAudience)}; set it to "${SINGLE_TENANT_AUDIENCE}" (single-tenant)`,
    );
  }
  return problems;
}

/** A Key Vault uses RBAC authorization (no legacy access policies), soft delete and purge protection. */
export function checkKeyVault(props: Props): string[] {
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
  if (properties.enablePurgeProtection !== true) {
    problems.push(
      `properties.enablePurgeProtection is ${show(properties.enablePurgeProtection)}; set it to true so a deleted secret cannot be purged before its retention ends`,
    );
  }
  return problems;
}

/** Whether a Key Vault secret holds a credential, judged by its name and content type. */
export function isCredentialSecretByName(resourceName: string, props: Props): boolean {
  const secretName = typeof props.secretName === "string" ? props.secretName : resourceName;
  const contentType = record(props.properties).contentType;
  return (
    CREDENTIAL_NAME.test(secretName) || (typeof contentType === "string" && CREDENTIAL_NAME.test(contentType))
  );
}

/** A Key Vault secret holding a credential says when it expires and what it is. */
export function checkCredentialSecret(props: Props): string[] {
  const problems: string[] = [];
  const properties = record(props.properties);
  const expires = record(properties.attributes).expires;
  if (typeof expires !== "number" || !Number.isFinite(expires) || expires <= 0) {
    problems.push(
      `properties.attributes.expires is ${show(expires)}; set it to the credential's end (seconds since 1970-01-01T00:00:00Z)`,
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

/**
 * A role assignment grants Key Vault Secrets User, and only on a Key Vault or a secret in it: never on a
 * resource group, subscription or management group, where it would reach other vaults.
 */
export function checkRoleAssignment(props: Props): string[] {
  const problems: string[] = [];
  const roleDefinitionId = props.roleDefinitionId;
  const role = typeof roleDefinitionId === "string" ? ROLE_DEFINITION_ID.exec(roleDefinitionId) : null;
  if (!role || role[1].toLowerCase() !== KEY_VAULT_SECRETS_USER_ROLE_ID) {
    problems.push(
      `grants role ${show(roleDefinitionId)}; the stack may only grant Key Vault Secrets User (/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER_ROLE_ID})`,
    );
  }
  const scope = props.scope;
  if (typeof scope !== "string" || !VAULT_OR_SECRET_SCOPE.test(scope)) {
    problems.push(
      `is scoped to ${show(scope)}; the scope must be a Key Vault (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<name>) or a secret in it (.../secrets/<name>)`,
    );
  }
  return problems;
}

/** An app role assignment targets the configured Smartspace service principal and nothing else. */
export function checkAppRoleAssignment(props: Props, expectedObjectId: string | undefined): string[] {
  if (expectedObjectId === undefined || !GUID.test(expectedObjectId)) {
    return [
      `cannot check the target: policy config ${POLICY.appRoleAssignment}.${SMARTSPACE_PRINCIPAL_CONFIG_KEY} is ${show(expectedObjectId)}; ` +
        "pass the Smartspace service principal's object ID with --policy-pack-config (see docs/operations.md)",
    ];
  }
  const target = props.resourceObjectId;
  if (typeof target !== "string" || target.toLowerCase() !== expectedObjectId.toLowerCase()) {
    return [
      `assigns an app role of service principal ${show(target)}; integrations may only hold roles of the Smartspace service principal ${expectedObjectId}`,
    ];
  }
  return [];
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

/**
 * The application a credential resource belongs to, as a stable key: the application resource's URN when the
 * credential depends on it (known even during a preview, before IDs exist), else the `applicationId` value.
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

function applicationKeyOfServicePrincipalPassword(password: StackResource): string | undefined {
  const principal =
    (password.propertyDependencies?.servicePrincipalId ?? []).find((dep) =>
      TYPE.servicePrincipal.test(dep.type),
    ) ?? password.dependencies.find((dep) => TYPE.servicePrincipal.test(dep.type));
  if (principal) {
    const application = principal.dependencies.find((dep) => TYPE.application.test(dep.type));
    return application?.urn ?? principal.urn;
  }
  const id = password.props.servicePrincipalId;
  return typeof id === "string" ? id.toLowerCase() : undefined;
}

export interface PasswordCount {
  /** The application's URN or resource ID. */
  readonly application: string;
  /** Names of the credential resources (or `<application>.password` for an inline block). */
  readonly credentials: readonly string[];
}

/** Client secrets declared per application, counting every way the stack can declare one. */
export function countPasswordsPerApplication(resources: readonly StackResource[]): PasswordCount[] {
  const byApplication = new Map<string, string[]>();
  const add = (key: string | undefined, credential: string) => {
    if (key === undefined) return;
    byApplication.set(key, [...(byApplication.get(key) ?? []), credential]);
  };
  for (const resource of resources) {
    if (TYPE.applicationPassword.test(resource.type)) {
      add(applicationKeyOfPassword(resource), resource.name);
    } else if (TYPE.servicePrincipalPassword.test(resource.type)) {
      add(applicationKeyOfServicePrincipalPassword(resource), resource.name);
    } else if (TYPE.application.test(resource.type) && isRecord(resource.props.password)) {
      add(resource.urn, `${resource.name}.password`);
    }
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

const PASSWORD_TYPES = [TYPE.applicationPassword, TYPE.servicePrincipalPassword];

/**
 * Key Vault secrets whose value comes from a password resource hold a credential whatever they are called;
 * those not already recognised by name are checked here.
 */
export function checkPasswordBackedSecrets(
  resources: readonly StackResource[],
): { urn: string; problem: string }[] {
  const findings: { urn: string; problem: string }[] = [];
  for (const resource of resources) {
    if (!TYPE.keyVaultSecret.test(resource.type) || isCredentialSecretByName(resource.name, resource.props)) {
      continue;
    }
    const valueSources = resource.propertyDependencies?.properties ?? resource.dependencies;
    if (!valueSources.some((dep) => PASSWORD_TYPES.some((type) => type.test(dep.type)))) {
      continue;
    }
    for (const problem of checkCredentialSecret(resource.props)) {
      findings.push({ urn: resource.urn, problem: `holds a client secret but ${problem}` });
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------------------
// Policies: route resources to the checks.
// ---------------------------------------------------------------------------------------------------------

export interface SmartspacePolicyConfig {
  readonly [SMARTSPACE_PRINCIPAL_CONFIG_KEY]?: string;
}

const passwordLifetime: ResourceValidationPolicy = {
  name: POLICY.passwordLifetime,
  description: `Client secrets (application and service principal passwords) live at most ${MAX_PASSWORD_LIFETIME_DAYS} days.`,
  severity: "high",
  validateResource: (args, reportViolation) => {
    if (TYPE.applicationPassword.test(args.type) || TYPE.servicePrincipalPassword.test(args.type)) {
      for (const problem of checkPasswordLifetime(args.props)) reportViolation(problem);
    } else if (TYPE.application.test(args.type) && isRecord(args.props.password)) {
      for (const problem of checkPasswordLifetime(args.props.password))
        reportViolation(`password block: ${problem}`);
    }
  },
};

const passwordsPerApplication: StackValidationPolicy = {
  name: POLICY.passwordsPerApplication,
  description: `No integration application has more than ${MAX_PASSWORDS_PER_APPLICATION} client secrets.`,
  severity: "high",
  validateStack: (args: StackValidationArgs, reportViolation) => {
    for (const problem of checkPasswordsPerApplication(args.resources)) {
      reportViolation(problem);
    }
  },
};

const integrationApplication: ResourceValidationPolicy = {
  name: POLICY.integrationApplication,
  description:
    "Integration applications request no API permissions, have no redirect URIs and are single-tenant; resources that would add permissions or redirect URIs are not used.",
  severity: "high",
  validateResource: (args, reportViolation) => {
    if (TYPE.application.test(args.type) || TYPE.applicationRegistration.test(args.type)) {
      for (const problem of checkIntegrationApplication(args.props)) reportViolation(problem);
      return;
    }
    const refused = forbidden(FORBIDDEN_FOR_APPLICATIONS, args.type);
    if (refused) reportViolation(refused);
  },
};

const keyVault: ResourceValidationPolicy = {
  name: POLICY.keyVault,
  description:
    "Key Vaults use RBAC authorization (no access policies, no AccessPolicy resources), soft delete and purge protection.",
  severity: "high",
  validateResource: (args, reportViolation) => {
    if (TYPE.keyVault.test(args.type)) {
      for (const problem of checkKeyVault(args.props)) reportViolation(problem);
    }
    const refused = forbidden(FORBIDDEN_FOR_VAULTS, args.type);
    if (refused) reportViolation(refused);
  },
};

const credentialSecret: ResourceValidationPolicy = {
  name: POLICY.credentialSecret,
  description:
    "Key Vault secrets that hold credentials (named or typed as a secret, password, token, key or credential) set expires and contentType.",
  severity: "medium",
  validateResource: (args, reportViolation) => {
    if (TYPE.keyVaultSecret.test(args.type) && isCredentialSecretByName(args.name, args.props)) {
      for (const problem of checkCredentialSecret(args.props)) reportViolation(problem);
    }
  },
};

const passwordBackedSecret: StackValidationPolicy = {
  name: POLICY.passwordBackedSecret,
  description:
    "Key Vault secrets whose value comes from a client secret set expires and contentType, whatever their name.",
  severity: "medium",
  validateStack: (args, reportViolation) => {
    for (const finding of checkPasswordBackedSecrets(args.resources)) {
      reportViolation(finding.problem, finding.urn);
    }
  },
};

const roleAssignment: ResourceValidationPolicy = {
  name: POLICY.roleAssignment,
  description:
    "Role assignments grant only Key Vault Secrets User, at the scope of a Key Vault or a secret in it, never wider; no Entra directory roles.",
  severity: "critical",
  validateResource: (args, reportViolation) => {
    if (TYPE.roleAssignment.test(args.type)) {
      for (const problem of checkRoleAssignment(args.props)) reportViolation(problem);
    }
    const refused = forbidden(FORBIDDEN_ROLE_GRANTS, args.type);
    if (refused) reportViolation(refused);
  },
};

const appRoleAssignment: ResourceValidationPolicy = {
  name: POLICY.appRoleAssignment,
  description: "Every app role assignment assigns a role of the configured Smartspace service principal.",
  severity: "critical",
  configSchema: {
    properties: {
      [SMARTSPACE_PRINCIPAL_CONFIG_KEY]: {
        type: "string",
        // JSON Schema patterns have no flags, so both cases are spelled out.
        pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description:
          "Object ID of the Smartspace enterprise application (service principal) in this environment's tenant; the stack output smartspaceServicePrincipalObjectId.",
      },
    },
    required: [SMARTSPACE_PRINCIPAL_CONFIG_KEY],
  },
  validateResource: (args, reportViolation) => {
    if (TYPE.appRoleAssignment.test(args.type)) {
      const config = args.getConfig<SmartspacePolicyConfig>();
      for (const problem of checkAppRoleAssignment(args.props, config[SMARTSPACE_PRINCIPAL_CONFIG_KEY])) {
        reportViolation(problem);
      }
    }
  },
};

/** The whole pack, every policy mandatory (the pack's default enforcement level). */
export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  passwordLifetime,
  passwordsPerApplication,
  integrationApplication,
  keyVault,
  credentialSecret,
  passwordBackedSecret,
  roleAssignment,
  appRoleAssignment,
];
