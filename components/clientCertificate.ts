import type * as authorization from "@pulumi/azure-native/authorization";
import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";
import { certificateSubject, certificateValidityMonths, clientCertificateName } from "../rules/certificates";
import { DEFAULT_ROTATION_DAYS, rotationSchedule, type SlotName } from "../rules/rotation";
import { grantSecretRead } from "./keyVaultAccess";
import { KeyVaultCertificate } from "./keyVaultCertificate";

export interface ClientCertificateArgs {
  /** Integration name, part of the certificate's name (`smartspace-<name>-client-cert`). */
  readonly integrationName: string;
  /** Resource ID of the application (`/applications/<object id>`), as `ApplicationCertificate` expects. */
  readonly applicationId: pulumi.Input<string>;
  /** Days between rotations; each version is trusted for twice this. Default: 90. */
  readonly rotationDays?: number;
  readonly vault: {
    readonly resourceGroupName: pulumi.Input<string>;
    readonly vaultName: pulumi.Input<string>;
    readonly subscriptionId: pulumi.Input<string>;
    /** Data-plane URL, `https://<vault>.vault.azure.net/`. */
    readonly vaultUri: pulumi.Input<string>;
  };
  /** Object IDs allowed to read the certificate's secret (the PEM with the private key). Default: none. */
  readonly readers?: readonly string[];
  /** The instant the schedule is computed for. Default: now; only its rotation period matters. */
  readonly now?: Date;
}

/** What a consumer needs to load the certificate; public values only. */
export interface ClientCertificateOutputs {
  readonly name: string;
  /** Versionless: always the latest version, the current slot's. */
  readonly certificateUri: pulumi.Output<string>;
  readonly secretUri: pulumi.Output<string>;
  /** SHA-1, upper-case hex, as Entra ID shows the application's certificates. */
  readonly thumbprints: { readonly current: pulumi.Output<string>; readonly previous: pulumi.Output<string> };
  /** When Entra ID stops accepting the current certificate (RFC3339). */
  readonly expiresOn: pulumi.Output<string>;
  /** When the next `pulumi up` issues a new version into the older slot (RFC3339). */
  readonly nextRotationOn: string;
}

/**
 * A client certificate generated in Key Vault, rotating without downtime: the same two-slot schedule as
 * client secrets (rules/rotation.ts). Each slot is one version of the integration's one Key Vault
 * certificate, issued for its generation, and an `ApplicationCertificate` holding that version's public
 * certificate. The current slot's version is issued after the previous slot's, so it is the latest version,
 * the one the versionless URIs serve. At a period boundary only the older slot is replaced: a new version
 * (now the latest) and its registration; the version it replaces is disabled. Key Vault cannot reorder
 * versions, so the current slot's version names the previous slot's as the one it is issued after: re-issuing
 * the previous slot's (`pulumi up --replace` after a leak) re-issues the current slot's after it.
 *
 * The private key is generated inside Key Vault and read by nobody but the configured readers: it is never
 * a resource input or output, never in state, never on the deploying machine.
 */
export class ClientCertificate extends pulumi.ComponentResource {
  readonly versions: Readonly<Record<SlotName, KeyVaultCertificate>>;
  readonly slots: Readonly<Record<SlotName, azuread.ApplicationCertificate>>;
  readonly currentSlot: SlotName;
  readonly readerAssignments: authorization.RoleAssignment[];
  readonly outputs: ClientCertificateOutputs;

  constructor(name: string, args: ClientCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:credentials:ClientCertificate", name, {}, opts);

    const rotationDays = args.rotationDays ?? DEFAULT_ROTATION_DAYS;
    const schedule = rotationSchedule(args.now ?? new Date(), rotationDays);
    this.currentSlot = schedule.current.slot;
    const certificateName = clientCertificateName(args.integrationName);

    const version = (slotName: SlotName, after?: KeyVaultCertificate) =>
      new KeyVaultCertificate(
        `${name}-version-${slotName}`,
        {
          vaultUrl: args.vault.vaultUri,
          certificateName,
          slot: slotName,
          generation: schedule.slots[slotName].generation,
          rotationDays,
          subject: certificateSubject(args.integrationName),
          validityInMonths: certificateValidityMonths(rotationDays),
          tags: { "smartspace-integration": args.integrationName },
          issuedAfter: after?.id,
        },
        { parent: this, dependsOn: after ? [after] : [] },
      );
    // The previous slot first: the version issued last is the latest, which consumers read. The current one's
    // issuedAfter is the previous one's ID, unknown while that is being re-issued, which re-issues it too.
    const previous = version(schedule.previous.slot);
    const current = version(schedule.current.slot, previous);
    this.versions = (
      schedule.current.slot === "a" ? { a: current, b: previous } : { a: previous, b: current }
    ) as Record<SlotName, KeyVaultCertificate>;

    const endDates = {} as Record<SlotName, pulumi.Output<string>>;
    const slot = (slotName: SlotName) => {
      const keyVersion = this.versions[slotName];
      // The generation's end, as for client secrets, unless the certificate ends first: Entra ID refuses a key
      // credential that outlives its certificate. Both are fixed for the version, so inputs stay stable.
      endDates[slotName] = keyVersion.expiresOn.apply((expiresOn) =>
        Date.parse(expiresOn) < Date.parse(schedule.slots[slotName].endDate)
          ? expiresOn
          : schedule.slots[slotName].endDate,
      );
      return new azuread.ApplicationCertificate(
        `${name}-slot-${slotName}`,
        {
          applicationId: args.applicationId,
          type: "AsymmetricX509Cert",
          encoding: "base64",
          // The public certificate only; the azuread SDK marks `value` secret anyway.
          value: keyVersion.cer,
          // No startDate: Entra ID takes the certificate's own, and refuses backdated ones.
          endDate: endDates[slotName],
        },
        { parent: this },
      );
    };
    this.slots = { a: slot("a"), b: slot("b") };

    // Readers get the certificate's secret (the PEM with the key) and nothing else of the vault.
    const secretScope = pulumi.interpolate`/subscriptions/${args.vault.subscriptionId}/resourceGroups/${args.vault.resourceGroupName}/providers/Microsoft.KeyVault/vaults/${args.vault.vaultName}/secrets/${certificateName}`;
    this.readerAssignments = (args.readers ?? []).map((reader) =>
      grantSecretRead(
        `${name}-reader-${reader.toLowerCase()}`,
        {
          scope: secretScope,
          reader,
          subscriptionId: args.vault.subscriptionId,
          description: `Read the client certificate of Smartspace integration ${args.integrationName} (managed by Pulumi)`,
        },
        // The secret exists once Key Vault has issued the certificate.
        { parent: this, dependsOn: [previous, current] },
      ),
    );

    const versionless = (kind: "certificates" | "secrets") =>
      pulumi.output(args.vault.vaultUri).apply((uri) => new URL(`${kind}/${certificateName}`, uri).href);
    this.outputs = {
      name: certificateName,
      certificateUri: versionless("certificates"),
      secretUri: versionless("secrets"),
      thumbprints: { current: current.thumbprint, previous: previous.thumbprint },
      expiresOn: endDates[schedule.current.slot],
      nextRotationOn: schedule.nextRotationOn,
    };
    this.registerOutputs({ ...this.outputs });
  }
}
