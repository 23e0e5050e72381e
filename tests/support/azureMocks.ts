/**
 * Pulumi mocks that answer the way the real providers do: provider-shaped IDs and outputs, distinct GUIDs for
 * client IDs, application object IDs and service principal object IDs, so that a component wiring the wrong
 * one fails a test instead of passing by coincidence.
 *
 * IDs are derived from the resource's type and name, never from randomness or time, so evaluating the same
 * program twice yields identical inputs (what a second `pulumi up` sees).
 *
 * A `pulumi up` (not a preview) also goes through a {@link MockTenant}: the directory and subscription as Graph
 * and ARM keep them, with the rules that make real deployments fail (ownership-only rights, duplicates Graph
 * refuses, credential end dates), plus the stack's state so that consecutive runs model consecutive updates.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { versionChanges } from "../../providers/keyVaultCertificate";
import { ROTATION_EPOCH } from "../../rules/rotation";

export const TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const SUBSCRIPTION_ID = "6c1f8b42-5a3e-4d0a-9c1e-2f4b7a9d3e10";
export const DEPLOYER_OBJECT_ID = "0b6a2d43-7f4e-4c8e-9a51-3d2f1e0c9b87";
export const DEPLOYER_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/** Region of the resource groups; azure-native gives a resource without `location` its group's region. */
export const RESOURCE_GROUP_LOCATION = "australiaeast";

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
   * Where the runner's application rights come from. `owner`: only from owning what it manages (Application
   * Developer, `Application.ReadWrite.OwnedBy`: what the README recommends for pipelines), the default.
   * `tenant`: tenant-wide (Cloud Application Administrator, `Application.ReadWrite.All`).
   */
  readonly runnerRights?: "owner" | "tenant";
  /**
   * The directory and stack state a `pulumi up` starts from. Pass the same tenant to consecutive runs to model
   * consecutive updates. Default: an empty tenant and a new stack.
   */
  readonly tenant?: MockTenant;
  /**
   * Event Grid system topics that exist before the stack runs, by name (in resource group `rg-shared` unless
   * given): e.g. one another tool created on an existing vault.
   */
  readonly existingSystemTopics?: Record<
    string,
    { source: string; topicType: string; resourceGroupName?: string }
  >;
  /** Logical names of resources to replace, as `pulumi up --replace <urn>` does. */
  readonly replace?: readonly string[];
  /** How long after the program starts its resources reach the providers (a slow deployment). Default: 0. */
  readonly deploymentDelayMs?: number;
  /**
   * Service principals looked up by object ID. Default: {@link USER_ASSIGNED_IDENTITY},
   * {@link SYSTEM_ASSIGNED_IDENTITY} and {@link APPLICATION_PRINCIPAL}.
   */
  readonly principalsByObjectId?: readonly MockManagedIdentity[];
}

/** What the engine tells a provider about a registration that the mocks cannot see in `MockResourceArgs`. */
export interface RegistrationLookup {
  deleteBeforeReplace(type: string, name: string): boolean;
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

/**
 * The provider's answer for a resource: its ID and outputs. `instance` counts replacements of the same logical
 * resource, so that a re-created object gets a new object ID as it does in Entra ID; 0 keeps the IDs every test
 * has always seen.
 */
function newResource(args: pulumi.runtime.MockResourceArgs, instance = 0): { id: string; state: State } {
  const inputs = args.inputs as State;
  const seed = instance === 0 ? args.name : `${args.name}#${instance}`;
  if (!args.custom) {
    // Component resources have no provider: the engine records them with their (empty) inputs.
    return { id: "", state: inputs };
  }
  switch (args.type) {
    case "azuread:index/application:Application": {
      const objectId = stableGuid("application-object", seed);
      const clientId = stableGuid("application-client", seed);
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
      const objectId = stableGuid("service-principal-object", seed);
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
      const assignmentId = stableGuid("app-role-assignment", seed);
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
      const keyId = stableGuid("password-key", seed);
      const applicationObjectId = String(inputs.applicationId).replace(/^\/applications\//, "");
      return {
        // The azuread provider's ID for a password credential: <application object ID>/password/<key ID>.
        id: `${applicationObjectId}/password/${keyId}`,
        state: { ...inputs, keyId, value: mockPasswordValue(seed) },
      };
    }
    case "azuread:index/applicationCertificate:ApplicationCertificate": {
      // A new key ID for each credential the provider adds (application_certificate_resource.go).
      const keyId = stableGuid("certificate-key", seed);
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
      return keyVaultCertificateVersion(inputs, instance);
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
          location: inputs.location ?? RESOURCE_GROUP_LOCATION,
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
    case "azure-native:network:PrivateEndpoint": {
      const name = String(inputs.privateEndpointName ?? `${args.name}-pe`);
      return {
        id: `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/Microsoft.Network/privateEndpoints/${name}`,
        state: {
          ...inputs,
          name,
          type: "Microsoft.Network/privateEndpoints",
          provisioningState: "Succeeded",
          // Azure approves the connection at once when the deployer may manage the vault (same tenant, RBAC).
          privateLinkServiceConnections: ((inputs.privateLinkServiceConnections ?? []) as State[]).map(
            (connection) => ({
              ...connection,
              privateLinkServiceConnectionState: { status: "Approved", actionsRequired: "None" },
            }),
          ),
        },
      };
    }
    case "azure-native:network:PrivateDnsZoneGroup": {
      const name = String(inputs.privateDnsZoneGroupName ?? args.name);
      return {
        id: `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/Microsoft.Network/privateEndpoints/${String(inputs.privateEndpointName)}/privateDnsZoneGroups/${name}`,
        state: { ...inputs, name, provisioningState: "Succeeded" },
      };
    }
    case "azure-native:monitor:DiagnosticSetting": {
      // An extension resource: its ID hangs off the resource it watches.
      const name = String(inputs.name ?? args.name);
      return {
        id: `${String(inputs.resourceUri)}/providers/Microsoft.Insights/diagnosticSettings/${name}`,
        state: { ...inputs, name, type: "Microsoft.Insights/diagnosticSettings" },
      };
    }
    case "azure-native:monitor:ActionGroup": {
      const name = String(inputs.actionGroupName ?? args.name);
      return {
        // ARM reports action groups under the lowercase provider namespace.
        id: `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/microsoft.insights/actionGroups/${name}`,
        state: { ...inputs, name, type: "Microsoft.Insights/ActionGroups" },
      };
    }
    case "azure-native:eventgrid:SystemTopic": {
      const name = String(inputs.systemTopicName ?? args.name);
      return {
        id: `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/Microsoft.EventGrid/systemTopics/${name}`,
        state: {
          ...inputs,
          name,
          type: "Microsoft.EventGrid/systemTopics",
          metricResourceId: stableGuid("system-topic-metrics", seed),
          provisioningState: "Succeeded",
        },
      };
    }
    case "azure-native:eventgrid:SystemTopicEventSubscription": {
      const name = String(inputs.eventSubscriptionName ?? args.name);
      return {
        id: `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/Microsoft.EventGrid/systemTopics/${String(inputs.systemTopicName)}/eventSubscriptions/${name}`,
        state: {
          ...inputs,
          name,
          type: "Microsoft.EventGrid/systemTopics/eventSubscriptions",
          provisioningState: "Succeeded",
        },
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

/** Inputs whose change makes the provider replace the resource (Terraform `ForceNew`, ARM name segments). */
const REPLACE_ON_CHANGE: Record<string, readonly string[]> = {
  // terraform-provider-azuread: only template_id is ForceNew on azuread_application.
  "azuread:index/application:Application": ["templateId"],
  "azuread:index/servicePrincipal:ServicePrincipal": ["clientId"],
  // Every input of azuread_app_role_assignment is ForceNew (approleassignments/app_role_assignment_resource.go).
  "azuread:index/appRoleAssignment:AppRoleAssignment": ["appRoleId", "principalObjectId", "resourceObjectId"],
  "azuread:index/applicationPassword:ApplicationPassword": [
    "applicationId",
    "displayName",
    "startDate",
    "endDate",
    "rotateWhenChanged",
  ],
  // Every input of azuread_application_certificate is ForceNew (application_certificate_resource.go).
  "azuread:index/applicationCertificate:ApplicationCertificate": [
    "applicationId",
    "encoding",
    "endDate",
    "endDateRelative",
    "keyId",
    "startDate",
    "type",
    "value",
  ],
  "azure-native:keyvault:Vault": ["resourceGroupName", "vaultName", "location"],
  "azure-native:keyvault:Secret": ["resourceGroupName", "vaultName", "secretName"],
  "azure-native:authorization:RoleAssignment": [
    "scope",
    "roleAssignmentName",
    "principalId",
    "roleDefinitionId",
  ],
};

/**
 * Providers whose diff asks to delete first when inputs force a replacement: azure-native for every resource
 * not named randomly (provider/pkg/provider/provider.go, Diff; this stack names all of its ARM resources), and
 * the WorkspaceAccess provider (providers/workspaceAccess.ts).
 */
function providerDeletesFirst(type: string): boolean {
  return type.startsWith("azure-native:") || type === "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess";
}

interface StackEntry {
  readonly type: string;
  readonly id: string;
  readonly inputs: State;
  readonly state: State;
  /** How many times this logical resource has been replaced. */
  readonly instance: number;
}

/** A Graph or ARM refusal, worded as the provider reports it. */
function refused(message: string): Error {
  return new Error(message);
}

const FORBIDDEN =
  "unexpected status 403 (403 Forbidden) with error: Authorization_RequestDenied: Insufficient privileges to complete the operation.";

/**
 * The tenant and subscription a `pulumi up` acts on, and the stack's state. Graph and ARM rules modelled here
 * are the ones real deployments trip over; each cites where the behaviour comes from.
 */
export class MockTenant {
  /** Applications by object ID. */
  readonly applications = new Map<
    string,
    { displayName: string; clientId: string; owners: Set<string>; createdAt: number }
  >();
  /** Service principals by object ID. */
  readonly servicePrincipals = new Map<string, { clientId: string; owners: Set<string> }>();
  /** App role assignments by ID. */
  readonly appRoleAssignments = new Map<
    string,
    { principalId: string; resourceId: string; appRoleId: string }
  >();
  /** Password credentials by `<application object ID>/password/<key ID>`. */
  readonly passwords = new Map<string, { endDate: string; createdAt: string }>();
  /** Event Grid system topics by resource ID. */
  readonly systemTopics = new Map<string, { source: string; topicType: string }>();
  /**
   * `GET /policies/defaultAppManagementPolicy` as Graph answers it. Default: a tenant's untouched default
   * (microsoft-graph-docs-contrib, api-reference/v1.0/api/tenantappmanagementpolicy-get.md).
   */
  appManagementPolicy: unknown = {
    id: "00000000-0000-0000-0000-000000000000",
    displayName: "Default app management tenant policy",
    isEnabled: false,
    applicationRestrictions: { passwordCredentials: [], keyCredentials: [] },
    servicePrincipalRestrictions: { passwordCredentials: [], keyCredentials: [] },
  };
  /** Whether the deployer may read policies (Policy.Read.All). */
  canReadPolicies = true;
  /** Smartspace workspace grants, as `<workspace ID>/<principal ID>`. */
  readonly workspaceGrants = new Set<string>();
  /** The stack's state, by `<type>::<logical name>`. */
  readonly stack = new Map<string, StackEntry>();

  /** What `pulumi up` does with one registration: same, update, create, or replace in the order asked for. */
  up(
    args: pulumi.runtime.MockResourceArgs,
    options: MockOptions,
    registrations?: RegistrationLookup,
  ): { id: string; state: State } {
    const key = `${args.type}::${args.name}`;
    const inputs = args.inputs as State;
    const previous = this.stack.get(key);
    if (previous !== undefined && !this.mustReplace(args, previous, options)) {
      const { state } = newResource(args, previous.instance);
      this.stack.set(key, { ...previous, inputs, state });
      return { id: previous.id, state };
    }
    // pulumi/pulumi pkg/resource/deploy/step_generator.go: a replacement creates the new resource before deleting
    // the old one unless the deleteBeforeReplace option or the provider's diff asks for the opposite. A targeted
    // replacement (`--replace`) skips the provider's diff, so there only the option counts.
    const targeted = options.replace?.includes(args.name) ?? false;
    const deleteFirst =
      previous !== undefined &&
      ((registrations?.deleteBeforeReplace(args.type, args.name) ?? false) ||
        (!targeted && providerDeletesFirst(args.type)));
    if (previous !== undefined && deleteFirst) this.remove(previous);
    const instance = previous === undefined ? 0 : previous.instance + 1;
    const created = newResource(args, instance);
    this.create(args.type, inputs, created, options);
    if (previous !== undefined && !deleteFirst) this.remove(previous);
    this.stack.set(key, { type: args.type, id: created.id, inputs, state: created.state, instance });
    return created;
  }

  /** The state a preview reports: what the stack holds, or what a create would return. */
  preview(args: pulumi.runtime.MockResourceArgs): { id: string; state: State } {
    const previous = this.stack.get(`${args.type}::${args.name}`);
    return previous ?? newResource(args);
  }

  private mustReplace(
    args: pulumi.runtime.MockResourceArgs,
    previous: StackEntry,
    options: MockOptions,
  ): boolean {
    if (options.replace?.includes(args.name)) return true;
    const inputs = args.inputs as State;
    if (args.type === "pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate") {
      // The provider's own diff (providers/keyVaultCertificate.ts).
      return versionChanges(previous.state, inputs as never).replaces.length > 0;
    }
    return (REPLACE_ON_CHANGE[args.type] ?? []).some(
      (key) => JSON.stringify(inputs[key]) !== JSON.stringify(previous.inputs[key]),
    );
  }

  private create(
    type: string,
    inputs: State,
    created: { id: string; state: State },
    options: MockOptions,
  ): void {
    const runner = (options.runnerObjectId ?? DEPLOYER_OBJECT_ID).toLowerCase();
    const ownsApplication = (objectId: string) =>
      options.runnerRights === "tenant" || (this.applications.get(objectId)?.owners.has(runner) ?? false);
    const owners = () =>
      new Set(((inputs.owners as string[] | undefined) ?? []).map((id) => id.toLowerCase()));
    switch (type) {
      case "azuread:index/application:Application": {
        const displayName = String(inputs.displayName);
        if (inputs.preventDuplicateNames === true) {
          // application_resource.go checks at apply time, so a create-before-delete replacement finds the old app.
          const existing = [...this.applications].find(([, app]) => app.displayName === displayName);
          if (existing !== undefined) {
            throw refused(
              `An existing "azuread_application" with name "${displayName}" (ID: "${existing[0]}") was found and \`prevent_duplicate_names\` was specified`,
            );
          }
        }
        // application_resource.go adds the caller as an owner for the create and, when `owners` does not list it,
        // removes it again before the create returns: what remains is exactly `owners`.
        this.applications.set(String(created.state.objectId), {
          displayName,
          clientId: String(created.state.clientId),
          owners: owners(),
          createdAt: Date.now() + (options.deploymentDelayMs ?? 0),
        });
        return;
      }
      case "azuread:index/servicePrincipal:ServicePrincipal": {
        const clientId = String(inputs.clientId);
        // service_principal_resource.go lists service principals by appId first and refuses a second one.
        const existing = [...this.servicePrincipals].find(([, sp]) => sp.clientId === clientId);
        if (existing !== undefined) {
          throw refused(`A resource with the ID "${existing[0]}" already exists`);
        }
        // docs/resources/service_principal.md: with Application.ReadWrite.OwnedBy the caller must own the
        // linked application.
        const application = [...this.applications].find(([, app]) => app.clientId === clientId);
        if (application === undefined || !ownsApplication(application[0])) {
          throw refused(`Could not create service principal: ${FORBIDDEN}`);
        }
        // Same owner handling as applications (service_principal_resource.go).
        this.servicePrincipals.set(String(created.state.objectId), { clientId, owners: owners() });
        return;
      }
      case "azuread:index/appRoleAssignment:AppRoleAssignment": {
        const assignment = {
          principalId: String(inputs.principalObjectId),
          resourceId: String(inputs.resourceObjectId),
          appRoleId: String(inputs.appRoleId),
        };
        const duplicate = [...this.appRoleAssignments.values()].some(
          (existing) =>
            existing.principalId === assignment.principalId &&
            existing.resourceId === assignment.resourceId &&
            existing.appRoleId === assignment.appRoleId,
        );
        if (duplicate) {
          throw refused(
            "Could not create app role assignment: unexpected status 400 (400 Bad Request) with error: Request_BadRequest: Permission being assigned already exists on the object.",
          );
        }
        this.appRoleAssignments.set(created.id, assignment);
        return;
      }
      case "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess":
        // The admin API's grant is an idempotent PUT (providers/workspaceAccess.ts, create): granting what is
        // already granted succeeds and adds nothing.
        this.workspaceGrants.add(created.id);
        return;
      case "azure-native:eventgrid:SystemTopic": {
        const source = String(inputs.source);
        // Azure allows one system topic per source (MicrosoftDocs/azure-docs#97986 quotes the refusal).
        if (
          [...this.systemTopics.values()].some((topic) => topic.source.toLowerCase() === source.toLowerCase())
        ) {
          throw refused(
            `Status=400 Code="InvalidRequest" Message="There is an existing tracked system topic for the given source ${source}. Only one system topic is allowed per source."`,
          );
        }
        this.systemTopics.set(created.id, { source, topicType: String(inputs.topicType) });
        return;
      }
      case "azuread:index/applicationPassword:ApplicationPassword": {
        const applicationObjectId = String(inputs.applicationId).replace(/^\/applications\//, "");
        const where = `Adding password for application with object ID "${applicationObjectId}"`;
        if (!this.applications.has(applicationObjectId)) {
          throw refused(`/applications/${applicationObjectId} was not found`);
        }
        // docs/resources/application_password.md: with Application.ReadWrite.OwnedBy the caller must own the
        // application (the same holds for users whose only role is Application Developer).
        if (!ownsApplication(applicationObjectId)) {
          throw refused(`${where}: ${FORBIDDEN}`);
        }
        const createdAt = Date.now() + (options.deploymentDelayMs ?? 0);
        const endDate = String(inputs.endDate);
        // Graph refuses a credential that has already ended (hashicorp/terraform-provider-azuread#201:
        // "Key credential end date is invalid").
        if (Date.parse(endDate) <= createdAt) {
          throw refused(
            `${where}: unexpected status 400 (400 Bad Request) with error: KeyCredentialsInvalidEndDate: Key credential end date is invalid.`,
          );
        }
        const limit = this.passwordLifetimeLimitMs(applicationObjectId);
        if (limit !== undefined && Date.parse(endDate) - createdAt > limit) {
          throw refused(
            `${where}: unexpected status 400 (400 Bad Request) with error: CredentialInvalidLifetimeAsPerAppPolicy: Credential lifetime exceeds the max value allowed as per assigned policy.`,
          );
        }
        this.passwords.set(created.id, { endDate, createdAt: new Date(createdAt).toISOString() });
        return;
      }
      default:
        return;
    }
  }

  /**
   * The password lifetime the default policy allows this application, if any: an enabled policy's enabled
   * `passwordLifetime` restriction applies to applications created on or after its date (null: all), per
   * resources/passwordcredentialconfiguration.md. Only `P<n>D` durations, so the mock shares no parser with
   * the code it tests.
   */
  private passwordLifetimeLimitMs(applicationObjectId: string): number | undefined {
    const policy = this.appManagementPolicy as {
      isEnabled?: boolean;
      applicationRestrictions?: {
        passwordCredentials?: {
          restrictionType: string;
          maxLifetime?: string | null;
          restrictForAppsCreatedAfterDateTime?: string | null;
          state?: string;
        }[];
      };
    };
    if (policy.isEnabled !== true) return undefined;
    const appCreatedAt = this.applications.get(applicationObjectId)?.createdAt ?? 0;
    const restriction = (policy.applicationRestrictions?.passwordCredentials ?? []).find(
      (r) =>
        r.restrictionType === "passwordLifetime" &&
        r.state !== "disabled" &&
        (r.restrictForAppsCreatedAfterDateTime == null ||
          Date.parse(r.restrictForAppsCreatedAfterDateTime) <= appCreatedAt),
    );
    if (restriction === undefined) return undefined;
    const days = /^P(\d+)D$/.exec(restriction.maxLifetime ?? "");
    if (!days)
      throw new Error(`azureMocks: use P<n>D for maxLifetime, got ${String(restriction.maxLifetime)}`);
    return Number(days[1]) * 24 * 60 * 60 * 1000;
  }

  private remove(entry: StackEntry): void {
    switch (entry.type) {
      case "azuread:index/application:Application":
        this.applications.delete(String(entry.state.objectId));
        return;
      case "azuread:index/servicePrincipal:ServicePrincipal":
        this.servicePrincipals.delete(String(entry.state.objectId));
        return;
      case "azuread:index/appRoleAssignment:AppRoleAssignment":
        this.appRoleAssignments.delete(entry.id);
        return;
      case "azuread:index/applicationPassword:ApplicationPassword":
        this.passwords.delete(entry.id);
        return;
      case "azure-native:eventgrid:SystemTopic":
        this.systemTopics.delete(entry.id);
        return;
      case "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess":
        this.workspaceGrants.delete(entry.id);
        return;
      default:
        return;
    }
  }
}

function call(
  args: pulumi.runtime.MockCallArgs,
  options: MockOptions,
  tenant: MockTenant,
): Record<string, unknown> {
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
    case "azure-native:eventgrid:getSystemTopic": {
      const id = `${armResourceGroupId(String(inputs.resourceGroupName))}/providers/Microsoft.EventGrid/systemTopics/${String(inputs.systemTopicName)}`;
      const topic = [...tenant.systemTopics].find(([key]) => key.toLowerCase() === id.toLowerCase());
      if (!topic) {
        throw new Error(`The Resource '${id}' was not found (ResourceNotFound)`);
      }
      return {
        id: topic[0],
        name: String(inputs.systemTopicName),
        type: "Microsoft.EventGrid/systemTopics",
        location: RESOURCE_GROUP_LOCATION,
        source: topic[1].source,
        topicType: topic[1].topicType,
        provisioningState: "Succeeded",
        metricResourceId: stableGuid("system-topic-metrics", id),
        azureApiVersion: "2025-02-15",
        systemData: {},
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
 * version and thumbprint derived from the certificate name, slot, generation and how often the resource was
 * replaced (so a second evaluation in the same period sees the same version, as state would hold it, and a
 * replacement a new key, as the provider issues one), issued at its generation's start and, when created,
 * the version Key Vault serves.
 */
function keyVaultCertificateVersion(inputs: State, instance: number): { id: string; state: State } {
  const vaultUrl = String(inputs.vaultUrl);
  const name = String(inputs.certificateName);
  const seed = `${name}|${String(inputs.slot)}|${String(inputs.generation)}${instance === 0 ? "" : `#${instance}`}`;
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
      latest: true,
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

export function azureMocks(
  options: MockOptions = {},
  registrations?: RegistrationLookup,
): pulumi.runtime.Mocks {
  const tenant = options.tenant ?? new MockTenant();
  for (const [name, topic] of Object.entries(options.existingSystemTopics ?? {})) {
    const id = `${armResourceGroupId(topic.resourceGroupName ?? "rg-shared")}/providers/Microsoft.EventGrid/systemTopics/${name}`;
    tenant.systemTopics.set(id, { source: topic.source, topicType: topic.topicType });
  }
  return {
    newResource: (args) => {
      // Component resources have no provider; a preview creates nothing.
      const { id, state } = !args.custom
        ? newResource(args)
        : pulumi.runtime.isDryRun()
          ? tenant.preview(args)
          : tenant.up(args, options, registrations);
      return { id, state: withoutUndefined(state) };
    },
    call: (args) => {
      try {
        return call(args, options, tenant);
      } catch (error) {
        // The engine reports a failed invoke as a gRPC error whose text is in `details`.
        throw Object.assign(error as Error, { details: (error as Error).message });
      }
    },
  };
}
