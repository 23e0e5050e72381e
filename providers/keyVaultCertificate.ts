/**
 * The KeyVaultCertificate dynamic provider: one version of a Key Vault certificate, issued for one rotation
 * slot of a client certificate. Key Vault generates the key pair; the provider reads back only the public
 * certificate, which the stack registers with the application. It runs in Pulumi's dynamic-provider host,
 * loaded from the project at run time by the shim in components/dynamicProvider.ts.
 *
 * Versions of one certificate share its name. Key Vault serves the version issued last from the versionless
 * URIs and cannot reorder versions, nor delete a single one. So:
 *
 * - a create always issues a new version (a new key): it cannot tell a version a lost create left behind from
 *   the one a replacement (`pulumi up --replace`, same slot and generation) replaces, and must never hand the
 *   replaced key back;
 * - a delete disables its own version and leftovers of lost creates for its slot and period (issued before it
 *   for its generation, or for an earlier generation), never a version issued after it for its generation (a
 *   replacement's), and deletes the certificate when no other enabled version is left;
 * - the current slot's version names the previous slot's (`issuedAfter`), so re-issuing that one re-issues the
 *   current one after it, and refresh notices when Key Vault serves another version than the current slot's.
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
import { checkInputs, UNKNOWN } from "./inputs";

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
  /**
   * The current slot's version only: the versioned identifier of the version it must be issued after (the
   * previous slot's). Another value, or one unknown until apply, re-issues this version.
   */
  readonly issuedAfter?: string;
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
  /** Whether the versionless URIs serve this version (Key Vault's latest), as of the last create, update or read. */
  readonly latest: boolean;
}

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
/** A version's segment of a versioned identifier (Key Vault's are 32 hex digits). */
const VERSION_SEGMENT = /^[0-9A-Za-z]{1,64}$/;

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
    const { inputs, failures } = checkInputs(raw, CHECKS, (name, value) =>
      name === "vaultUrl" ? normalizeVaultUrl(value) : value,
    );
    if (raw.issuedAfter !== undefined) {
      const problem = [raw.issuedAfter, inputs.vaultUrl, inputs.certificateName].includes(UNKNOWN)
        ? undefined
        : checkIssuedAfter(raw.issuedAfter, inputs.vaultUrl, inputs.certificateName);
      if (problem !== undefined) {
        failures.push({ property: "issuedAfter", reason: `issuedAfter ${problem}` });
      }
      inputs.issuedAfter = raw.issuedAfter;
    }
    return { inputs: inputs as unknown as KeyVaultCertificateInputs, failures };
  }

  /**
   * Anything that asks for another certificate replaces the version, and so does a re-issued predecessor
   * (`issuedAfter`) or, for the current slot's version, Key Vault serving another version; tags and the
   * provider version update it. A version someone disabled is drift too: the update enables it again.
   */
  async diff(
    _id: string,
    olds: KeyVaultCertificateOutputs,
    news: KeyVaultCertificateInputs,
  ): Promise<pulumi.dynamic.DiffResult> {
    const { replaces, updates } = versionChanges(olds, news);
    if (
      replaces.length === 0 &&
      updates.includes("issuedAfter") &&
      (await this.issuedLater(olds, news.issuedAfter!))
    ) {
      // State from before issuedAfter meets a predecessor issued after this version (re-issued in this very
      // run, whose preview showed it unknown): this one must come after it, as it would with recorded state.
      updates.splice(updates.indexOf("issuedAfter"), 1);
      replaces.push("issuedAfter");
    }
    return {
      changes: replaces.length > 0 || updates.length > 0 || olds.enabled === false,
      replaces,
      deleteBeforeReplace: false,
    };
  }

  /**
   * Issues a new version, always: also when a version of this slot, generation and period exists. That one is
   * either the version a replacement replaces, whose key must not come back, or the leftover of a create whose
   * answer was lost, which the resource's delete disables (see {@link delete}).
   */
  async create(
    inputs: KeyVaultCertificateInputs,
  ): Promise<pulumi.dynamic.CreateResult<KeyVaultCertificateOutputs>> {
    const client = this.clientFor(inputs.vaultUrl);
    const tags = versionTags(inputs);
    const before = await client.getLatest(inputs.certificateName);
    // Only a certificate this stack created gets versions (someone may have added one by hand since).
    if (
      before !== undefined &&
      before.tags[MANAGED_TAG] !== tags[MANAGED_TAG] &&
      !(await client.listVersions(inputs.certificateName)).some(
        (version) => version.tags?.[MANAGED_TAG] === tags[MANAGED_TAG],
      )
    ) {
      throw new Error(
        `certificate ${inputs.certificateName} already exists in ${client.vaultUrl} and was not created by this ` +
          `stack (none of its versions has the ${MANAGED_TAG}=${tags[MANAGED_TAG]} tag); refusing to add versions to it. ` +
          `Remove it, or give the integration another name`,
      );
    }
    const version = await client.createVersion(
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
    if (version.version === before?.version || !isFor(version, inputs)) {
      throw new Error(
        `after issuing a version of ${inputs.certificateName} for slot ${inputs.slot}, generation ` +
          `${inputs.generation}, the latest version is ${version.version}, which is not the one issued: ` +
          `something else issued a version at the same time. Run pulumi up again`,
      );
    }
    return { id: version.id, outs: outputsOf(inputs, version, client, true) };
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
    const latest = await client.getLatest(props.certificateName);
    return {
      id,
      props: outputsOf(
        { ...props, tags: userTags(version.tags) },
        version,
        client,
        latest?.version === version.version,
      ),
    };
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
    const latest = await client.getLatest(news.certificateName);
    return { outs: outputsOf(news, version, client, latest?.version === version.version) };
  }

  /**
   * Disables the version (Key Vault cannot delete one version) and leftovers of lost creates: enabled versions
   * for the same slot and period, issued before it for the same generation or for an earlier one (a slot's
   * generation only grows, so no resource holds those). A version issued after it for its generation is never
   * touched: with `pulumi up --replace` (create before delete) the replacement has the same slot, generation and
   * period, and is the one consumers now load. Versions are told apart by their creation time, since Key Vault
   * lists them in no order of issue. When no other enabled version is left, the certificate is deleted: the
   * last slot removed takes it with it. The vault keeps it for its soft-delete retention; nothing is purged.
   */
  async delete(_id: string, props: KeyVaultCertificateOutputs): Promise<void> {
    const client = this.clientFor(props.vaultUrl);
    const name = props.certificateName;
    const versions = await client.listVersions(name);
    const issued = versions.find((version) => version.version === props.version)?.createdOn?.getTime();
    const leftovers = versions.filter(
      (version) =>
        version.version !== undefined &&
        version.version !== props.version &&
        version.enabled !== false &&
        isLeftover(version, props, issued),
    );
    await client.setEnabled(name, props.version, false);
    for (const leftover of leftovers) {
      await client.setEnabled(name, leftover.version!, false);
    }
    const disabled = new Set([props.version, ...leftovers.map((version) => version.version)]);
    if (!versions.some((version) => version.enabled !== false && !disabled.has(version.version))) {
      await client.deleteCertificate(name);
    }
  }

  /** Whether Key Vault created the version `otherId` names after the version of `olds`. */
  private async issuedLater(olds: KeyVaultCertificateOutputs, otherId: string): Promise<boolean> {
    const client = this.clientFor(olds.vaultUrl);
    const created = new Map(
      (await client.listVersions(olds.certificateName)).map((version) => [
        version.version,
        version.createdOn?.getTime(),
      ]),
    );
    const mine = created.get(olds.version);
    const other = created.get(otherId.slice(otherId.lastIndexOf("/") + 1));
    return mine !== undefined && other !== undefined && other > mine;
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

/**
 * What the engine is to do with a version: the inputs that replace it and those that update it. Exported for
 * the test mocks, which model this provider's diff.
 */
export function versionChanges(
  olds: Partial<KeyVaultCertificateOutputs>,
  news: KeyVaultCertificateInputs,
): { replaces: string[]; updates: string[] } {
  const changed = (name: InputName) =>
    !equal(
      name === "vaultUrl" ? normalizeVaultUrl(olds[name]) : (olds as Record<string, unknown>)[name],
      (news as unknown as Record<string, unknown>)[name],
    );
  const replaces: string[] = REPLACE_ON.filter(changed);
  const updates: string[] = UPDATE_ON.filter(changed);
  // The previous slot's version has none: nothing to follow (it keeps what it had as the current one).
  if (news.issuedAfter !== undefined) {
    if (
      news.issuedAfter === UNKNOWN ||
      (olds.issuedAfter !== undefined && olds.issuedAfter !== news.issuedAfter)
    ) {
      // The version it follows is being re-issued: Key Vault would serve that one unless this one comes after.
      replaces.push("issuedAfter");
    } else if (olds.issuedAfter === undefined) {
      // State written before the input existed, when the program's dependsOn issued it last: record it (the
      // provider's diff first asks Key Vault whether that still holds; the test mocks model recorded state).
      updates.push("issuedAfter");
    }
    if (replaces.length === 0 && olds.latest === false) {
      // Refresh found Key Vault serving another version (one issued outside the stack, or by a failed run):
      // only a new version can be the latest again.
      replaces.push("latest");
    }
  }
  return { replaces, updates };
}

/** Whether `value` is a versioned identifier of a version of this certificate in this vault. */
function checkIssuedAfter(value: unknown, vaultUrl: unknown, certificateName: unknown): string | undefined {
  const expected =
    typeof vaultUrl === "string" && typeof certificateName === "string"
      ? `${vaultUrl}certificates/${certificateName}/`
      : undefined;
  if (
    typeof value === "string" &&
    expected !== undefined &&
    value.toLowerCase().startsWith(expected.toLowerCase()) &&
    VERSION_SEGMENT.test(value.slice(expected.length))
  ) {
    return undefined;
  }
  return `must be the versioned identifier of another version of the certificate (${expected ?? "<vault>/certificates/<name>/"}<version>), got ${JSON.stringify(value)}`;
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

/**
 * Whether `version` can only be left over from a lost create, seen from a version of `inputs`' slot, generation
 * and period issued at `issued`: issued earlier for that generation, or for an earlier generation of the slot.
 */
function isLeftover(
  version: { tags?: Readonly<Record<string, string>>; createdOn?: Date },
  inputs: Pick<KeyVaultCertificateInputs, "slot" | "generation" | "rotationDays">,
  issued: number | undefined,
): boolean {
  const generation = Number(version.tags?.[GENERATION_TAG]);
  if (
    version.tags?.[SLOT_TAG] !== inputs.slot ||
    version.tags?.[ROTATION_DAYS_TAG] !== String(inputs.rotationDays) ||
    !/^-?\d+$/.test(version.tags?.[GENERATION_TAG] ?? "")
  ) {
    return false;
  }
  if (generation < Number(inputs.generation)) return true;
  return (
    isFor(version, inputs) &&
    issued !== undefined &&
    version.createdOn !== undefined &&
    version.createdOn.getTime() < issued
  );
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
  latest: boolean,
): KeyVaultCertificateOutputs {
  return {
    ...(inputs.issuedAfter === undefined ? {} : { issuedAfter: inputs.issuedAfter }),
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
    latest,
  };
}
