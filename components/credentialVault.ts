import * as authorization from "@pulumi/azure-native/authorization";
import * as keyvault from "@pulumi/azure-native/keyvault";
import * as monitor from "@pulumi/azure-native/monitor";
import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

export interface CredentialVaultArgs {
  /**
   * Resource ID of an existing vault to store credentials in. When set, no vault is created and
   * `resourceGroupName`, `name` and `location` must not be set. The vault must use RBAC authorization.
   */
  readonly existingVaultId?: pulumi.Input<string>;
  /** Existing resource group to create the vault in. Required unless `existingVaultId` is set. */
  readonly resourceGroupName?: pulumi.Input<string>;
  /**
   * Name of the vault to create. Default: `kv-ss-<stack>-<5 random characters>`, shortened to Azure's
   * 24-character limit. The random suffix is generated once and kept in state, so it is stable across runs.
   */
  readonly name?: pulumi.Input<string>;
  /** Region of the vault to create. Default: the azure-native provider's location. */
  readonly location?: pulumi.Input<string>;
  /** Entra tenant that authenticates requests to the vault. */
  readonly tenantId: pulumi.Input<string>;
  /** Tags for a created vault. Default: none beyond the stack's own markers. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Network rules of a created vault: deny by default, allow these IPv4 ranges and/or reach it through a
   * private endpoint. Default: reachable from all networks (Azure's default).
   */
  readonly network?: VaultNetworkArgs;
  /** Log Analytics workspace that receives the created vault's audit logs. Default: none. */
  readonly auditLogWorkspaceId?: pulumi.Input<string>;
}

export interface VaultNetworkArgs {
  /** IPv4 addresses or CIDR ranges allowed through the firewall (the deploying runner, readers outside Azure). */
  readonly allowedIpRanges?: readonly string[];
  /** A private endpoint in this subnet (its virtual network must be in the vault's region). */
  readonly privateEndpoint?: {
    readonly subnetId: pulumi.Input<string>;
    /** privatelink.vaultcore.azure.net zone to register the endpoint in. Default: manage DNS yourself. */
    readonly privateDnsZoneId?: pulumi.Input<string>;
  };
}

/** Resource group and name of a Key Vault, parsed from its resource ID. */
export interface VaultCoordinates {
  readonly subscriptionId: string;
  readonly resourceGroupName: string;
  readonly vaultName: string;
}

const VAULT_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)$/i;

export function parseVaultId(id: string): VaultCoordinates {
  const match = VAULT_ID.exec(id);
  if (!match) {
    throw new pulumi.RunError(`"${id}" is not a Key Vault resource ID`);
  }
  return { subscriptionId: match[1], resourceGroupName: match[2], vaultName: match[3] };
}

/** Azure always reports a vault's region; a vault without one is an answer this stack cannot interpret. */
function locationOf(location: string | undefined): string {
  if (!location) {
    throw new pulumi.RunError(
      "Azure reported no location for the Key Vault; cannot place its Event Grid topic",
    );
  }
  return location;
}

/**
 * The default vault name: deterministic from the stack, plus a suffix that keeps names unique across
 * tenants (vault names are global) and lets a destroyed, soft-deleted vault's name stay reserved without
 * blocking a new deployment.
 */
export function defaultVaultNamePrefix(stack: string): string {
  const cleaned = stack
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 12)
    .replace(/-+$/g, "");
  return cleaned ? `kv-ss-${cleaned}` : "kv-ss";
}

/**
 * The Key Vault that holds integration credentials: created with RBAC authorization (no legacy access
 * policies), soft delete with 90-day retention and purge protection, or an existing vault referenced by ID.
 */
export class CredentialVault extends pulumi.ComponentResource {
  /** Created vault, or undefined when an existing vault is used. */
  readonly vault?: keyvault.Vault;
  /** Private endpoint of a created vault, when configured. */
  readonly privateEndpoint?: network.PrivateEndpoint;
  readonly vaultId: pulumi.Output<string>;
  readonly vaultName: pulumi.Output<string>;
  readonly resourceGroupName: pulumi.Output<string>;
  /** Data-plane URI, e.g. https://kv-ss-dev-x1y2z.vault.azure.net/ */
  readonly vaultUri: pulumi.Output<string>;
  /** Subscription of the vault, where role definitions are resolved. */
  readonly subscriptionId: pulumi.Output<string>;
  /** Region of the vault, where its Event Grid system topic must live. */
  readonly location: pulumi.Output<string>;

  constructor(name: string, args: CredentialVaultArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:keyvault:CredentialVault", name, {}, opts);

    if (args.existingVaultId !== undefined) {
      if (
        args.resourceGroupName !== undefined ||
        args.name !== undefined ||
        args.location !== undefined ||
        args.network !== undefined ||
        args.auditLogWorkspaceId !== undefined
      ) {
        throw new pulumi.RunError(
          "CredentialVault: resourceGroupName, name, location, network and auditLogWorkspaceId apply only when creating a vault; do not combine them with existingVaultId",
        );
      }
      const coordinates = pulumi.output(args.existingVaultId).apply(parseVaultId);
      // getVault, the secrets and the role assignments all go to the azure-native provider's subscription; a
      // vault in another one would be looked up (and written) in the wrong place.
      const providerSubscription = authorization.getClientConfigOutput({ parent: this }).subscriptionId;
      const checkedCoordinates = pulumi
        .all([coordinates, providerSubscription])
        .apply(([vault, subscriptionId]) => {
          if (vault.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase()) {
            throw new pulumi.RunError(
              `Key Vault ${vault.vaultName} is in subscription ${vault.subscriptionId}, but the azure-native provider ` +
                `deploys to ${subscriptionId}: set azure-native:subscriptionId to ${vault.subscriptionId}, or use a vault in ${subscriptionId}`,
            );
          }
          return vault;
        });
      // Read, not adopted: the stack must never delete or reconfigure a vault it does not own. The lookup also
      // fails the preview early when the vault does not exist or the deployer cannot see it. It runs inside
      // the check's apply rather than as getVaultOutput(checked...): an output-form invoke whose arguments fail
      // logs the failure again, with a stack trace, before the program reports it (runtime/invoke.ts).
      const existing = checkedCoordinates.apply((vault) =>
        keyvault.getVault(
          { resourceGroupName: vault.resourceGroupName, vaultName: vault.vaultName },
          { parent: this },
        ),
      );
      // Everything written to the vault depends on its name, so deriving the name from the RBAC check means
      // nothing is written to a vault that uses legacy access policies, even without a preview.
      const checked = pulumi.all([existing.name, existing.properties]).apply(([vaultName, properties]) => {
        if (properties.enableRbacAuthorization !== true) {
          throw new pulumi.RunError(
            `Key Vault ${vaultName} does not use RBAC authorization: secret readers are granted with Azure RBAC, ` +
              "so enable it on the vault (az keyvault update --enable-rbac-authorization true) or let the stack create a vault",
          );
        }
        return { vaultName, vaultUri: properties.vaultUri ?? "" };
      });
      this.vaultId = existing.id;
      this.location = pulumi.output(existing.location).apply(locationOf);
      this.vaultName = checked.vaultName;
      this.vaultUri = checked.vaultUri;
      this.resourceGroupName = checkedCoordinates.resourceGroupName;
      this.subscriptionId = checkedCoordinates.subscriptionId;
    } else {
      if (args.resourceGroupName === undefined) {
        throw new pulumi.RunError(
          "CredentialVault: set resourceGroupName (to create a vault) or existingVaultId",
        );
      }
      let vaultName: pulumi.Input<string>;
      if (args.name !== undefined) {
        vaultName = args.name;
      } else {
        const suffix = new random.RandomString(
          `${name}-suffix`,
          { length: 5, special: false, upper: false, numeric: true, lower: true },
          { parent: this },
        );
        vaultName = pulumi.interpolate`${defaultVaultNamePrefix(pulumi.getStack())}-${suffix.result}`;
      }
      this.vault = new keyvault.Vault(
        `${name}-vault`,
        {
          vaultName,
          resourceGroupName: args.resourceGroupName,
          location: args.location,
          properties: {
            tenantId: args.tenantId,
            sku: { family: keyvault.SkuFamily.A, name: keyvault.SkuName.Standard },
            enableRbacAuthorization: true,
            accessPolicies: [],
            enableSoftDelete: true,
            softDeleteRetentionInDays: 90,
            enablePurgeProtection: true,
            // Only when configured, so that vaults deployed without network rules see no change.
            ...(args.network === undefined
              ? {}
              : {
                  networkAcls: {
                    defaultAction: keyvault.NetworkRuleAction.Deny,
                    // Trusted Microsoft services (e.g. Azure Backup, Event Grid for expiry events) keep access.
                    bypass: keyvault.NetworkRuleBypassOptions.AzureServices,
                    ipRules: (args.network.allowedIpRanges ?? []).map((value) => ({ value })),
                    virtualNetworkRules: [],
                  },
                }),
          },
          tags: pulumi
            .output(args.tags ?? {})
            .apply((tags) => ({ ...tags, "managed-by": "pulumi", "pulumi-stack": pulumi.getStack() })),
        },
        { parent: this },
      );
      const endpoint = args.network?.privateEndpoint;
      if (endpoint !== undefined) {
        this.privateEndpoint = new network.PrivateEndpoint(
          `${name}-private-endpoint`,
          {
            resourceGroupName: args.resourceGroupName,
            location: this.vault.location,
            subnet: { id: endpoint.subnetId },
            privateLinkServiceConnections: [
              { name: `${name}-vault`, privateLinkServiceId: this.vault.id, groupIds: ["vault"] },
            ],
          },
          { parent: this },
        );
        if (endpoint.privateDnsZoneId !== undefined) {
          new network.PrivateDnsZoneGroup(
            `${name}-private-dns`,
            {
              resourceGroupName: args.resourceGroupName,
              privateEndpointName: this.privateEndpoint.name,
              privateDnsZoneGroupName: "default",
              privateDnsZoneConfigs: [{ name: "vaultcore", privateDnsZoneId: endpoint.privateDnsZoneId }],
            },
            { parent: this },
          );
        }
      }
      if (args.auditLogWorkspaceId !== undefined) {
        new monitor.DiagnosticSetting(
          `${name}-audit-logs`,
          {
            name: "smartspace-audit",
            resourceUri: this.vault.id,
            workspaceId: args.auditLogWorkspaceId,
            // The "audit" category group: every data-plane access (AuditEvent), including secret reads.
            logs: [{ categoryGroup: "audit", enabled: true }],
          },
          { parent: this },
        );
      }
      this.vaultId = this.vault.id;
      this.location = this.vault.location.apply(locationOf);
      this.vaultName = this.vault.name;
      this.resourceGroupName = pulumi.output(args.resourceGroupName);
      this.vaultUri = this.vault.properties.apply((properties) => properties.vaultUri ?? "");
      this.subscriptionId = this.vault.id.apply((id) => parseVaultId(id).subscriptionId);
    }

    this.registerOutputs({ vaultId: this.vaultId, vaultUri: this.vaultUri });
  }
}
