/**
 * The KeyVaultCertificate dynamic provider: one version of a Key Vault certificate, issued for one rotation
 * slot of a client certificate. Key Vault generates the key pair; the provider reads back only the public
 * certificate, which the stack registers with the application. It runs in Pulumi's dynamic-provider host,
 * loaded from the project at run time by the shim in components/dynamicProvider.ts.
 *
 * Versions of one certificate share its name. Creating a resource issues a new version, which Key Vault makes
 * the latest (what the versionless URIs serve); deleting one disables its version, and deleting the last
 * enabled version deletes the certificate. Key Vault cannot delete a single version.
 */
import type * as pulumi from "@pulumi/pulumi";
import {
  type CertificateVersion,
  KeyVaultCertificatesClient,
  type KeyVaultCertificatesClientOptions,
} from "../clients/keyVaultCertificates";
import {
  CLIENT_AUTH_EKU,
  EXPIRY_NOTICE_LIFETIME_PERCENTAGE,
  KEY_VAULT_OBJECT_NAME,
  PEM_CONTENT_TYPE,
} from "../rules/certificates";
import { MAX_ROTATION_DAYS, MIN_ROTATION_DAYS } from "../rules/rotation";

/** The resource's inputs as the provider receives them (after `check`). */
export interface KeyVaultCertificateInputs {
  /** `https://<vault>.vault.azure.net/` */
  readonly vaultUrl: string;
  readonly certificateName: string;
  readonly slot: "a" | "b";
  /** The rotation generation this version is issued for (rules/rotation.ts), as a string. */
  readonly generation: string;
  /** The rotation period the generation counts in: generation 10 of 90 days is not generation 10 of 30. */
  readonly rotationDays: number;
  readonly subject: string;
  readonly validityInMonths: number;
  readonly keySize: number;
  /** Tags of the version, beside the slot and generation tags the provider adds. */
  readonly tags: Readonly<Record<string, string>>;
  readonly providerVersion: string;
}

export interface KeyVaultCertificateOutputs extends KeyVaultCertificateInputs {
  readonly version: string;
  /** Versioned certificate and secret identifiers. */
  readonly certificateId: string;
  readonly secretId: string;
  /** Versionless: what consumers read, always the latest version. */
  readonly certificateUri: string;
  readonly secretUri: string;
  /** DER certificate, base64: public. */
  readonly cer: string;
  /** SHA-1, upper-case hex, as Entra ID shows it. */
  readonly thumbprint: string;
  readonly notBefore: string;
  readonly expiresOn: string;
  readonly enabled: boolean;
}

/** The SDK's placeholder for a value not known until apply. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
/** Tags the provider sets on each version, so that a version issued but never recorded can be recognized. */
const SLOT_TAG = "rotation-slot";
const GENERATION_TAG = "rotation-generation";
const ROTATION_DAYS_TAG = "rotation-days";
const MANAGED_TAG = "managed-by";

/** Changing these asks for another version: the resource is replaced (the new version first). */
const REPLACE_ON = [
  "vaultUrl",
  "certificateName",
  "slot",
  "generation",
  "rotationDays",
  "subject",
  "validityInMonths",
  "keySize",
] as const;
const UPDATE_ON = ["tags", "providerVersion"] as const;
type InputName = (typeof REPLACE_ON)[number] | (typeof UPDATE_ON)[number];

const CHECKS: Record<InputName, (value: unknown) => string | undefined> = {
  vaultUrl: (value) => {
    if (typeof value !== "string") return "must be the vault's https URL";
    try {
      const url = new URL(value);
      return url.protocol === "https:" && url.pathname.replace(/\/+$/, "") === "" && !url.search && !url.hash
        ? undefined
        : `must be the vault's https URL without path or query, got ${JSON.stringify(value)}`;
    } catch {
      return `must be the vault's https URL, got ${JSON.stringify(value)}`;
    }
  },
  certificateName: (value) =>
    typeof value === "string" && KEY_VAULT_OBJECT_NAME.test(value)
      ? undefined
      : `must be 1-127 letters, digits or hyphens, got ${JSON.stringify(value)}`,
  slot: (value) =>
    value === "a" || value === "b" ? undefined : `must be "a" or "b", got ${JSON.stringify(value)}`,
  generation: (value) =>
    typeof value === "string" && /^-?\d+$/.test(value)
      ? undefined
      : `must be a whole number as a string, got ${JSON.stringify(value)}`,
  rotationDays: (value) =>
    Number.isInteger(value) &&
    (value as number) >= MIN_ROTATION_DAYS &&
    (value as number) <= MAX_ROTATION_DAYS
      ? undefined
      : `must be a whole number of days from ${MIN_ROTATION_DAYS} to ${MAX_ROTATION_DAYS}, got ${JSON.stringify(value)}`,
  subject: (value) =>
    typeof value === "string" && /^CN=[^,]+$/.test(value)
      ? undefined
      : `must be CN=<name>, got ${JSON.stringify(value)}`,
  validityInMonths: (value) =>
    Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 120
      ? undefined
      : `must be a whole number of months from 1 to 120, got ${JSON.stringify(value)}`,
  keySize: (value) =>
    value === 2048 || value === 3072 || value === 4096
      ? undefined
      : `must be 2048, 3072 or 4096, got ${JSON.stringify(value)}`,
  tags: (value) =>
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    Object.values(value).every((tag) => typeof tag === "string")
      ? undefined
      : "must be a map of strings",
  providerVersion: (value) =>
    typeof value === "string" && value !== "" ? undefined : "must be a non-empty string",
};

function normalizeVaultUrl(value: unknown): unknown {
  if (typeof value !== "string" || value === UNKNOWN || CHECKS.vaultUrl(value) !== undefined) return value;
  return `${new URL(value).origin}/`;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
}

function sorted(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)));
}

export interface KeyVaultCertificateProviderOptions {
  /** For every client the provider creates (tests: an agent trusting the emulator, short timings). */
  readonly clientOptions?: Omit<KeyVaultCertificatesClientOptions, "vaultUrl">;
}

/** CRUD for one certificate version in Key Vault. */
export class KeyVaultCertificateProvider implements pulumi.dynamic.ResourceProvider<
  KeyVaultCertificateInputs,
  KeyVaultCertificateOutputs
> {
  private readonly clients = new Map<string, KeyVaultCertificatesClient>();

  constructor(private readonly options: KeyVaultCertificateProviderOptions = {}) {}

  /** Validates every input, one failure per bad property; values unknown during preview pass. */
  async check(
    _olds: KeyVaultCertificateInputs,
    news: KeyVaultCertificateInputs,
  ): Promise<pulumi.dynamic.CheckResult<KeyVaultCertificateInputs>> {
    const raw = news as unknown as Record<string, unknown>;
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const inputs: Record<string, unknown> = {};
    for (const name of [...REPLACE_ON, ...UPDATE_ON]) {
      const value = raw[name];
      const problem = value === UNKNOWN ? undefined : CHECKS[name](value);
      if (problem !== undefined) {
        failures.push({ property: name, reason: `${name} ${problem}` });
      }
      inputs[name] = name === "vaultUrl" ? normalizeVaultUrl(value) : value;
    }
    return { inputs: inputs as unknown as KeyVaultCertificateInputs, failures };
  }

  /**
   * Anything that asks for another certificate replaces the version; tags and the provider version update it.
   * A version someone disabled is drift too: the update enables it again.
   */
  async diff(
    _id: string,
    olds: KeyVaultCertificateOutputs,
    news: KeyVaultCertificateInputs,
  ): Promise<pulumi.dynamic.DiffResult> {
    const changed = (name: InputName) =>
      !equal(
        name === "vaultUrl"
          ? normalizeVaultUrl(olds[name])
          : (olds as unknown as Record<string, unknown>)[name],
        (news as unknown as Record<string, unknown>)[name],
      );
    const replaces = REPLACE_ON.filter(changed);
    const updates = UPDATE_ON.filter(changed);
    const disabled = olds.enabled === false;
    return {
      changes: replaces.length > 0 || updates.length > 0 || disabled,
      replaces,
      deleteBeforeReplace: false,
    };
  }

  /**
   * Issues the version. A version of this slot, generation and period that is already the latest (issued by an
   * earlier run whose answer was lost) is taken over instead of issuing another.
   */
  async create(
    inputs: KeyVaultCertificateInputs,
  ): Promise<pulumi.dynamic.CreateResult<KeyVaultCertificateOutputs>> {
    const client = this.clientFor(inputs.vaultUrl);
    const tags = versionTags(inputs);
    const latest = await client.getLatest(inputs.certificateName);
    if (latest !== undefined && latest.tags[MANAGED_TAG] !== tags[MANAGED_TAG]) {
      throw new Error(
        `certificate ${inputs.certificateName} already exists in ${client.vaultUrl} and was not created by this ` +
          `stack (its latest version has no ${MANAGED_TAG}=${tags[MANAGED_TAG]} tag); refusing to add versions to it. ` +
          `Remove it, or give the integration another name`,
      );
    }
    let version: CertificateVersion;
    if (latest !== undefined && latest.enabled && isFor(latest, inputs)) {
      version = latest;
    } else {
      version = await client.createVersion(
        inputs.certificateName,
        {
          subject: inputs.subject,
          validityInMonths: inputs.validityInMonths,
          keySize: inputs.keySize,
          contentType: PEM_CONTENT_TYPE,
          enhancedKeyUsage: [CLIENT_AUTH_EKU],
          expiryNoticeLifetimePercentage: EXPIRY_NOTICE_LIFETIME_PERCENTAGE,
        },
        tags,
      );
      if (!isFor(version, inputs)) {
        throw new Error(
          `after issuing a version of ${inputs.certificateName} for slot ${inputs.slot}, generation ` +
            `${inputs.generation}, the latest version is ${version.version}, tagged for another slot or ` +
            `generation: something else issued a version at the same time. Run pulumi up again`,
        );
      }
    }
    return { id: version.id, outs: outputsOf(inputs, version, client) };
  }

  /**
   * Reads the version. A version that is gone (the certificate was deleted) reads as no ID, which the engine
   * takes as deleted: `pulumi refresh` shows it, and the next `pulumi up` issues a new one.
   */
  async read(
    id: string,
    props?: KeyVaultCertificateOutputs,
  ): Promise<pulumi.dynamic.ReadResult<KeyVaultCertificateOutputs>> {
    if (!props || typeof props.vaultUrl !== "string" || typeof props.version !== "string") {
      throw new Error(
        `cannot read KeyVaultCertificate ${id}: its state lacks vaultUrl and version; declare the resource ` +
          `in the program instead of importing it`,
      );
    }
    const client = this.clientFor(props.vaultUrl);
    const version = await client.getVersion(props.certificateName, props.version);
    if (version === undefined) {
      return {};
    }
    return { id, props: outputsOf({ ...props, tags: userTags(version.tags) }, version, client) };
  }

  /** Enables a version someone disabled, and applies changed tags. */
  async update(
    id: string,
    olds: KeyVaultCertificateOutputs,
    news: KeyVaultCertificateInputs,
  ): Promise<pulumi.dynamic.UpdateResult<KeyVaultCertificateOutputs>> {
    const client = this.clientFor(news.vaultUrl);
    let version = await client.getVersion(news.certificateName, olds.version);
    if (version !== undefined && !equal(version.tags, versionTags(news))) {
      version = await client.setTags(news.certificateName, olds.version, versionTags(news));
    }
    if (version !== undefined && !version.enabled) {
      version = await client.setEnabled(news.certificateName, olds.version, true);
    }
    if (version === undefined) {
      throw new Error(
        `certificate version ${id} no longer exists; run pulumi refresh, then pulumi up issues a new one`,
      );
    }
    return { outs: outputsOf(news, version, client) };
  }

  /**
   * Disables the version (Key Vault cannot delete one version), with any other version issued for the same
   * slot, generation and period (a create retried after its answer was lost), then deletes the certificate when no
   * enabled version is left: the last slot removed takes the certificate with it. The vault keeps the
   * deleted certificate for its soft-delete retention; nothing is purged.
   */
  async delete(_id: string, props: KeyVaultCertificateOutputs): Promise<void> {
    const client = this.clientFor(props.vaultUrl);
    const name = props.certificateName;
    const versions = await client.listVersions(name);
    const mine = (version: { version?: string; tags?: Record<string, string> }) =>
      version.version === props.version || isFor(version, props);
    await client.setEnabled(name, props.version, false);
    for (const version of versions) {
      if (
        version.version !== undefined &&
        version.version !== props.version &&
        mine(version) &&
        version.enabled !== false
      ) {
        await client.setEnabled(name, version.version, false);
      }
    }
    if (!versions.some((version) => version.enabled !== false && !mine(version))) {
      await client.deleteCertificate(name);
    }
  }

  private clientFor(vaultUrl: string): KeyVaultCertificatesClient {
    const key = `${new URL(vaultUrl).origin}/`;
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new KeyVaultCertificatesClient({ ...this.options.clientOptions, vaultUrl: key });
      this.clients.set(key, client);
    }
    return client;
  }
}

function versionTags(inputs: KeyVaultCertificateInputs): Record<string, string> {
  return {
    ...inputs.tags,
    [MANAGED_TAG]: "pulumi",
    [SLOT_TAG]: inputs.slot,
    [GENERATION_TAG]: inputs.generation,
    [ROTATION_DAYS_TAG]: String(inputs.rotationDays),
  };
}

/** The tags of a version that the program sets, without the provider's own. */
function userTags(actual: Readonly<Record<string, string>>): Record<string, string> {
  const own = new Set([MANAGED_TAG, SLOT_TAG, GENERATION_TAG, ROTATION_DAYS_TAG]);
  return Object.fromEntries(Object.entries(actual).filter(([key]) => !own.has(key)));
}

/** Whether `version` was issued for the slot, generation and period of `inputs`. */
function isFor(
  version: { tags?: Readonly<Record<string, string>> },
  inputs: Pick<KeyVaultCertificateInputs, "slot" | "generation" | "rotationDays">,
): boolean {
  return (
    version.tags?.[SLOT_TAG] === inputs.slot &&
    version.tags?.[GENERATION_TAG] === inputs.generation &&
    version.tags?.[ROTATION_DAYS_TAG] === String(inputs.rotationDays)
  );
}

function outputsOf(
  inputs: KeyVaultCertificateInputs,
  version: CertificateVersion,
  client: KeyVaultCertificatesClient,
): KeyVaultCertificateOutputs {
  return {
    vaultUrl: inputs.vaultUrl,
    certificateName: inputs.certificateName,
    slot: inputs.slot,
    generation: inputs.generation,
    rotationDays: inputs.rotationDays,
    subject: inputs.subject,
    validityInMonths: inputs.validityInMonths,
    keySize: inputs.keySize,
    tags: inputs.tags,
    providerVersion: inputs.providerVersion,
    version: version.version,
    certificateId: version.id,
    secretId: version.secretId,
    certificateUri: client.certificateUri(inputs.certificateName),
    secretUri: client.secretUri(inputs.certificateName),
    cer: version.cer,
    thumbprint: version.thumbprint,
    notBefore: version.notBefore,
    expiresOn: version.expiresOn,
    enabled: version.enabled,
  };
}
