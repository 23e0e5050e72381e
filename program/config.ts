/**
 * The stack's configuration: the only module that reads Pulumi config.
 *
 * Every key of ours lives in the project namespace (`smartspace-integration:`). All of it is validated
 * against one schema before any resource is declared, so a typo or a malformed ID fails `pulumi preview` with
 * a message naming the key, the bad value and the expected form, instead of half-creating an environment.
 * The same validation refuses keys in a namespace nothing reads (a misspelt project name) and the example
 * stack file's placeholders, in every namespace, so that neither silently reaches Azure.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { DEFAULT_ROTATION_DAYS, MAX_ROTATION_DAYS, MIN_ROTATION_DAYS } from "../rules/rotation";
import {
  FEDERATED_CREDENTIAL_NAME,
  FEDERATED_CREDENTIAL_NAME_EXPECTED,
  type FederatedSubject,
  GITHUB_ACTIONS_ISSUER,
  type GitHubRef,
  MAX_FEDERATED_CREDENTIALS,
  MAX_ISSUER_LENGTH,
  MAX_SUBJECT_LENGTH,
  githubCredentialName,
  githubSubject,
  kubernetesCredentialName,
  kubernetesSubject,
  managedIdentityCredentialName,
} from "../rules/federated";
import { GUID } from "../rules/ids";

export type { FederatedSubject };
import { API_SCOPE, API_SCOPE_EXPECTED } from "../rules/scopes";
import { ENDPOINT_EXPECTED, isEndpoint } from "../rules/urls";

export const PROJECT = "smartspace-integration";

export const DEFAULT_ROLE_NAME = "Integrations";

/**
 * Namespaces a stack's config may use: ours, the providers the program declares resources with, and the
 * engine's own (`pulumi:tags`, ...). A key in any other namespace is read by nothing.
 */
export const KNOWN_NAMESPACES: readonly string[] = [PROJECT, "azure-native", "azuread", "random", "pulumi"];

/**
 * A value left to fill in: `<what goes here>`, as Pulumi.dev.yaml writes them. (The all-zero IDs of earlier
 * examples stay valid GUIDs: refusing them would refuse configurations recorded from those releases.)
 */
const PLACEHOLDER = /^<[^<>]*>$/;

/** Where to find the value of a key, for the placeholder message. Paths with list indices removed. */
const WHERE_TO_FIND: Readonly<Record<string, string>> = {
  [`${PROJECT}:smartspace.appClientId`]:
    "the Smartspace app's client ID (Smartspace admin portal > Admin API documentation > CLI Setup)",
  [`${PROJECT}:smartspace.appDisplayName`]: "the Smartspace app's name (Entra ID > Enterprise applications)",
  [`${PROJECT}:smartspace.adminApiUrl`]:
    "the Smartspace admin API URL (admin portal), or remove it and the workspaces",
  [`${PROJECT}:smartspace.chatApiUrl`]: "the Smartspace Chat API URL (admin portal), or remove it",
  [`${PROJECT}:smartspace.adminApiScope`]: "api://<Smartspace app client ID>/.default, or remove it",
  [`${PROJECT}:keyVault.resourceGroupName`]:
    "an existing resource group for the vault (az group list -o table)",
  [`${PROJECT}:keyVault.id`]: "an existing vault's resource ID (az keyvault show -n <vault> --query id)",
  [`${PROJECT}:keyVault.name`]: "a globally unique vault name, or remove it",
  [`${PROJECT}:keyVault.location`]: "an Azure region (az account list-locations -o table), or remove it",
  [`${PROJECT}:integrations.workspaces`]: "a Smartspace workspace ID (admin portal), or remove it",
  [`${PROJECT}:integrations.secretReaders`]:
    "a managed identity's object ID (az functionapp identity show -g <group> -n <app>), or remove it",
  [`${PROJECT}:integrations.owners`]:
    "a user's or service principal's object ID (az ad user show --id <user>), or remove it",
  [`${PROJECT}:integrations.name`]: "a name: 3-40 lowercase letters, digits or hyphens",
  [`${PROJECT}:deployerObjectId`]:
    "the deploy identity's object ID (az ad sp show --id <client ID> --query id), or remove it",
  "azure-native:location": "an Azure region (az account list-locations -o table), or remove it",
  "azure-native:subscriptionId": "a subscription ID (az account show --query id), or remove it",
  "azuread:tenantId": "your tenant ID (az account show --query tenantId), or remove it",
};

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
// GitHub: owner 1-39 letters, digits or hyphens (not leading); repository 1-100 letters, digits, '.', '-', '_'.
const GITHUB_REPOSITORY = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/;
const GITHUB_REFS = ["environment", "branch", "tag", "pullRequest"] as const;
// Kubernetes: a namespace is a DNS label, a service account name a DNS subdomain.
const KUBERNETES_NAMESPACE = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const KUBERNETES_SERVICE_ACCOUNT =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Azure: a user-assigned managed identity's name.
const MANAGED_IDENTITY_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$/;

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
  githubRepository: "use owner/repo as on GitHub, such as contoso/crm (matched exactly, case included)",
  githubEnvironment: "use a GitHub environment name (1-255 characters, no surrounding spaces)",
  issuer: `use the https:// issuer URL exactly as in the tokens' iss claim, trailing slash included (at most ${MAX_ISSUER_LENGTH} characters)`,
  subject: `use the tokens' sub claim exactly (1-${MAX_SUBJECT_LENGTH} characters, no surrounding spaces)`,
  kubernetesNamespace: "use a Kubernetes namespace name (1-63 lowercase letters, digits or '-')",
  kubernetesServiceAccount:
    "use a Kubernetes service account name (1-253 lowercase letters, digits, '-' or '.')",
  managedIdentityName: "use 3-128 letters, digits, '-' or '_', starting with a letter or digit",
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

const rotationDays = z
  .number({ error: EXPECTED.rotationDays })
  .int({ error: EXPECTED.rotationDays })
  .min(MIN_ROTATION_DAYS, { error: EXPECTED.rotationDays })
  .max(MAX_ROTATION_DAYS, { error: EXPECTED.rotationDays });
const readers = uniqueList(guid, "reader object IDs");

/** A key that exists for other credential types only: named, so the message can say why it does not apply. */
const notApplicable = (why: string) => z.never({ error: why }).optional();
const NO_ROTATION = {
  federated: "does not apply to federated credentials: nothing is stored, so nothing rotates; remove it",
  managedIdentity: "does not apply to a managed identity: Azure rotates its credentials; remove it",
};

/** A ref name as GitHub puts it in the subject (after refs/heads/ or refs/tags/). */
const gitRefName = (what: "branch" | "tag") => {
  const expected = `use a ${what} name such as ${what === "branch" ? "main" : "v1.2.0"}, without refs/${what === "branch" ? "heads" : "tags"}/ and without wildcards (federated credentials match exactly)`;
  return z
    .string({ error: expected })
    .min(1, { error: expected })
    .max(255, { error: expected })
    .refine((value) => !/\s|[*?[\]:~^\\]|\.\.|^refs\/|^-|\/$|^\/|\.lock$/.test(value), { error: expected });
};
const githubEnvironment = z
  .string({ error: EXPECTED.githubEnvironment })
  .min(1, { error: EXPECTED.githubEnvironment })
  .max(255, { error: EXPECTED.githubEnvironment })
  .refine((value) => value.trim() === value && !/\p{Cc}/u.test(value), {
    error: EXPECTED.githubEnvironment,
  });
const issuer = z
  .string({ error: EXPECTED.issuer })
  .max(MAX_ISSUER_LENGTH, { error: EXPECTED.issuer })
  .refine((value) => value.trim() === value && isEndpoint(value), { error: EXPECTED.issuer });
const subject = z
  .string({ error: EXPECTED.subject })
  .min(1, { error: EXPECTED.subject })
  .max(MAX_SUBJECT_LENGTH, { error: EXPECTED.subject })
  .refine((value) => value.trim() === value, { error: EXPECTED.subject });

const githubSchema = z
  .strictObject(
    {
      repository: z
        .string({ error: EXPECTED.githubRepository })
        .regex(GITHUB_REPOSITORY, { error: EXPECTED.githubRepository }),
      environment: githubEnvironment.optional(),
      branch: gitRefName("branch").optional(),
      tag: gitRefName("tag").optional(),
      pullRequest: z.literal(true, { error: "use true (trust pull_request runs), or remove it" }).optional(),
    },
    { error: "use an object with repository and one of environment, branch, tag or pullRequest" },
  )
  .superRefine((value, ctx) => {
    const given = GITHUB_REFS.filter((key) => value[key] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: given.length === 0 ? [] : [given[1]],
        input: given.length === 0 ? value : value[given[1]],
        message: `use exactly one of ${GITHUB_REFS.join(", ")}: each trusts different runs, so list them as separate subjects`,
      });
    }
  });

const kubernetesSchema = z.strictObject(
  {
    issuer,
    namespace: z
      .string({ error: EXPECTED.kubernetesNamespace })
      .regex(KUBERNETES_NAMESPACE, { error: EXPECTED.kubernetesNamespace }),
    serviceAccount: z
      .string({ error: EXPECTED.kubernetesServiceAccount })
      .regex(KUBERNETES_SERVICE_ACCOUNT, { error: EXPECTED.kubernetesServiceAccount }),
  },
  { error: "use an object with issuer (the cluster's OIDC issuer URL), namespace and serviceAccount" },
);

const SUBJECT_FORMS = "exactly one of github, kubernetes or managedIdentity, or name, issuer and subject";
const subjectSchema = z
  .strictObject(
    {
      github: githubSchema.optional(),
      kubernetes: kubernetesSchema.optional(),
      managedIdentity: z
        .strictObject(
          { principalId: guid },
          { error: "use an object with principalId (the user-assigned managed identity's object ID)" },
        )
        .optional(),
      name: z
        .string({ error: FEDERATED_CREDENTIAL_NAME_EXPECTED })
        .regex(FEDERATED_CREDENTIAL_NAME, { error: FEDERATED_CREDENTIAL_NAME_EXPECTED })
        .optional(),
      issuer: issuer.optional(),
      subject: subject.optional(),
    },
    { error: `use an object with ${SUBJECT_FORMS}` },
  )
  .superRefine((value, ctx) => {
    const forms = (["github", "kubernetes", "managedIdentity"] as const).filter(
      (key) => value[key] !== undefined,
    );
    const custom = (["name", "issuer", "subject"] as const).filter((key) => value[key] !== undefined);
    if (forms.length + (custom.length > 0 ? 1 : 0) !== 1) {
      const extra = forms.length > 1 ? forms[1] : custom[0];
      ctx.addIssue({
        code: "custom",
        path: extra === undefined ? [] : [extra],
        input: extra === undefined ? value : value[extra],
        message: `use ${SUBJECT_FORMS}`,
      });
    } else if (custom.length > 0) {
      for (const key of ["name", "issuer", "subject"] as const) {
        if (value[key] === undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            input: undefined,
            message: "is required: a custom subject needs name, issuer and subject",
          });
        }
      }
    }
  });

type RawSubject = z.output<typeof subjectSchema>;

const subjectsSchema = z
  .array(subjectSchema, { error: `use a list of subjects, each with ${SUBJECT_FORMS}` })
  .min(1, { error: "list at least one subject: a federated credential without subjects trusts nothing" })
  .max(MAX_FEDERATED_CREDENTIALS, {
    error: `list at most ${MAX_FEDERATED_CREDENTIALS} subjects: Entra ID allows ${MAX_FEDERATED_CREDENTIALS} federated credentials per application`,
  })
  .superRefine((subjects, ctx) => {
    const names = new Map<string, number>();
    const pairs = new Map<string, number>();
    subjects.forEach((raw, index) => {
      const normalized = federatedSubject(raw);
      if (normalized === undefined) return;
      const pair = JSON.stringify(
        normalized.kind === "managedIdentity"
          ? ["tenant", normalized.subject]
          : [normalized.issuer, normalized.subject],
      );
      const name = normalized.name.toLowerCase();
      if (pairs.has(pair)) {
        ctx.addIssue({
          code: "custom",
          path: [index],
          input: raw,
          message: `duplicate of subjects[${pairs.get(pair)}]: Entra ID allows each issuer and subject once per application`,
        });
      } else if (names.has(name)) {
        ctx.addIssue({
          code: "custom",
          path: [index],
          input: raw,
          message: `its credential name ${normalized.name} is already used by subjects[${names.get(name)}]; give one of them another name`,
        });
      }
      pairs.set(pair, pairs.get(pair) ?? index);
      names.set(name, names.get(name) ?? index);
    });
  });

const secretCredentialSchema = z.strictObject({
  type: z.literal("secret"),
  rotationDays: rotationDays.optional(),
  readers: readers.optional(),
});
const certificateCredentialSchema = z.strictObject({
  type: z.literal("certificate"),
  rotationDays: rotationDays.optional(),
  readers: readers.optional(),
});
const federatedCredentialSchema = z.strictObject({
  type: z.literal("federated"),
  subjects: subjectsSchema,
  readers: readers.optional(),
  rotationDays: notApplicable(NO_ROTATION.federated),
});
const managedIdentityCredentialSchema = z
  .strictObject({
    type: z.literal("managedIdentity"),
    principalId: guid.optional(),
    create: z
      .strictObject(
        {
          resourceGroupName: z
            .string({ error: EXPECTED.resourceGroupName })
            .regex(RESOURCE_GROUP_NAME, { error: EXPECTED.resourceGroupName }),
          location: z
            .string({ error: EXPECTED.location })
            .regex(AZURE_LOCATION, { error: EXPECTED.location })
            .optional(),
        },
        { error: "use an object with resourceGroupName and, optionally, location" },
      )
      .optional(),
    rotationDays: notApplicable(NO_ROTATION.managedIdentity),
    readers: notApplicable(
      "does not apply to a managed identity: there is no credential to store or read; remove it",
    ),
  })
  .superRefine((value, ctx) => {
    if ((value.principalId === undefined) === (value.create === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: value.principalId === undefined ? ["principalId"] : ["create"],
        input: value.principalId === undefined ? undefined : value.create,
        message:
          "set exactly one of principalId (an existing managed identity's object ID) or create (a new user-assigned identity)",
      });
    }
  });

export const CREDENTIAL_TYPES = ["secret", "certificate", "federated", "managedIdentity"] as const;
export type CredentialType = (typeof CREDENTIAL_TYPES)[number];

const credentialSchema = z.discriminatedUnion(
  "type",
  [
    secretCredentialSchema,
    certificateCredentialSchema,
    federatedCredentialSchema,
    managedIdentityCredentialSchema,
  ],
  { error: `use an object whose type is one of ${CREDENTIAL_TYPES.join(", ")}` },
);

/** The keys each credential type accepts, for "unknown key" messages. */
const CREDENTIAL_KEYS: Record<CredentialType, readonly string[]> = {
  secret: ["type", "rotationDays", "readers"],
  certificate: ["type", "rotationDays", "readers"],
  federated: ["type", "subjects", "readers"],
  managedIdentity: ["type", "principalId", "create"],
};

const integrationSchema = z
  .strictObject(
    {
      name: z
        .string({ error: EXPECTED.integrationName })
        .regex(INTEGRATION_NAME, { error: EXPECTED.integrationName }),
      displayName: displayName.optional(),
      owners: uniqueList(guid, "owner object IDs").default([]),
      workspaces: uniqueList(guid, "workspace IDs").default([]),
      credential: credentialSchema.optional(),
      // The keys of the client secret, from before credential types: still accepted for type secret.
      rotationDays: rotationDays.optional(),
      secretReaders: uniqueList(guid, "secret reader object IDs").optional(),
    },
    { error: "use an object with at least a name" },
  )
  .superRefine((value, ctx) => {
    const type = value.credential?.type ?? "secret";
    const legacy = [
      ["rotationDays", "rotationDays"],
      ["secretReaders", "readers"],
    ] as const;
    for (const [key, credentialKey] of legacy) {
      if (value[key] === undefined) continue;
      let message: string | undefined;
      if (type !== "secret") {
        message = CREDENTIAL_KEYS[type].includes(credentialKey)
          ? `applies to client secrets only; for credential type ${type} set credential.${credentialKey}`
          : `does not apply to credential type ${type}; remove it`;
      } else if (value.credential?.[credentialKey] !== undefined) {
        message = `is set twice: keep credential.${credentialKey} and remove this one`;
      }
      if (message !== undefined) {
        ctx.addIssue({ code: "custom", path: [key], input: value[key], message });
      }
    }
    if (type === "managedIdentity") {
      const credential = value.credential as z.output<typeof managedIdentityCredentialSchema>;
      if (value.owners.length > 0) {
        ctx.addIssue({
          code: "custom",
          path: ["owners"],
          input: value.owners,
          message: "does not apply to a managed identity: there is no application to own; remove it",
        });
      }
      if (value.displayName !== undefined && credential.principalId !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["displayName"],
          input: value.displayName,
          message: "does not apply to an existing managed identity, which keeps its own name; remove it",
        });
      }
      if (value.displayName !== undefined && credential.create !== undefined) {
        if (!MANAGED_IDENTITY_NAME.test(value.displayName)) {
          ctx.addIssue({
            code: "custom",
            path: ["displayName"],
            input: value.displayName,
            message: `names the created managed identity: ${EXPECTED.managedIdentityName}`,
          });
        }
      }
    }
  });

type RawIntegration = z.output<typeof integrationSchema>;

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
export type AlertsConfig = z.output<typeof alertsSchema>;

/** How an integration authenticates. Secret is the default and today's behaviour; see docs/credential-modes.md. */
export type CredentialConfig =
  | RotatingCredentialConfig<"secret">
  | RotatingCredentialConfig<"certificate">
  | {
      readonly type: "federated";
      readonly subjects: readonly FederatedSubject[];
      /** Object IDs allowed to read the client and tenant IDs from Key Vault (stored only when set). */
      readonly readers: readonly string[];
    }
  | {
      readonly type: "managedIdentity";
      /** Exactly one of these. */
      readonly principalId?: string;
      readonly create?: { readonly resourceGroupName: string; readonly location?: string };
    };

interface RotatingCredentialConfig<T extends "secret" | "certificate"> {
  readonly type: T;
  readonly rotationDays: number;
  /** Where rotationDays came from, relative to the integration: for messages that name the key to change. */
  readonly rotationDaysKey: "rotationDays" | "credential.rotationDays";
  /** Object IDs allowed to read what Key Vault holds for the integration. */
  readonly readers: readonly string[];
}

export interface IntegrationConfig {
  readonly name: string;
  /**
   * Display name of the application (secret, certificate, federated) or name of the created managed
   * identity; unused for an existing managed identity.
   */
  readonly displayName: string;
  readonly owners: readonly string[];
  readonly workspaces: readonly string[];
  readonly credential: CredentialConfig;
}

export interface StackConfig {
  readonly project: string;
  readonly stack: string;
  readonly smartspace: SmartspaceConfig;
  readonly keyVault: KeyVaultConfig;
  /** In the order declared; names are unique. */
  readonly integrations: readonly IntegrationConfig[];
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
 * its value as Pulumi stores it (a JSON string for structured values). Keys of the providers' namespaces are
 * left to the providers, except that placeholders are refused there too. Throws a {@link ConfigError} listing
 * every problem.
 */
export function parseStackConfig(raw: Readonly<Record<string, string>>, stack: string): StackConfig {
  const problems: string[] = [];
  const placeholders: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [fullKey, text] of Object.entries(raw)) {
    const separator = fullKey.indexOf(":");
    const namespace = separator < 0 ? "" : fullKey.slice(0, separator);
    const key = fullKey.slice(separator + 1);
    if (namespace !== PROJECT) {
      if (!KNOWN_NAMESPACES.includes(namespace)) {
        // The value is not shown: a key outside our namespace may hold a provider secret.
        problems.push(unknownNamespace(namespace, key));
      } else {
        placeholders.push(...placeholderProblems(parseValue(text), fullKey));
      }
      continue;
    }
    if (!(KNOWN_KEYS as string[]).includes(key)) {
      problems.push(
        `${fullKey} ${formatValue(parseValue(text))}: unknown key; expected one of ${KNOWN_KEYS.map((k) => `${PROJECT}:${k}`).join(", ")}`,
      );
      continue;
    }
    values[key] = parseValue(text);
    placeholders.push(...placeholderProblems(values[key], fullKey));
  }

  const result = stackConfigSchema.safeParse(values);
  if (!result.success) {
    for (const issue of result.error.issues) {
      // A placeholder is reported as one; what the schema says about it (not a GUID, a duplicate) is noise.
      if (!isPlaceholderAt(values, issue.path)) {
        problems.push(describeIssue(issue, values));
      }
    }
  }
  problems.unshift(...placeholders);
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
    integrations: config.integrations.map((integration) => normalizeIntegration(integration, stack)),
  };
}

function normalizeIntegration(integration: RawIntegration, stack: string): IntegrationConfig {
  const credential = normalizeCredential(integration);
  let displayName = integration.displayName ?? `smartspace-${integration.name}-${stack}`;
  if (credential.type === "managedIdentity" && integration.displayName === undefined) {
    // The created identity's name: stack names may hold characters an identity name cannot.
    displayName = displayName.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 128);
  }
  return {
    name: integration.name,
    displayName,
    owners: integration.owners,
    workspaces: integration.workspaces,
    credential,
  };
}

function normalizeCredential(integration: RawIntegration): CredentialConfig {
  const credential = integration.credential ?? { type: "secret" as const };
  switch (credential.type) {
    case "secret":
      return {
        type: "secret",
        rotationDays: credential.rotationDays ?? integration.rotationDays ?? DEFAULT_ROTATION_DAYS,
        rotationDaysKey: credential.rotationDays !== undefined ? "credential.rotationDays" : "rotationDays",
        readers: credential.readers ?? integration.secretReaders ?? [],
      };
    case "certificate":
      return {
        type: "certificate",
        rotationDays: credential.rotationDays ?? DEFAULT_ROTATION_DAYS,
        rotationDaysKey: "credential.rotationDays",
        readers: credential.readers ?? [],
      };
    case "federated":
      return {
        type: "federated",
        // Validated: every subject has exactly one complete form.
        subjects: credential.subjects.map((raw) => federatedSubject(raw)!),
        readers: credential.readers ?? [],
      };
    case "managedIdentity":
      return {
        type: "managedIdentity",
        principalId: credential.principalId?.toLowerCase(),
        create: credential.create,
      };
  }
}

/** A subject as Entra ID will match it, or undefined for one that is not (yet) valid. */
function federatedSubject(raw: RawSubject): FederatedSubject | undefined {
  if (raw.github !== undefined) {
    const { repository, environment, branch, tag, pullRequest } = raw.github;
    const ref: GitHubRef | undefined =
      environment !== undefined
        ? { environment }
        : branch !== undefined
          ? { branch }
          : tag !== undefined
            ? { tag }
            : pullRequest
              ? { pullRequest }
              : undefined;
    if (ref === undefined) return undefined;
    return {
      kind: "github",
      name: githubCredentialName(repository, ref),
      issuer: GITHUB_ACTIONS_ISSUER,
      subject: githubSubject(repository, ref),
    };
  }
  if (raw.kubernetes !== undefined) {
    const { issuer: clusterIssuer, namespace, serviceAccount } = raw.kubernetes;
    return {
      kind: "kubernetes",
      name: kubernetesCredentialName(clusterIssuer, namespace, serviceAccount),
      issuer: clusterIssuer,
      subject: kubernetesSubject(namespace, serviceAccount),
    };
  }
  if (raw.managedIdentity !== undefined) {
    // The managed identity's token carries its principal ID in lower case, and matching is case-sensitive.
    const principalId = raw.managedIdentity.principalId.toLowerCase();
    return {
      kind: "managedIdentity",
      name: managedIdentityCredentialName(principalId),
      principalId,
      subject: principalId,
    };
  }
  if (raw.name !== undefined && raw.issuer !== undefined && raw.subject !== undefined) {
    return { kind: "custom", name: raw.name, issuer: raw.issuer, subject: raw.subject };
  }
  return undefined;
}

/** Reads and validates this stack's configuration. Call before declaring any resource. */
export function loadStackConfig(): StackConfig {
  return parseStackConfig(pulumi.runtime.allConfig(), pulumi.getStack());
}

/** Whether a string is a placeholder from the example stack file, left to fill in. */
export function isPlaceholder(value: unknown): boolean {
  return typeof value === "string" && PLACEHOLDER.test(value.trim());
}

/**
 * One line per placeholder left in raw stack configuration (any namespace), naming the key and what to put
 * there: what the CLI wrapper checks before it starts the CLI.
 */
export function findPlaceholders(raw: Readonly<Record<string, string>>): string[] {
  return Object.entries(raw).flatMap(([fullKey, text]) => placeholderProblems(parseValue(text), fullKey));
}

/** One line per placeholder found in `value`, the value of `key` (a dotted path with list indices). */
function placeholderProblems(value: unknown, key: string): string[] {
  if (isPlaceholder(value)) {
    const hint = WHERE_TO_FIND[key.replace(/\[\d+\]/g, "")] ?? "the real value";
    return [`${key} ${formatValue(value)}: placeholder; fill in ${hint}`];
  }
  if (Array.isArray(value)) {
    return value.flatMap((item, index) => placeholderProblems(item, `${key}[${index}]`));
  }
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([name, item]) => placeholderProblems(item, `${key}.${name}`));
  }
  return [];
}

function isPlaceholderAt(values: Record<string, unknown>, path: readonly PropertyKey[]): boolean {
  return isPlaceholder(valueAt(values, path));
}

function unknownNamespace(namespace: string, key: string): string {
  const candidates = KNOWN_NAMESPACES.filter((known) => known !== "pulumi");
  const suggestion = candidates.find(
    (known) => known.startsWith(`${namespace}-`) || editDistance(known, namespace) <= 3,
  );
  return (
    `${namespace}:${key}: unknown namespace "${namespace}", which nothing reads; ` +
    (suggestion !== undefined
      ? `did you mean ${suggestion}:${key}?`
      : `expected ${PROJECT}: or a provider's namespace (${candidates.slice(1).join(", ")})`)
  );
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
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
    const allowed = allowedKeysAt(issue.path, values);
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

/** The keys accepted where an unknown key was found (`path` is the object holding it). */
function allowedKeysAt(path: readonly PropertyKey[], values: Record<string, unknown>): readonly string[] {
  const [top, , key] = path;
  const nested = path[5];
  if (top === "smartspace") return Object.keys(smartspaceSchema.shape);
  if (top === "keyVault") return Object.keys(keyVaultSchema.shape);
  if (top === "alerts") return Object.keys(alertsSchema.shape);
  if (top !== "integrations") return KNOWN_KEYS;
  if (path.length === 2) return Object.keys(integrationSchema.shape);
  if (key !== "credential") return [];
  if (path.length === 3) {
    const type = (valueAt(values, path) as { type?: CredentialType }).type;
    return type !== undefined && type in CREDENTIAL_KEYS ? CREDENTIAL_KEYS[type] : ["type"];
  }
  if (path[3] === "create") return ["resourceGroupName", "location"];
  // credential.subjects[i] and its github/kubernetes/managedIdentity object.
  if (path.length === 5) return Object.keys(subjectSchema.shape);
  if (nested === "github") return ["repository", ...GITHUB_REFS];
  if (nested === "kubernetes") return Object.keys(kubernetesSchema.shape);
  if (nested === "managedIdentity") return ["principalId"];
  return [];
}

function formatValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
