/**
 * Pulumi mocks that answer the way the real providers do: provider-shaped IDs and outputs, distinct GUIDs for
 * client IDs, application object IDs and service principal object IDs, so that a component wiring the wrong
 * one fails a test instead of passing by coincidence.
 *
 * IDs are derived from the resource's type and name, never from randomness or time, so evaluating the same
 * program twice yields identical inputs (what a second `pulumi up` sees).
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { ROTATION_EPOCH } from "../../rules/rotation";

export const TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const SUBSCRIPTION_ID = "6c1f8b42-5a3e-4d0a-9c1e-2f4b7a9d3e10";
export const DEPLOYER_OBJECT_ID = "0b6a2d43-7f4e-4c8e-9a51-3d2f1e0c9b87";
export const DEPLOYER_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/** The Smartspace enterprise app as found in a customer tenant. */
export const SMARTSPACE = {
  clientId: "a1c2e3f4-0000-4a5b-8c9d-111122223333",
  objectId: "5e7d9c1b-2a3f-4e6d-8b0a-444455556666",
  applicationObjectId: "9f8e7d6c-5b4a-4321-8765-777788889999",
  displayName: "app-westeurope-smartspace",
  /** The role integrations must hold, matched by display name. */
  integrationsRoleId: "d3b07384-d9a0-4c9b-8a4e-1f2e3d4c5b6a",
  integrationsRoleValue: "SmartSpace.Integrations",
} as const;

export interface MockAppRole {
  allowedMemberTypes: string[];
  description: string;
  displayName: string;
  enabled: boolean;
  id: string;
  value: string;
}

/**
 * The Smartspace app's roles, with the traps a real tenant has: a role whose *value* (not display name) is
 * "Integrations", and a disabled role.
 */
export function smartspaceAppRoles(): MockAppRole[] {
  return [
    {
      allowedMemberTypes: ["User"],
      description: "Administer Smartspace",
      displayName: "Admin",
      enabled: true,
      id: "8a9b0c1d-2e3f-4a5b-9c6d-7e8f9a0b1c2d",
      value: "SmartSpace.Admin",
    },
    {
      allowedMemberTypes: ["Application"],
      description: "Legacy role kept for old clients",
      displayName: "Legacy Integrations",
      enabled: true,
      id: "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
      value: "Integrations",
    },
    {
      allowedMemberTypes: ["Application"],
      description: "Deprecated automation role",
      displayName: "Automation",
      enabled: false,
      id: "2a3b4c5d-6e7f-4081-92a3-b4c5d6e7f809",
      value: "SmartSpace.Automation",
    },
    {
      allowedMemberTypes: ["Application", "User"],
      description: "Call Smartspace APIs as an integration",
      displayName: "Integrations",
      enabled: true,
      id: SMARTSPACE.integrationsRoleId,
      value: SMARTSPACE.integrationsRoleValue,
    },
  ];
}

/** A managed identity as Graph lists its service principal: principal (object) ID differs from client ID. */
export interface MockManagedIdentity {
  readonly principalId: string;
  readonly clientId: string;
  readonly displayName: string;
  /** Service principal type: "ManagedIdentity", or "Application" for an app (the wrong thing to give). */
  readonly type: "ManagedIdentity" | "Application";
  readonly alternativeNames: string[];
}

/** A user-assigned managed identity existing in the tenant (e.g. a function app's). */
export const USER_ASSIGNED_IDENTITY: MockManagedIdentity = {
  principalId: "6d1e5f0a-3b2c-4d4e-9f8a-7b6c5d4e3f21",
  clientId: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
  displayName: "id-func-crm",
  type: "ManagedIdentity",
  alternativeNames: [
    "isExplicit=True",
    `/subscriptions/${SUBSCRIPTION_ID}/resourcegroups/rg-func/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-func-crm`,
  ],
};

/** A function app's system-assigned identity: its alternative name is the app, not an identity resource. */
export const SYSTEM_ASSIGNED_IDENTITY: MockManagedIdentity = {
  principalId: "8e7f6a5b-4c3d-4e2f-8a1b-0c9d8e7f6a5b",
  clientId: "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
  displayName: "func-crm-prod",
  type: "ManagedIdentity",
  alternativeNames: [
    "isExplicit=False",
    `/subscriptions/${SUBSCRIPTION_ID}/resourcegroups/rg-func/providers/Microsoft.Web/sites/func-crm-prod`,
  ],
};

/** An application's service principal: what someone might paste where a managed identity is expected. */
export const APPLICATION_PRINCIPAL: MockManagedIdentity = {
  principalId: "9f8a7b6c-5d4e-4f3a-8b2c-1d0e9f8a7b6c",
  clientId: "3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
  displayName: "legacy-crm-app",
  type: "Application",
  alternativeNames: [],
};

export interface MockOptions {
  /** Replaces the Smartspace app's roles returned by getServicePrincipal. */
  readonly appRoles?: MockAppRole[];
  /** Service principals in the tenant, by display name; default: only the Smartspace app. */
  readonly servicePrincipalsByDisplayName?: Record<string, { clientId: string; objectId: string }[]>;
  /** Object ID of the identity running Pulumi (getClientConfig). Default: {@link DEPLOYER_OBJECT_ID}. */
  readonly runnerObjectId?: string;
  /** Vaults that exist before the stack runs, by name (all in the subscription of {@link SUBSCRIPTION_ID}). */
  readonly existingVaults?: Record<string, { enableRbacAuthorization: boolean }>;
  /**
   * Service principals looked up by object ID. Default: {@link USER_ASSIGNED_IDENTITY},
   * {@link SYSTEM_ASSIGNED_IDENTITY} and {@link APPLICATION_PRINCIPAL}.
   */
  readonly principalsByObjectId?: readonly MockManagedIdentity[];
}

/** A GUID that is a pure function of its seed. */
export function stableGuid(...seed: string[]): string {
  const hex = createHash("sha256").update(seed.join("|")).digest("hex");
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    `4${hex.slice(13, 16)}`,
    `${((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}`,
    hex.slice(20, 32),
  ].join("-");
}

/** A password-like value as Entra ID returns it: 40 characters. Secret in every assertion that matters. */
export function mockPasswordValue(name: string): string {
  return `Q~${createHash("sha256").update(`password|${name}`).digest("base64url").slice(0, 38)}`;
}

type State = Record<string, unknown>;

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function armResourceGroupId(resourceGroupName: string): string {
  return `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${resourceGroupName}`;
}

function newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: State } {
  const inputs = args.inputs as State;
  if (!args.custom) {
    // Component resources have no provider: the engine records them with their (empty) inputs.
    return { id: "", state: inputs };
  }
  switch (args.type) {
    case "azuread:index/application:Application": {
      const objectId = stableGuid("application-object", args.name);
      const clientId = stableGuid("application-client", args.name);
      return {
        id: `/applications/${objectId}`,
        state: {
          ...inputs,
          objectId,
          clientId,
          publisherDomain: "contoso.onmicrosoft.com",
          disabledByMicrosoft: "<nil>",
        },
      };
    }
    case "azuread:index/servicePrincipal:ServicePrincipal": {
      const objectId = stableGuid("service-principal-object", args.name);
      return {
        id: `/servicePrincipals/${objectId}`,
        state: {
          ...inputs,
          objectId,
          applicationTenantId: TENANT_ID,
          type: "Application",
          servicePrincipalNames: [inputs.clientId],
        },
      };
    }
    case "azuread:index/appRoleAssignment:AppRoleAssignment": {
      const assignmentId = stableGuid("app-role-assignment", args.name);
      return {
        id: `/servicePrincipals/${String(inputs.resourceObjectId)}/appRoleAssignedTo/${assignmentId}`,
        state: {
          ...inputs,
          principalDisplayName: "integration",
          principalType: "ServicePrincipal",
          resourceDisplayName: SMARTSPACE.displayName,
        },
      };
    }
    case "azuread:index/applicationPassword:ApplicationPassword": {
      const keyId = stableGuid("password-key", args.name);
      const applicationObjectId = String(inputs.applicationId).replace(/^\/applications\//, "");
      return {
        // The azuread provider's ID for a password credential: <application object ID>/password/<key ID>.
        id: `${applicationObjectId}/password/${keyId}`,
        state: { ...inputs, keyId, value: mockPasswordValue(args.name) },
      };
    }
    case "azuread:index/applicationCertificate:ApplicationCertificate": {
      const keyId = stableGuid("certificate-key", args.name);
      const applicationObjectId = String(inputs.applicationId).replace(/^\/applications\//, "");
      return {
        // The azuread provider's ID for a certificate credential: <application object ID>/certificate/<key ID>.
        id: `${applicationObjectId}/certificate/${keyId}`,
        state: { ...inputs, keyId, type: inputs.type ?? "AsymmetricX509Cert" },
      };
    }
    case "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential": {
      const credentialId = stableGuid("federated-credential", args.name);
      const applicationObjectId = String(inputs.applicationId).replace(/^\/applications\//, "");
      return {
        // <application object ID>/federatedIdentityCredential/<credential ID>, as the azuread provider forms it.
        id: `${applicationObjectId}/federatedIdentityCredential/${credentialId}`,
        state: { ...inputs, credentialId },
      };
    }
    case "azure-native:managedidentity:UserAssignedIdentity": {
      const name = String(inputs.resourceName ?? args.name);
      return {
        id: `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
        state: {
          ...inputs,
          name,
          location: inputs.location ?? "australiaeast",
          type: "Microsoft.ManagedIdentity/userAssignedIdentities",
          // Two different GUIDs: wiring the client ID where the principal ID belongs must fail a test.
          principalId: stableGuid("managed-identity-principal", name),
          clientId: stableGuid("managed-identity-client", name),
          tenantId: TENANT_ID,
        },
      };
    }
    case "pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate":
      return keyVaultCertificateVersion(inputs);
    case "random:index/randomString:RandomString": {
      const length = Number(inputs.length ?? 8);
      const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
      const digest = createHash("sha256").update(`random|${args.name}`).digest();
      const result = Array.from(
        { length },
        (_, i) => alphabet[digest[i % digest.length] % alphabet.length],
      ).join("");
      return { id: result, state: { ...inputs, result } };
    }
    case "azure-native:keyvault:Vault": {
      const vaultName = String(inputs.vaultName ?? args.name);
      const properties = (inputs.properties ?? {}) as State;
      return {
        id: `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/Microsoft.KeyVault/vaults/${vaultName}`,
        state: {
          ...inputs,
          name: vaultName,
          type: "Microsoft.KeyVault/vaults",
          properties: {
            ...properties,
            vaultUri: `https://${vaultName}.vault.azure.net/`,
            provisioningState: "Succeeded",
          },
        },
      };
    }
    case "azure-native:keyvault:Secret": {
      const secretName = String(inputs.secretName ?? args.name);
      const vaultName = String(inputs.vaultName);
      const version = createHash("sha256").update(`version|${args.name}`).digest("hex").slice(0, 32);
      // The mock monitor's deserialization lifts a nested secret to the enclosing input object.
      const wrapped = (inputs.properties ?? {}) as State;
      const properties = { ...((wrapped[SECRET_SIG] !== undefined ? wrapped.value : wrapped) as State) };
      // Azure never returns a secret's value from the management plane.
      delete properties.value;
      return {
        id: `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/Microsoft.KeyVault/vaults/${vaultName}/secrets/${secretName}`,
        state: {
          ...inputs,
          name: secretName,
          type: "Microsoft.KeyVault/vaults/secrets",
          properties: {
            ...properties,
            secretUri: `https://${vaultName}.vault.azure.net/secrets/${secretName}`,
            secretUriWithVersion: `https://${vaultName}.vault.azure.net/secrets/${secretName}/${version}`,
          },
        },
      };
    }
    case "azure-native:authorization:RoleAssignment": {
      const name = String(inputs.roleAssignmentName ?? stableGuid("role-assignment", args.name));
      return {
        id: `${String(inputs.scope)}/providers/Microsoft.Authorization/roleAssignments/${name}`,
        state: { ...inputs, name, type: "Microsoft.Authorization/roleAssignments" },
      };
    }
    case "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess": {
      return {
        id: `${String(inputs.workspaceId)}/${String(inputs.principalId)}`,
        state: { ...inputs, workspaceName: `Workspace ${String(inputs.workspaceId).slice(0, 8)}` },
      };
    }
    default:
      throw new Error(`azureMocks: no mock for resource type ${args.type} (${args.name}); add one`);
  }
}

function call(args: pulumi.runtime.MockCallArgs, options: MockOptions): Record<string, unknown> {
  const inputs = args.inputs as State;
  switch (args.token) {
    case "azuread:index/getClientConfig:getClientConfig":
      return {
        id: `${DEPLOYER_CLIENT_ID}-${TENANT_ID}`,
        clientId: DEPLOYER_CLIENT_ID,
        objectId: options.runnerObjectId ?? DEPLOYER_OBJECT_ID,
        tenantId: TENANT_ID,
      };
    case "azure-native:authorization:getClientConfig":
      return {
        clientId: DEPLOYER_CLIENT_ID,
        objectId: options.runnerObjectId ?? DEPLOYER_OBJECT_ID,
        subscriptionId: SUBSCRIPTION_ID,
        tenantId: TENANT_ID,
      };
    case "azuread:index/getServicePrincipal:getServicePrincipal":
      return inputs.objectId !== undefined
        ? principalByObjectId(String(inputs.objectId), options)
        : smartspaceServicePrincipal(inputs, options);
    case "azure-native:keyvault:getVault": {
      const vaultName = String(inputs.vaultName);
      const existing = options.existingVaults?.[vaultName];
      if (!existing) {
        throw new Error(
          `Vault '${vaultName}' in resource group '${String(inputs.resourceGroupName)}' was not found (ResourceNotFound)`,
        );
      }
      return {
        id: `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/Microsoft.KeyVault/vaults/${vaultName}`,
        name: vaultName,
        type: "Microsoft.KeyVault/vaults",
        location: "australiaeast",
        properties: {
          tenantId: TENANT_ID,
          sku: { family: "A", name: "standard" },
          enableRbacAuthorization: existing.enableRbacAuthorization,
          enableSoftDelete: true,
          softDeleteRetentionInDays: 90,
          enablePurgeProtection: true,
          vaultUri: `https://${vaultName}.vault.azure.net/`,
        },
      };
    }
    default:
      throw new Error(
        `azureMocks: no mock for invoke ${args.token}; the program called something unexpected`,
      );
  }
}

function smartspaceServicePrincipal(inputs: State, options: MockOptions): Record<string, unknown> {
  const byName = options.servicePrincipalsByDisplayName ?? {
    [SMARTSPACE.displayName]: [{ clientId: SMARTSPACE.clientId, objectId: SMARTSPACE.objectId }],
  };
  let match: { clientId: string; objectId: string; displayName: string } | undefined;
  if (inputs.clientId !== undefined) {
    for (const [displayName, principals] of Object.entries(byName)) {
      const found = principals.find((sp) => sp.clientId === inputs.clientId);
      if (found) match = { ...found, displayName };
    }
    if (!match) throw new Error(`No service principal found for client ID "${String(inputs.clientId)}"`);
  } else if (inputs.displayName !== undefined) {
    const principals = byName[String(inputs.displayName)] ?? [];
    // The real provider refuses to guess between service principals sharing a display name.
    if (principals.length !== 1) {
      throw new Error(
        principals.length === 0
          ? `No service principal found matching display name: "${String(inputs.displayName)}"`
          : `Found multiple service principals matching display name: "${String(inputs.displayName)}"`,
      );
    }
    match = { ...principals[0], displayName: String(inputs.displayName) };
  } else {
    throw new Error("One of `clientId`, `displayName` or `objectId` must be specified");
  }
  return {
    id: `/servicePrincipals/${match.objectId}`,
    objectId: match.objectId,
    clientId: match.clientId,
    displayName: match.displayName,
    accountEnabled: true,
    appRoleAssignmentRequired: true,
    appRoles: options.appRoles ?? smartspaceAppRoles(),
    appRoleIds: {},
    applicationTenantId: TENANT_ID,
    type: "Application",
  };
}

function principalByObjectId(objectId: string, options: MockOptions): Record<string, unknown> {
  const principals = options.principalsByObjectId ?? [
    USER_ASSIGNED_IDENTITY,
    SYSTEM_ASSIGNED_IDENTITY,
    APPLICATION_PRINCIPAL,
  ];
  const found = principals.find((principal) => principal.principalId === objectId.toLowerCase());
  if (!found) {
    // terraform-provider-azuread's data source: "<id> was not found" for an unknown object ID.
    throw new Error(`Service Principal (Object ID: "${objectId}") was not found`);
  }
  return {
    id: `/servicePrincipals/${found.principalId}`,
    objectId: found.principalId,
    clientId: found.clientId,
    displayName: found.displayName,
    accountEnabled: true,
    alternativeNames: found.alternativeNames,
    appRoleAssignmentRequired: false,
    appRoles: [],
    appRoleIds: {},
    applicationTenantId: TENANT_ID,
    servicePrincipalNames: [found.clientId],
    type: found.type,
  };
}

/**
 * A Key Vault certificate version as the KeyVaultCertificate provider reports it: public material only, a
 * version and thumbprint derived from the certificate name, slot and generation (so a second evaluation in
 * the same period sees the same version, as state would hold it), issued at its generation's start.
 */
function keyVaultCertificateVersion(inputs: State): { id: string; state: State } {
  const vaultUrl = String(inputs.vaultUrl);
  const name = String(inputs.certificateName);
  const seed = `${name}|${String(inputs.slot)}|${String(inputs.generation)}`;
  const version = createHash("sha256").update(`kv-version|${seed}`).digest("hex").slice(0, 32);
  const der = createHash("sha512").update(`certificate|${seed}`).digest();
  const rotationDays = Number(inputs.rotationDays);
  const issued = Date.parse(ROTATION_EPOCH) + Number(inputs.generation) * rotationDays * 86_400_000;
  const expires = new Date(issued);
  expires.setUTCMonth(expires.getUTCMonth() + Number(inputs.validityInMonths));
  const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  return {
    id: `${vaultUrl}certificates/${name}/${version}`,
    state: {
      ...inputs,
      version,
      certificateId: `${vaultUrl}certificates/${name}/${version}`,
      secretId: `${vaultUrl}secrets/${name}/${version}`,
      certificateUri: `${vaultUrl}certificates/${name}`,
      secretUri: `${vaultUrl}secrets/${name}`,
      cer: der.toString("base64"),
      thumbprint: createHash("sha1").update(der).digest("hex").toUpperCase(),
      notBefore: rfc3339(issued - 600_000),
      expiresOn: rfc3339(expires.getTime()),
      enabled: true,
    },
  };
}

/** Providers never return undefined properties; they omit them. */
function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutUndefined) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => [key, withoutUndefined(item)]),
    ) as T;
  }
  return value;
}

export function azureMocks(options: MockOptions = {}): pulumi.runtime.Mocks {
  return {
    newResource: (args) => {
      const { id, state } = newResource(args);
      return { id, state: withoutUndefined(state) };
    },
    call: (args) => {
      try {
        return call(args, options);
      } catch (error) {
        // The engine reports a failed invoke as a gRPC error whose text is in `details`.
        throw Object.assign(error as Error, { details: (error as Error).message });
      }
    },
  };
}
