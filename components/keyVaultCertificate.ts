/**
 * KeyVaultCertificate: one version of a Key Vault certificate, issued for one rotation slot, as a Pulumi
 * dynamic resource. Key Vault generates the key; only the public certificate comes back. The provider is
 * providers/keyVaultCertificate.ts; state stores only the shim that loads it (see ./dynamicProvider.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import type { KeyVaultCertificateInputs, KeyVaultCertificateOutputs } from "../providers/keyVaultCertificate";
import { providerShim, providerVersion } from "./dynamicProvider";

export { KeyVaultCertificateProvider } from "../providers/keyVaultCertificate";
export type { KeyVaultCertificateInputs, KeyVaultCertificateOutputs } from "../providers/keyVaultCertificate";

/** Changes when the provider's code does, so that `pulumi preview` shows it as an update of each version. */
export const KEY_VAULT_CERTIFICATE_PROVIDER_VERSION = providerVersion("providers/keyVaultCertificate.ts");

export interface KeyVaultCertificateArgs {
  /** The vault's data-plane URL, `https://<vault>.vault.azure.net/`. */
  readonly vaultUrl: pulumi.Input<string>;
  readonly certificateName: pulumi.Input<string>;
  readonly slot: "a" | "b";
  /** The rotation generation this version is issued for; a new generation is a new version. */
  readonly generation: number;
  /** The rotation period, in days, the generation counts in. */
  readonly rotationDays: number;
  /** `CN=<name>`. */
  readonly subject: pulumi.Input<string>;
  readonly validityInMonths: pulumi.Input<number>;
  /** RSA key size. Default 2048. */
  readonly keySize?: pulumi.Input<number>;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * The version this one must be issued after (its resource ID): the current slot's version names the previous
   * slot's, since Key Vault serves the version issued last. Re-issuing that one re-issues this one after it.
   */
  readonly issuedAfter?: pulumi.Input<string>;
}

const provider = providerShim<KeyVaultCertificateInputs, KeyVaultCertificateOutputs>("keyVaultCertificate");

/**
 * A Key Vault certificate version. Its ID is the versioned certificate identifier. Resource type
 * `pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate`. Credentials are never inputs: the provider uses the
 * deployer's Azure credential when it runs.
 */
export class KeyVaultCertificate extends pulumi.dynamic.Resource {
  declare readonly vaultUrl: pulumi.Output<string>;
  declare readonly certificateName: pulumi.Output<string>;
  declare readonly slot: pulumi.Output<"a" | "b">;
  declare readonly generation: pulumi.Output<string>;
  declare readonly rotationDays: pulumi.Output<number>;
  declare readonly version: pulumi.Output<string>;
  declare readonly certificateId: pulumi.Output<string>;
  declare readonly secretId: pulumi.Output<string>;
  declare readonly certificateUri: pulumi.Output<string>;
  declare readonly secretUri: pulumi.Output<string>;
  /** The DER certificate, base64. Public: the private key stays in Key Vault. */
  declare readonly cer: pulumi.Output<string>;
  declare readonly thumbprint: pulumi.Output<string>;
  declare readonly notBefore: pulumi.Output<string>;
  declare readonly expiresOn: pulumi.Output<string>;
  declare readonly enabled: pulumi.Output<boolean>;
  /** Whether the versionless URIs serve this version, as of the last deployment or refresh. */
  declare readonly latest: pulumi.Output<boolean>;

  constructor(name: string, args: KeyVaultCertificateArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        vaultUrl: args.vaultUrl,
        certificateName: args.certificateName,
        slot: args.slot,
        generation: String(args.generation),
        rotationDays: args.rotationDays,
        subject: args.subject,
        validityInMonths: args.validityInMonths,
        keySize: args.keySize ?? 2048,
        tags: args.tags ?? {},
        providerVersion: KEY_VAULT_CERTIFICATE_PROVIDER_VERSION,
        issuedAfter: args.issuedAfter,
        version: undefined,
        certificateId: undefined,
        secretId: undefined,
        certificateUri: undefined,
        secretUri: undefined,
        cer: undefined,
        thumbprint: undefined,
        notBefore: undefined,
        expiresOn: undefined,
        enabled: undefined,
        latest: undefined,
      },
      opts,
      "smartspace",
      "KeyVaultCertificate",
    );
  }
}
