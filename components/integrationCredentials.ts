import type * as authorization from "@pulumi/azure-native/authorization";
import * as keyvault from "@pulumi/azure-native/keyvault";
import type * as types from "@pulumi/azure-native/types";
import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";
import type { FederatedSubject } from "../rules/federated";
import { clientCertificateName } from "../rules/certificates";
import { identifierRenewalDays } from "../rules/identifierRenewal";
import { identifierSecretExpiry, rotateWhenChanged, rotationSchedule, SlotName } from "../rules/rotation";
import { ClientCertificate } from "./clientCertificate";
import { FederatedCredentials } from "./federatedCredentials";
import { grantSecretRead } from "./keyVaultAccess";

export { KEY_VAULT_SECRETS_USER_ROLE_ID, roleAssignmentName } from "./keyVaultAccess";

/** How an application-based integration authenticates (a managed identity has no application). */
export type ApplicationCredential =
  | RotatingCredential<"secret">
  | RotatingCredential<"certificate">
  | {
      readonly type: "federated";
      readonly subjects: readonly FederatedSubject[];
      /** Object IDs allowed to read the client and tenant IDs, stored only when there are readers. */
      readonly readers?: readonly string[];
    };

interface RotatingCredential<T extends "secret" | "certificate"> {
  readonly type: T;
  /** Days between rotations; each credential is valid for twice this. Default: 90. */
  readonly rotationDays?: number;
  /** Object IDs allowed to read what Key Vault holds for the integration. Default: none. */
  readonly readers?: readonly string[];
}

export interface IntegrationCredentialsArgs {
  /** Integration name, used in Key Vault names (`smartspace-<name>-client-secret`). */
  readonly integrationName: string;
  /** Resource ID of the application (`/applications/<object id>`), which its credentials take. */
  readonly applicationId: pulumi.Input<string>;
  /** Client ID stored beside the credential so that a consumer reads everything from one place. */
  readonly clientId: pulumi.Input<string>;
  readonly tenantId: pulumi.Input<string>;
  /** Default: a client secret rotating every 90 days, readable by nobody but Key Vault administrators. */
  readonly credential?: ApplicationCredential;
  /** Vault that stores the credential and the IDs. */
  readonly vault: {
    readonly resourceGroupName: pulumi.Input<string>;
    readonly vaultName: pulumi.Input<string>;
    /** Subscription of the vault, where the reader role definition is resolved. */
    readonly subscriptionId: pulumi.Input<string>;
    /** Data-plane URL, `https://<vault>.vault.azure.net/`; required for certificates. */
    readonly vaultUri?: pulumi.Input<string>;
  };
  /**
   * The instant the schedule is computed for. Default: now. Only the rotation period it falls in matters, so
   * runs within one period declare identical inputs.
   */
  readonly now?: Date;
}

type SecretKind = "client-id" | "tenant-id" | "client-secret";

/** The client secret of a secret-mode integration. */
export interface ClientSecret {
  readonly slots: Readonly<Record<SlotName, azuread.ApplicationPassword>>;
  readonly currentSlot: SlotName;
  /** End of the current slot's validity (RFC3339). */
  readonly expiresOn: string;
  /** When the next `pulumi up` will rotate the older slot (RFC3339). */
  readonly nextRotationOn: string;
}

/**
 * What an application-based integration authenticates with, and the IDs a consumer reads from Key Vault:
 *
 * - `secret` (the default): a client secret in two rotating slots, the current one stored in Key Vault with
 *   the client and tenant IDs. Two `ApplicationPassword` slots alternate: each lives 2 x rotationDays and a
 *   new one is issued every rotationDays, so at any instant one slot is fresh and the other, older one is
 *   still valid. The Key Vault secret always holds the fresh (current) slot; when a period boundary passes,
 *   only the older slot is replaced and the secret gets a new version, so consumers reading the versionless
 *   URI never see an expired credential.
 * - `certificate`: a certificate generated in Key Vault, rotating on the same schedule (./clientCertificate.ts).
 * - `federated`: trust in external workloads' tokens, nothing stored (./federatedCredentials.ts).
 *
 * Secret-mode resources keep the names and places the first release gave them, and the client and tenant
 * ID secrets (with their reader grants) are the same resources in every mode, so switching an integration
 * between these modes never deletes a Key Vault secret another resource has just written. The IDs are
 * stored for certificate and federated integrations only when readers are configured.
 */
export class IntegrationCredentials extends pulumi.ComponentResource {
  readonly type: ApplicationCredential["type"];
  /** Secret mode only. */
  readonly clientSecret?: ClientSecret;
  readonly certificate?: ClientCertificate;
  readonly federated?: FederatedCredentials;
  readonly secrets: Readonly<Partial<Record<SecretKind, keyvault.Secret>>>;
  /** Names of this integration's Key Vault objects: the subjects of their Event Grid events. */
  readonly keyVaultObjectNames: readonly string[];
  readonly readerAssignments: authorization.RoleAssignment[];
  /** Versionless URIs of the stored secrets, for `@Microsoft.KeyVault(SecretUri=...)` references. */
  readonly secretUris?: {
    readonly clientId: pulumi.Output<string>;
    readonly tenantId: pulumi.Output<string>;
    readonly clientSecret?: pulumi.Output<string>;
  };

  constructor(name: string, args: IntegrationCredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:credentials:IntegrationCredentials", name, {}, opts);

    const credential: ApplicationCredential = args.credential ?? { type: "secret" };
    this.type = credential.type;
    const readers = credential.readers ?? [];
    // Federated integrations rotate nothing; their stored IDs still expire, renewed every default period.
    const rotationDays = identifierRenewalDays(
      credential.type,
      credential.type === "federated" ? undefined : credential.rotationDays,
    );
    const schedule = rotationSchedule(args.now ?? new Date(), rotationDays);

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
          secretName: `smartspace-${args.integrationName}-${kind}`,
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

    const secrets: Partial<Record<SecretKind, keyvault.Secret>> = {};
    if (credential.type === "secret" || readers.length > 0) {
      // Identifiers expire too (tenants may deny secrets without an expiry); each rotation renews the date,
      // which is an update of the secret (a new version), never a replacement.
      const identifier = {
        properties: {
          attributes: {
            enabled: true,
            expires: Math.floor(Date.parse(identifierSecretExpiry(schedule, rotationDays)) / 1000),
          },
        },
      };
      secrets["client-id"] = secret("client-id", args.clientId, identifier);
      secrets["tenant-id"] = secret("tenant-id", args.tenantId, identifier);
    }

    if (credential.type === "secret") {
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
      const slots = { a: slot("a"), b: slot("b") };
      const current = slots[schedule.current.slot];
      this.clientSecret = {
        slots,
        currentSlot: schedule.current.slot,
        expiresOn: schedule.current.endDate,
        nextRotationOn: schedule.nextRotationOn,
      };
      secrets["client-secret"] = secret("client-secret", pulumi.secret(current.value), {
        properties: {
          contentType: `Entra ID client secret of a Smartspace integration (application password, slot ${schedule.current.slot})`,
          attributes: {
            enabled: true,
            expires: Math.floor(Date.parse(schedule.current.endDate) / 1000),
          },
        },
        tags: {
          slot: schedule.current.slot,
          "key-id": current.keyId,
          "expires-on": schedule.current.endDate,
          "next-rotation-on": schedule.nextRotationOn,
        },
      });
    } else if (credential.type === "certificate") {
      if (args.vault.vaultUri === undefined) {
        throw new pulumi.ResourceError(
          `${name}: a certificate needs the vault's data-plane URL (vault.vaultUri)`,
          this,
        );
      }
      this.certificate = new ClientCertificate(
        `${name}-certificate`,
        {
          integrationName: args.integrationName,
          applicationId: args.applicationId,
          rotationDays: credential.rotationDays,
          vault: { ...args.vault, vaultUri: args.vault.vaultUri },
          readers,
          now: args.now,
        },
        { parent: this },
      );
    } else {
      this.federated = new FederatedCredentials(
        `${name}-federated`,
        { applicationId: args.applicationId, subjects: credential.subjects, tenantId: args.tenantId },
        { parent: this },
      );
    }
    this.secrets = secrets;
    this.keyVaultObjectNames = [
      ...(Object.keys(secrets) as SecretKind[]).map((kind) => `smartspace-${args.integrationName}-${kind}`),
      ...(credential.type === "certificate" ? [clientCertificateName(args.integrationName)] : []),
    ];

    this.readerAssignments = [];
    for (const reader of readers) {
      for (const [kind, stored] of Object.entries(secrets) as [SecretKind, keyvault.Secret][]) {
        this.readerAssignments.push(
          grantSecretRead(
            `${name}-reader-${reader.toLowerCase()}-${kind}`,
            {
              // Scoped to this integration's secret, not the vault: the vault may hold other integrations.
              scope: stored.id,
              reader,
              subscriptionId: args.vault.subscriptionId,
              description: `Read ${kind} of Smartspace integration ${args.integrationName} (managed by Pulumi)`,
            },
            { parent: this },
          ),
        );
      }
    }

    // A URI is not secret, but `properties` may come back marked secret because its input carried the value
    // (providers that echo write-only inputs do that); unsecret so that stack outputs stay readable.
    const uri = (stored: keyvault.Secret) => pulumi.unsecret(stored.properties.secretUri);
    if (secrets["client-id"] !== undefined && secrets["tenant-id"] !== undefined) {
      this.secretUris = {
        clientId: uri(secrets["client-id"]),
        tenantId: uri(secrets["tenant-id"]),
        ...(secrets["client-secret"] === undefined ? {} : { clientSecret: uri(secrets["client-secret"]) }),
      };
    }

    this.registerOutputs({
      secretUris: this.secretUris,
      secretExpiresOn: this.clientSecret?.expiresOn,
      nextRotationOn: this.clientSecret?.nextRotationOn,
    });
  }
}
