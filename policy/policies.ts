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
import { certificateSubject, certificateValidityMonths, KEY_VAULT_OBJECT_NAME } from "../rules/certificates";
import {
  FEDERATED_CREDENTIAL_NAME,
  MAX_FEDERATED_CREDENTIALS,
  MAX_ISSUER_LENGTH,
  MAX_SUBJECT_LENGTH,
  TOKEN_EXCHANGE_AUDIENCE,
} from "../rules/federated";
import { GUID } from "../rules/ids";
import { MAX_ROTATION_DAYS, MIN_ROTATION_DAYS } from "../rules/rotation";
import { endpointProblem } from "../rules/urls";

export const PACK_NAME = "smartspace-guardrails";

/** Built-in Azure role "Key Vault Secrets User" (read secret contents): the only role the stack may grant. */
export const KEY_VAULT_SECRETS_USER_ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6";
/** Entra ID's own ceiling for the stack's longest rotation (2 x 180 days) plus slack. */
export const MAX_PASSWORD_LIFETIME_DAYS = 365;
/** The same ceiling for the certificates registered on applications (Entra ID's key credentials). */
export const MAX_CERTIFICATE_LIFETIME_DAYS = 365;
export const MAX_PASSWORDS_PER_APPLICATION = 2;
export const SINGLE_TENANT_AUDIENCE = "AzureADMyOrg";
/** Key Vault's longest soft-delete retention, which the stack uses. */
export const MAX_SOFT_DELETE_RETENTION_DAYS = 90;

/** Names of the policies, as `--policy-pack-config` and violation messages refer to them. */
export const POLICY = {
  declaredTypes: "resource-types-declared-by-this-stack",
  passwordLifetime: "password-lifetime-at-most-365-days",
  certificateLifetime: "certificate-lifetime-at-most-365-days",
  secretless: "secretless-credentials-where-required",
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
  managedIdentityPrincipals: "managedIdentityPrincipalIds",
  secretless: "requireSecretless",
} as const;

/**
 * What a stack that requires secretless credentials refuses (`requireSecretless`, set per stack in
 * policy/stacks.yaml): `off` nothing; `no-client-secrets` client secrets (password credentials), so that
 * integrations use federated credentials, managed identities or Key Vault certificates; `no-stored-credentials`
 * certificates too, leaving only what stores no credential at all (federated credentials, managed identities).
 */
export const SECRETLESS_LEVELS = ["off", "no-client-secrets", "no-stored-credentials"] as const;
export type SecretlessLevel = (typeof SECRETLESS_LEVELS)[number];

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
  applicationCertificate: /^azuread:index\/applicationCertificate:ApplicationCertificate$/,
  federatedIdentityCredential:
    /^azuread:index\/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential$/,
  userAssignedIdentity: /^azure-native[^:]*:managedidentity(\/[a-z0-9]+)?:UserAssignedIdentity$/i,
  /** One version of an integration's Key Vault certificate (components/keyVaultCertificate.ts). */
  keyVaultCertificate: /^pulumi-nodejs:dynamic\/smartspace:KeyVaultCertificate$/,
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
// is refused like any undeclared type. Ownership (the credential is on an application this stack declares) and
// where its key comes from are checked by `credentials-only-on-stack-applications` from `owner` and
// `derivedFrom`; whether a stack allows the type at all by `secretless-credentials-where-required`.
// ---------------------------------------------------------------------------------------------------------

/** An input that must come from a resource this stack declares (the engine reports which, per input). */
export interface DeclaredSource {
  readonly property: string;
  readonly types: readonly RegExp[];
  /** What the input must be taken from, for the message. */
  readonly what: string;
}

export interface CredentialType extends DeclaredType {
  /**
   * What the credential belongs to: exactly one such resource of the stack. None for a managed identity (it is
   * its own principal) and a Key Vault certificate (it lives in the vault, which may be an existing one).
   */
  readonly owner?: DeclaredSource;
  /** Further inputs that must come from the stack's own resources. */
  readonly derivedFrom?: readonly DeclaredSource[];
  /** The most credentials of this type one owner may have. */
  readonly maxPerOwner?: { readonly count: number; readonly why: string };
  /** Problems with the credential's inputs; empty when it has the shape the stack declares. */
  readonly checkShape: (props: Props) => string[];
  /** For a Key Vault object readers may be granted: the vault and the secret that holds its key. */
  readonly readableSecret?: (props: Props) => { readonly vault: string; readonly secret: string } | undefined;
  /** The least strict `requireSecretless` level that refuses this type (none: always allowed). */
  readonly refusedFrom?: Exclude<SecretlessLevel, "off">;
}

const ON_STACK_APPLICATION: DeclaredSource = {
  property: "applicationId",
  types: [TYPE.application],
  what: "an application this stack declares",
};

/** Credential types of the credential modes, in the shape each mode declares (see the comment above). */
export const CREDENTIAL_MODE_TYPES: readonly CredentialType[] = [
  {
    type: TYPE.applicationCertificate,
    role: "application certificate",
    owner: ON_STACK_APPLICATION,
    // Only the public key of a version Key Vault generated: a certificate whose private key someone holds
    // elsewhere would be a credential nobody rotates or can revoke by rotating.
    derivedFrom: [
      {
        property: "value",
        types: [TYPE.keyVaultCertificate],
        what: "a Key Vault certificate version this stack declares (whose key Key Vault generated)",
      },
    ],
    maxPerOwner: { count: 2, why: "the two-slot rotation needs exactly two" },
    checkShape: checkApplicationCertificate,
    refusedFrom: "no-stored-credentials",
  },
  {
    type: TYPE.federatedIdentityCredential,
    role: "federated identity credential",
    owner: ON_STACK_APPLICATION,
    maxPerOwner: { count: MAX_FEDERATED_CREDENTIALS, why: "Entra ID's limit per application" },
    checkShape: checkFederatedCredential,
  },
  {
    type: TYPE.userAssignedIdentity,
    role: "user-assigned managed identity",
    checkShape: checkUserAssignedIdentity,
  },
  {
    type: TYPE.keyVaultCertificate,
    role: "Key Vault certificate version",
    checkShape: checkKeyVaultCertificate,
    readableSecret: (props) => {
      const vault = vaultNameOf(props.vaultUrl);
      return vault !== undefined && typeof props.certificateName === "string"
        ? { vault, secret: props.certificateName }
        : undefined;
    },
    refusedFrom: "no-stored-credentials",
  },
];

/** The client-secret slots, described like a credential mode so that one ownership rule covers every credential. */
const PASSWORD_CREDENTIAL: CredentialType = {
  type: TYPE.applicationPassword,
  role: "client secret slot",
  owner: ON_STACK_APPLICATION,
  checkShape: () => [],
  refusedFrom: "no-client-secrets",
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
 * A credential (a password, or a certificate registered on an application) lives at most `maxDays`. Without
 * `startDate` Entra ID starts it when it is created (a certificate: at the certificate's own start, which
 * Key Vault sets when it issues the version), so the lifetime is measured from `now`; without `endDate`
 * Entra ID would choose one, so it is required.
 */
export function checkCredentialLifetime(
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

/** The first DNS label of a vault URL (`https://<vault>.vault.azure.net/`): the vault's name. */
function vaultNameOf(vaultUrl: unknown): string | undefined {
  if (typeof vaultUrl !== "string" || endpointProblem(vaultUrl) !== undefined) return undefined;
  return new URL(vaultUrl).hostname.split(".")[0];
}

/**
 * A certificate registered on an application is an X.509 public key, as the DER certificate Key Vault
 * returns (base64): never a symmetric key, which is a shared secret under another name.
 */
export function checkApplicationCertificate(props: Props): string[] {
  const problems: string[] = [];
  if (props.type !== "AsymmetricX509Cert") {
    problems.push(
      `type is ${show(props.type)}; register only public keys ("AsymmetricX509Cert"): a symmetric key is a shared secret`,
    );
  }
  if (props.encoding !== "base64") {
    problems.push(
      `encoding is ${show(props.encoding)}; the stack registers the DER certificate Key Vault returns, as "base64"`,
    );
  }
  return problems;
}

/**
 * A federated identity credential trusts one exact issuer and subject, for the token exchange audience only
 * (Entra ID matches all three exactly; a token for another audience is one minted for something else).
 */
export function checkFederatedCredential(props: Props): string[] {
  const problems: string[] = [];
  const audiences = props.audiences;
  if (!Array.isArray(audiences) || audiences.length !== 1 || audiences[0] !== TOKEN_EXCHANGE_AUDIENCE) {
    problems.push(
      `audiences is ${show(audiences)}; federated credentials accept exactly ["${TOKEN_EXCHANGE_AUDIENCE}"], the audience of Entra ID's token exchange`,
    );
  }
  const issuer = props.issuer;
  const issuerProblem = endpointProblem(issuer);
  if (issuerProblem !== undefined || (issuer as string).length > MAX_ISSUER_LENGTH) {
    problems.push(
      `issuer ${show(issuer)}: ${issuerProblem ?? `at most ${MAX_ISSUER_LENGTH} characters`}; trust only an https issuer`,
    );
  }
  const subject = props.subject;
  if (typeof subject !== "string" || subject.trim() === "" || subject.length > MAX_SUBJECT_LENGTH) {
    problems.push(
      `subject is ${show(subject)}; trust one exact, non-empty subject of at most ${MAX_SUBJECT_LENGTH} characters`,
    );
  }
  if (typeof props.displayName !== "string" || !FEDERATED_CREDENTIAL_NAME.test(props.displayName)) {
    problems.push(
      `displayName is ${show(props.displayName)}; use the name the stack derives from the subject (3-120 letters, digits, '-' or '_')`,
    );
  }
  return problems;
}

/** A user-assigned managed identity the stack creates carries the name configuration gives it. */
export function checkUserAssignedIdentity(props: Props): string[] {
  const name = props.resourceName;
  return typeof name === "string" && /^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$/.test(name)
    ? []
    : [
        `resourceName is ${show(name)}; the stack names each identity it creates (credential.displayName, default smartspace-<name>-<stack>)`,
      ];
}

/**
 * The inputs of a Key Vault certificate version (providers/keyVaultCertificate.ts), and nothing else. Spelled
 * out here rather than imported, like every rule of the pack: a new provider input must be reviewed here.
 */
const KEY_VAULT_CERTIFICATE_INPUTS = new Set([
  "vaultUrl",
  "certificateName",
  "slot",
  "generation",
  "rotationDays",
  "subject",
  "validityInMonths",
  "keySize",
  "tags",
  "providerVersion",
  // The current slot's version only: the version of the same certificate it is issued after.
  "issuedAfter",
  "__provider",
]);
const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----/;

function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  return isRecord(value) ? Object.values(value).flatMap(strings) : [];
}

/**
 * A Key Vault certificate version is issued under the one policy the provider fixes (clients/keyVaultCertificates.ts:
 * an RSA key generated inside Key Vault, exportable so the configured readers can load it, a new key every
 * version, never auto-renewed), for an integration's certificate, with the validity its rotation needs. No
 * input may carry key material or another key policy: only the inputs the stack declares are allowed.
 */
export function checkKeyVaultCertificate(props: Props): string[] {
  const problems: string[] = [];
  const extra = Object.keys(props).filter(
    (key) => props[key] !== undefined && !KEY_VAULT_CERTIFICATE_INPUTS.has(key),
  );
  if (extra.length > 0) {
    problems.push(
      `has inputs ${show(extra)} the stack does not declare; Key Vault generates the key under the provider's fixed policy, and no input may carry key material or change that policy`,
    );
  }
  if (strings(props).some((text) => PEM_BLOCK.test(text))) {
    problems.push(
      "an input holds PEM data; the key is generated in Key Vault and never passes through inputs",
    );
  }
  const provider = props.__provider;
  if (
    typeof provider !== "string" ||
    !provider.includes('"keyVaultCertificate"') ||
    !provider.includes("providers/index.ts")
  ) {
    problems.push(
      "its provider is not the project's KeyVaultCertificate shim (components/keyVaultCertificate.ts), which loads providers/index.ts",
    );
  }
  const name = typeof props.certificateName === "string" ? props.certificateName : "";
  const integration = /^smartspace-(.+)-client-cert$/.exec(name)?.[1];
  if (integration === undefined || !KEY_VAULT_OBJECT_NAME.test(name)) {
    problems.push(
      `certificateName is ${show(props.certificateName)}; the stack issues smartspace-<integration>-client-cert only`,
    );
  } else {
    if (props.subject !== certificateSubject(integration)) {
      problems.push(`subject is ${show(props.subject)}; expected ${certificateSubject(integration)}`);
    }
    const tags = record(props.tags);
    if (
      Object.keys(tags).some((key) => key !== "smartspace-integration") ||
      tags["smartspace-integration"] !== integration
    ) {
      problems.push(
        `tags are ${show(props.tags)}; expected only {"smartspace-integration": "${integration}"}`,
      );
    }
  }
  if (vaultNameOf(props.vaultUrl) === undefined) {
    problems.push(`vaultUrl is ${show(props.vaultUrl)}; use the vault's https URL`);
  } else if (
    props.issuedAfter !== undefined &&
    (typeof props.issuedAfter !== "string" ||
      !props.issuedAfter
        .toLowerCase()
        .startsWith(`${new URL(String(props.vaultUrl)).origin}/certificates/${name}/`.toLowerCase()))
  ) {
    problems.push(
      `issuedAfter is ${show(props.issuedAfter)}; expected a version of the same certificate in the same vault`,
    );
  }
  if (props.slot !== "a" && props.slot !== "b") {
    problems.push(`slot is ${show(props.slot)}; expected "a" or "b"`);
  }
  if (typeof props.generation !== "string" || !/^-?\d+$/.test(props.generation)) {
    problems.push(`generation is ${show(props.generation)}; expected a whole number as a string`);
  }
  const rotationDays = props.rotationDays;
  if (
    typeof rotationDays !== "number" ||
    !Number.isInteger(rotationDays) ||
    rotationDays < MIN_ROTATION_DAYS ||
    rotationDays > MAX_ROTATION_DAYS
  ) {
    problems.push(
      `rotationDays is ${show(rotationDays)}; expected ${MIN_ROTATION_DAYS} to ${MAX_ROTATION_DAYS} days`,
    );
  } else if (props.validityInMonths !== certificateValidityMonths(rotationDays)) {
    problems.push(
      `validityInMonths is ${show(props.validityInMonths)}; a version rotating every ${rotationDays} days is valid ${certificateValidityMonths(rotationDays)} months`,
    );
  }
  if (props.keySize !== 2048 && props.keySize !== 3072 && props.keySize !== 4096) {
    problems.push(`keySize is ${show(props.keySize)}; use an RSA key of 2048, 3072 or 4096 bits`);
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

/**
 * A role assignment grants Key Vault Secrets User to a service principal on one secret (or certificate):
 * never on a vault, which may hold other integrations, and never wider.
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

function isOfType(resource: StackResource, types: readonly RegExp[]): boolean {
  return types.some((type) => type.test(resource.type));
}

/**
 * What a credential belongs to, as a stable key: the owning resource's URN when the credential depends on it
 * (known even during a preview, before IDs exist), else the owner input's value.
 */
function ownerKey(credential: StackResource, owner: DeclaredSource): string | undefined {
  const viaProperty = (credential.propertyDependencies?.[owner.property] ?? []).find((dep) =>
    isOfType(dep, owner.types),
  );
  if (viaProperty) return viaProperty.urn;
  const candidates = credential.dependencies.filter((dep) => isOfType(dep, owner.types));
  if (candidates.length === 1) return candidates[0].urn;
  const value = credential.props[owner.property];
  return typeof value === "string" ? value.toLowerCase() : undefined;
}

export interface CredentialCount {
  /** The owner's URN or resource ID. */
  readonly owner: string;
  /** Names of the credential resources. */
  readonly credentials: readonly string[];
}

/** Credentials of one type declared per owner (client secrets per application, for example). */
export function countCredentialsPerOwner(
  resources: readonly StackResource[],
  credential: CredentialType,
): CredentialCount[] {
  const byOwner = new Map<string, string[]>();
  const owner = credential.owner;
  if (owner === undefined) return [];
  for (const resource of resources) {
    if (!credential.type.test(resource.type)) continue;
    const key = ownerKey(resource, owner) ?? "(unknown owner)";
    byOwner.set(key, [...(byOwner.get(key) ?? []), resource.name]);
  }
  return [...byOwner.entries()].map(([key, credentials]) => ({ owner: key, credentials }));
}

export function checkPasswordsPerApplication(resources: readonly StackResource[]): string[] {
  return countCredentialsPerOwner(resources, PASSWORD_CREDENTIAL)
    .filter((entry) => entry.credentials.length > MAX_PASSWORDS_PER_APPLICATION)
    .map(
      (entry) =>
        `application ${entry.owner} has ${entry.credentials.length} client secrets (${entry.credentials.join(", ")}); ` +
        `the two-slot rotation needs exactly ${MAX_PASSWORDS_PER_APPLICATION}, and every extra secret is one more credential to leak`,
    );
}

interface Finding {
  /** The resource at fault; none for a problem of several (too many credentials on one owner). */
  readonly urn?: string;
  readonly problem: string;
}

/**
 * Credentials (passwords, and the credential modes' types) are added only to applications this stack declares
 * and only in the shape the stack declares them: the input naming the owner must depend on such a resource
 * (a credential on an application given by ID, someone else's or one of ours named by its ID, is a backdoor
 * the stack has no reason to create), inputs such as a certificate's public key must come from the stack's own
 * resources, and no owner has more of a type than the stack declares.
 */
export function checkCredentialOwnership(resources: readonly StackResource[]): Finding[] {
  const findings: Finding[] = [];
  for (const resource of resources) {
    const credential = credentialTypes().find((candidate) => candidate.type.test(resource.type));
    if (!credential) continue;
    const about = (problem: string) =>
      findings.push({ urn: resource.urn, problem: `${credential.role} ${resource.name}: ${problem}` });
    const { owner } = credential;
    if (
      owner &&
      dependenciesOf(resource, owner.property).filter((dep) => isOfType(dep, owner.types)).length !== 1
    ) {
      about(
        `${owner.property} ${show(resource.props[owner.property])} is not taken from ${owner.what}; credentials are added only to the stack's own applications`,
      );
    }
    for (const source of credential.derivedFrom ?? []) {
      if (!dependenciesOf(resource, source.property).some((dep) => isOfType(dep, source.types))) {
        about(`${source.property} is not taken from ${source.what}`);
      }
    }
    for (const problem of credential.checkShape(resource.props)) about(problem);
  }
  for (const credential of CREDENTIAL_MODE_TYPES) {
    const limit = credential.maxPerOwner;
    if (limit === undefined) continue;
    for (const entry of countCredentialsPerOwner(resources, credential)) {
      if (entry.credentials.length > limit.count) {
        findings.push({
          problem: `${entry.owner} has ${entry.credentials.length} ${credential.role}s (${entry.credentials.join(", ")}); at most ${limit.count}: ${limit.why}`,
        });
      }
    }
  }
  return findings;
}

const SECRET_IN_VAULT = /\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)\/secrets\/([^/]+)$/i;

/**
 * Whether a role assignment's scope is a secret this stack declares: one it writes (the scope depends on it),
 * or the secret Key Vault keeps beside a certificate this stack issues (it exists with the certificate and is
 * not declared itself: the grant depends on the certificate's versions and names their vault and certificate).
 */
function grantsDeclaredSecret(assignment: StackResource): boolean {
  if (dependenciesOf(assignment, "scope").some((dep) => TYPE.keyVaultSecret.test(dep.type))) return true;
  const scope = SECRET_IN_VAULT.exec(
    typeof assignment.props.scope === "string" ? assignment.props.scope : "",
  );
  if (!scope) return false;
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  return assignment.dependencies.some((dep) => {
    const secret = CREDENTIAL_MODE_TYPES.find((credential) =>
      credential.type.test(dep.type),
    )?.readableSecret?.(dep.props);
    return secret !== undefined && same(secret.vault, scope[1]) && same(secret.secret, scope[2]);
  });
}

/** Reader role assignments are scoped to a secret (or a certificate's secret) that this stack declares. */
export function checkRoleAssignmentTargets(resources: readonly StackResource[]): Finding[] {
  return resources
    .filter((resource) => TYPE.roleAssignment.test(resource.type))
    .filter((resource) => !grantsDeclaredSecret(resource))
    .map((resource) => ({
      urn: resource.urn,
      problem: `role assignment ${resource.name} is scoped to ${show(resource.props.scope)}, which is not a secret this stack declares (nor the secret of a certificate it issues); readers are granted only this stack's secrets`,
    }));
}

/**
 * App role assignments go to principals this stack declares (an integration's service principal, or a
 * managed identity it creates), or to an existing managed identity the stack file names
 * (`integrations[].credential.principalId`, passed in the pack config), never to another principal.
 */
export function checkAppRoleAssignmentPrincipals(
  resources: readonly StackResource[],
  managedIdentityPrincipals: readonly string[] = [],
): Finding[] {
  const named = new Set(managedIdentityPrincipals.map((id) => id.toLowerCase()));
  return resources
    .filter((resource) => TYPE.appRoleAssignment.test(resource.type))
    .filter(
      (resource) =>
        !dependenciesOf(resource, "principalObjectId").some((dep) =>
          isOfType(dep, [TYPE.servicePrincipal, TYPE.userAssignedIdentity]),
        ),
    )
    .filter((resource) => {
      const principal = resource.props.principalObjectId;
      return typeof principal !== "string" || !named.has(principal.toLowerCase());
    })
    .map((resource) => ({
      urn: resource.urn,
      problem: `app role assignment ${resource.name} assigns the Smartspace role to ${show(resource.props.principalObjectId)}, which is not a service principal or managed identity this stack declares, nor a managed identity the stack file names (integrations[].credential.principalId)`,
    }));
}

/**
 * Where a stack requires secretless credentials, the types it refuses are not declared at all: at
 * `no-client-secrets` client secrets, at `no-stored-credentials` certificates too.
 */
export function checkSecretless(type: string, level: SecretlessLevel = "off"): string[] {
  const rank = (candidate: SecretlessLevel) => SECRETLESS_LEVELS.indexOf(candidate);
  const refused = credentialTypes().find(
    (credential) =>
      credential.refusedFrom !== undefined &&
      credential.type.test(type) &&
      rank(level) >= rank(credential.refusedFrom),
  );
  if (refused === undefined) return [];
  const instead =
    level === "no-client-secrets"
      ? "federated, managedIdentity or certificate"
      : "federated or managedIdentity";
  return [
    `a ${refused.role} is not allowed: this stack requires secretless credentials (limits.requireSecretless: ${level} in policy/stacks.yaml); give the integration credential type ${instead}`,
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Policies: route resources to the checks, with each policy's config.
// ---------------------------------------------------------------------------------------------------------

const GUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

export interface SmartspacePolicyConfig {
  readonly [CONFIG.smartspacePrincipal]?: string;
  readonly [CONFIG.smartspaceAppRole]?: string;
  readonly [CONFIG.managedIdentityPrincipals]?: readonly string[];
}

const declaredTypes: ResourceValidationPolicy = {
  name: POLICY.declaredTypes,
  description:
    "Only the resource types this stack declares (an allowlist): no owner, directory role, role definition, access policy or credential type beyond the credential modes' can enter through code.",
  severity: "critical",
  validateResource: (args, reportViolation) => {
    for (const problem of checkDeclaredType(args.type)) reportViolation(problem);
  },
};

/** A policy limiting the lifetime of credentials of `types` to the stack's `maxDays` (at most `ceiling`). */
function lifetimePolicy(
  name: PolicyName,
  what: string,
  types: readonly RegExp[],
  ceiling: number,
): ResourceValidationPolicy {
  return {
    name,
    description: `${what} live at most ${ceiling} days (less where the stack's settings say so).`,
    severity: "high",
    configSchema: {
      properties: {
        [CONFIG.maxDays]: { type: "integer", minimum: 1, maximum: ceiling, default: ceiling },
      },
    },
    validateResource: (args, reportViolation) => {
      if (types.some((type) => type.test(args.type))) {
        const maxDays = args.getConfig<{ [CONFIG.maxDays]?: number }>()[CONFIG.maxDays] ?? ceiling;
        for (const problem of checkCredentialLifetime(args.props, new Date(), maxDays))
          reportViolation(problem);
      }
    },
  };
}

const passwordLifetime = lifetimePolicy(
  POLICY.passwordLifetime,
  "Client secrets",
  [TYPE.applicationPassword, TYPE.servicePrincipalPassword],
  MAX_PASSWORD_LIFETIME_DAYS,
);

const certificateLifetime = lifetimePolicy(
  POLICY.certificateLifetime,
  "Certificates registered on applications",
  [TYPE.applicationCertificate],
  MAX_CERTIFICATE_LIFETIME_DAYS,
);

const secretless: ResourceValidationPolicy = {
  name: POLICY.secretless,
  description:
    "Where a stack requires secretless credentials, it declares no client secrets (and, at the strictest level, no certificates).",
  severity: "high",
  configSchema: {
    properties: {
      [CONFIG.secretless]: { type: "string", enum: [...SECRETLESS_LEVELS], default: "off" },
    },
  },
  validateResource: (args, reportViolation) => {
    const level = args.getConfig<{ [CONFIG.secretless]?: SecretlessLevel }>()[CONFIG.secretless];
    for (const problem of checkSecretless(args.type, level)) reportViolation(problem);
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
    "Every app role assignment assigns the configured Smartspace role of the configured Smartspace service principal to a principal this stack declares (or an existing managed identity its stack file names).",
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
      [CONFIG.managedIdentityPrincipals]: {
        type: "array",
        items: { type: "string", pattern: GUID_PATTERN },
        description:
          "Principal IDs of existing managed identities the stack file names as integrations (integrations[].credential.principalId; npm run policy:config)",
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
    for (const finding of checkAppRoleAssignmentPrincipals(
      args.resources,
      config[CONFIG.managedIdentityPrincipals],
    ))
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
  certificateLifetime,
  secretless,
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
