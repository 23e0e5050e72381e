import { createHash } from "node:crypto";
import * as authorization from "@pulumi/azure-native/authorization";
import * as keyvault from "@pulumi/azure-native/keyvault";
import type * as types from "@pulumi/azure-native/types";
import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";
import {
  DEFAULT_ROTATION_DAYS,
  identifierSecretExpiry,
  rotateWhenChanged,
  rotationSchedule,
  SlotName,
} from "../rules/rotation";

/** Built-in Azure role "Key Vault Secrets User": read secret contents, nothing else. */
export const KEY_VAULT_SECRETS_USER_ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6";

export interface IntegrationCredentialsArgs {
  /** Integration name, used in secret names (`smartspace-<name>-client-secret`). */
  readonly integrationName: string;
  /** Resource ID of the application (`/applications/<object id>`), as `ApplicationPassword` expects. */
  readonly applicationId: pulumi.Input<string>;
  /** Client ID stored beside the secret so that a consumer reads everything from one place. */
  readonly clientId: pulumi.Input<string>;
  readonly tenantId: pulumi.Input<string>;
  /** Days between rotations; each slot is valid for twice this. Default: 90. */
  readonly rotationDays?: number;
  /** Vault that stores the three secrets. */
  readonly vault: {
    readonly resourceGroupName: pulumi.Input<string>;
    readonly vaultName: pulumi.Input<string>;
    /** Subscription of the vault, where the reader role definition is resolved. */
    readonly subscriptionId: pulumi.Input<string>;
  };
  /**
   * Object IDs of service principals (e.g. a function app's managed identity) allowed to read this
   * integration's secrets, and only these. Default: none.
   */
  readonly secretReaders?: readonly string[];
  /**
   * The instant the schedule is computed for. Default: now. Only the rotation period it falls in matters, so
   * runs within one period declare identical inputs.
   */
  readonly now?: Date;
}

type SecretKind = "client-id" | "tenant-id" | "client-secret";
const SECRET_KINDS: readonly SecretKind[] = ["client-id", "tenant-id", "client-secret"];

/**
 * A role assignment's name must be a GUID. Deriving it from scope, principal and role means a lost or rebuilt
 * state can never add a duplicate assignment: the create fails naming the existing one, which `pulumi import`
 * then adopts (a random name would instead fail with a less obvious 409 RoleAssignmentExists).
 */
export function roleAssignmentName(scope: string, principalId: string, roleDefinitionId: string): string {
  const hex = createHash("sha256")
    .update(`${scope.toLowerCase()}|${principalId.toLowerCase()}|${roleDefinitionId.toLowerCase()}`)
    .digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The credentials of one integration: a client secret in two rotating slots, stored with the client and
 * tenant IDs in Key Vault, readable only by the configured readers.
 *
 * Two `ApplicationPassword` slots alternate: each lives 2 x rotationDays and a new one is issued every
 * rotationDays, so at any instant one slot is fresh and the other, older one is still valid. The Key Vault
 * secret always holds the fresh (current) slot; when a period boundary passes, only the older slot is
 * replaced and the secret gets a new version, so consumers reading the versionless URI never see an
 * expired credential.
 */
export class IntegrationCredentials extends pulumi.ComponentResource {
  readonly slots: Readonly<Record<SlotName, azuread.ApplicationPassword>>;
  readonly currentSlot: SlotName;
  readonly secrets: Readonly<Record<SecretKind, keyvault.Secret>>;
  /** Names of this integration's Key Vault objects: the subjects of their Event Grid events. */
  readonly keyVaultObjectNames: readonly string[];
  readonly readerAssignments: authorization.RoleAssignment[];
  /** Versionless secret URIs, for `@Microsoft.KeyVault(SecretUri=...)` references. */
  readonly secretUris: {
    clientId: pulumi.Output<string>;
    tenantId: pulumi.Output<string>;
    clientSecret: pulumi.Output<string>;
  };
  /** End of the current slot's validity (RFC3339). */
  readonly secretExpiresOn: string;
  /** When the next `pulumi up` will rotate the older slot (RFC3339). */
  readonly nextRotationOn: string;

  constructor(name: string, args: IntegrationCredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:credentials:IntegrationCredentials", name, {}, opts);

    const rotationDays = args.rotationDays ?? DEFAULT_ROTATION_DAYS;
    const schedule = rotationSchedule(args.now ?? new Date(), rotationDays);
    this.currentSlot = schedule.current.slot;
    this.secretExpiresOn = schedule.current.endDate;
    this.nextRotationOn = schedule.nextRotationOn;

    const slot = (slotName: SlotName) => {
      const slotSchedule = schedule.slots[slotName];
      return new azuread.ApplicationPassword(
        `${name}-slot-${slotName}`,
        {
          applicationId: args.applicationId,
          displayName: `slot ${slotName} (managed by Pulumi; rotates every ${rotationDays} days)`,
          // No startDate: Entra ID starts a password when it is created. Every generation's start lies in the
          // past by the time a deployment issues it (the first deployment, or the first one after a boundary),
          // and Entra ID has been seen to refuse backdated password credentials (KeyCredentialsInvalidStartDate,
          // hashicorp/terraform-provider-azuread#1582). Leaving it out keeps inputs deterministic and the
          // credential's window inside its generation's: created no earlier than the generation starts, and
          // ending exactly when it ends.
          endDate: slotSchedule.endDate,
          rotateWhenChanged: rotateWhenChanged(slotSchedule),
        },
        // The azuread provider already marks `value` secret; nothing to add.
        { parent: this },
      );
    };
    this.slots = { a: slot("a"), b: slot("b") };
    const current = this.slots[this.currentSlot];

    const secretName = (kind: SecretKind) => `smartspace-${args.integrationName}-${kind}`;
    this.keyVaultObjectNames = SECRET_KINDS.map(secretName);
    const secret = (
      kind: SecretKind,
      value: pulumi.Input<string>,
      extra: {
        properties?: Omit<types.input.keyvault.SecretPropertiesArgs, "value">;
        tags?: Record<string, pulumi.Input<string>>;
      } = {},
    ) =>
      new keyvault.Secret(
        `${name}-${kind}`,
        {
          resourceGroupName: args.vault.resourceGroupName,
          vaultName: args.vault.vaultName,
          secretName: secretName(kind),
          properties: {
            value,
            contentType: `Smartspace integration ${kind.replace("-", " ")}`,
            ...extra.properties,
          },
          tags: {
            ...extra.tags,
            "smartspace-integration": args.integrationName,
            "managed-by": "pulumi",
          },
        },
        { parent: this },
      );

    // Identifiers expire too (tenants may deny secrets without an expiry); each rotation renews the date, which
    // is an update of the secret (a new version), never a replacement.
    const identifier = {
      properties: {
        attributes: {
          enabled: true,
          expires: Math.floor(Date.parse(identifierSecretExpiry(schedule, rotationDays)) / 1000),
        },
      },
    };
    this.secrets = {
      "client-id": secret("client-id", args.clientId, identifier),
      "tenant-id": secret("tenant-id", args.tenantId, identifier),
      "client-secret": secret("client-secret", pulumi.secret(current.value), {
        properties: {
          contentType: `Entra ID client secret of a Smartspace integration (application password, slot ${this.currentSlot})`,
          attributes: {
            enabled: true,
            expires: Math.floor(Date.parse(schedule.current.endDate) / 1000),
          },
        },
        tags: {
          slot: this.currentSlot,
          "key-id": current.keyId,
          "expires-on": schedule.current.endDate,
          "next-rotation-on": schedule.nextRotationOn,
        },
      }),
    };

    const roleDefinitionId = pulumi.interpolate`/subscriptions/${args.vault.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER_ROLE_ID}`;
    this.readerAssignments = [];
    for (const reader of args.secretReaders ?? []) {
      for (const kind of SECRET_KINDS) {
        const scope = this.secrets[kind].id;
        this.readerAssignments.push(
          new authorization.RoleAssignment(
            `${name}-reader-${reader.toLowerCase()}-${kind}`,
            {
              // Scoped to this integration's secret, not the vault: the vault may hold other integrations.
              scope,
              principalId: reader,
              principalType: authorization.PrincipalType.ServicePrincipal,
              roleDefinitionId,
              roleAssignmentName: pulumi
                .all([scope, roleDefinitionId])
                .apply(([scopeId, roleId]) => roleAssignmentName(scopeId, reader, roleId)),
              description: `Read ${kind} of Smartspace integration ${args.integrationName} (managed by Pulumi)`,
            },
            { parent: this, deleteBeforeReplace: true },
          ),
        );
      }
    }

    // A URI is not secret, but `properties` may come back marked secret because its input carried the value
    // (providers that echo write-only inputs do that); unsecret so that stack outputs stay readable.
    const uri = (kind: SecretKind) => pulumi.unsecret(this.secrets[kind].properties.secretUri);
    this.secretUris = {
      clientId: uri("client-id"),
      tenantId: uri("tenant-id"),
      clientSecret: uri("client-secret"),
    };

    this.registerOutputs({
      secretUris: this.secretUris,
      secretExpiresOn: this.secretExpiresOn,
      nextRotationOn: this.nextRotationOn,
    });
  }
}
