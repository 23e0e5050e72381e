/**
 * Key Vault certificates through `@azure/keyvault-certificates`: the data-plane calls the stack needs to issue
 * client certificates whose private key never leaves Key Vault. Only public material is ever read (a
 * version's DER certificate, its thumbprint and dates); the key stays in the certificate's secret, which this
 * client never touches.
 *
 * The SDK is configured to the project's HTTP rules (docs/architecture.md): no redirect is followed, every
 * request has a timeout and every long-running wait a deadline, retries are bounded, and errors name the
 * operation, the URL and the status with every token redacted. Results are validated before use: a version
 * without a parsable certificate, or whose thumbprint disagrees with Key Vault's, is an error.
 */
import { X509Certificate } from "node:crypto";
import type { Agent } from "node:http";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { type PipelinePolicy, RestError } from "@azure/core-rest-pipeline";
import type {
  CertificateClient,
  CertificatePolicy,
  CertificateProperties,
  KeyVaultCertificate,
} from "@azure/keyvault-certificates";
import { deployerCredential } from "./credentials";
import { excerpt, scaledTimings } from "./http";

/** A pre-acquired bearer token for the Key Vault data plane (pipelines that already hold one; tests). */
export const KEYVAULT_TOKEN_ENV = "SMARTSPACE_KEYVAULT_TOKEN";
/** Multiplies every timeout, deadline and poll interval below (tests and emulator demos, e.g. 0.01). */
export const KEYVAULT_TIME_SCALE_ENV = "SMARTSPACE_KEYVAULT_TIME_SCALE";

export const KEYVAULT_DEFAULTS = {
  /** Per request, headers and body. */
  timeoutMs: 30_000,
  /** A self-signed certificate is usually issued within seconds; Key Vault says it "may take some time". */
  createDeadlineMs: 10 * 60_000,
  /** Soft delete completes within seconds to a minute. */
  deleteDeadlineMs: 5 * 60_000,
  /** Between polls of a pending create or delete (the SDK's own default). */
  pollIntervalMs: 2_000,
  maxRetries: 3,
  retryDelayMs: 1_000,
  maxRetryDelayMs: 30_000,
} as const;

export type KeyVaultTimings = { -readonly [K in keyof typeof KEYVAULT_DEFAULTS]: number };

/** One version of a Key Vault certificate: public material only. */
export interface CertificateVersion {
  readonly name: string;
  readonly version: string;
  /** Versioned certificate identifier, `https://<vault>/certificates/<name>/<version>`. */
  readonly id: string;
  /** Versioned identifier of the secret holding this version's key and certificate. */
  readonly secretId: string;
  /** The DER certificate, base64: what Entra ID registers as the application's key credential. */
  readonly cer: string;
  /** SHA-1 thumbprint, upper-case hex, as Entra ID shows it. */
  readonly thumbprint: string;
  /** RFC3339, second precision. */
  readonly notBefore: string;
  readonly expiresOn: string;
  readonly enabled: boolean;
  readonly tags: Readonly<Record<string, string>>;
}

/** What every version of a client certificate is issued under. */
export interface ClientCertificatePolicy {
  readonly subject: string;
  readonly validityInMonths: number;
  readonly keySize: number;
  /** Key Vault's content type for the certificate's secret, e.g. application/x-pem-file. */
  readonly contentType: string;
  readonly enhancedKeyUsage: readonly string[];
  readonly expiryNoticeLifetimePercentage: number;
}

export interface KeyVaultCertificatesClientOptions {
  /** `https://<vault>.vault.azure.net/` (or another cloud's, or the emulator's). */
  readonly vaultUrl: string;
  /** Default: `SMARTSPACE_KEYVAULT_TOKEN` when set, otherwise the deployer's DefaultAzureCredential. */
  readonly credential?: TokenCredential;
  readonly timings?: Partial<KeyVaultTimings>;
  /** An https agent (tests: one trusting the emulator's certificate). */
  readonly agent?: Agent;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A failed Key Vault call. Its message never contains a token. */
export class KeyVaultError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "KeyVaultError";
  }
}

/**
 * Makes every answer the SDK cannot describe a RestError with its status: a redirect (never followed), and an
 * error with an empty body (which the SDK's error parser would turn into a TypeError without a status).
 * Runs outside the retry and authentication policies, so it sees the final answer.
 */
const strictResponses: PipelinePolicy = {
  name: "smartspaceStrictResponses",
  async sendRequest(request, next) {
    const response = await next(request);
    if (response.status >= 300 && response.status < 400) {
      throw new RestError(
        `answered ${response.status} redirecting to ${response.headers.get("location") ?? "(no location)"}, which is not followed`,
        { statusCode: response.status, request, response },
      );
    }
    if (response.status >= 400 && !response.bodyAsText) {
      throw new RestError(`answered ${response.status} with an empty body`, {
        statusCode: response.status,
        request,
        response,
      });
    }
    return response;
  },
};

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Default timings, scaled by `SMARTSPACE_KEYVAULT_TIME_SCALE` when it is set. */
export function keyVaultTimings(
  env: Readonly<Record<string, string | undefined>> = process.env,
): KeyVaultTimings {
  return scaledTimings(KEYVAULT_DEFAULTS, KEYVAULT_TIME_SCALE_ENV, env, ["maxRetries"]);
}

/** `SMARTSPACE_KEYVAULT_TOKEN` when set at the time of the request, otherwise `fallback`. */
class KeyVaultTokenCredential implements TokenCredential {
  constructor(
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly fallback: TokenCredential | undefined,
    private readonly vaultUrl: string,
  ) {}

  async getToken(scopes: string | string[]): Promise<AccessToken> {
    const fromEnv = this.env[KEYVAULT_TOKEN_ENV]?.trim();
    if (fromEnv) {
      return { token: fromEnv, expiresOnTimestamp: Date.now() + 5 * 60_000 };
    }
    if (this.fallback === undefined) {
      // A loopback vault is the emulator: a real Azure token must never be handed to it.
      throw new Error(`${this.vaultUrl} is a local emulator: set ${KEYVAULT_TOKEN_ENV} to its token`);
    }
    const token = await this.fallback.getToken(scopes).catch((error: unknown) => {
      throw new Error(
        `could not get a Key Vault token with DefaultAzureCredential (sign in with az login, or run with a ` +
          `managed identity or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or set ${KEYVAULT_TOKEN_ENV}): ` +
          (error instanceof Error ? error.message : String(error)),
      );
    });
    if (!token) {
      throw new Error(
        `DefaultAzureCredential returned no Key Vault token; set ${KEYVAULT_TOKEN_ENV} instead`,
      );
    }
    return token;
  }
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Certificate operations on one vault. Create, read, disable and delete are what the KeyVaultCertificate
 * provider needs; each fails closed.
 */
export class KeyVaultCertificatesClient {
  readonly vaultUrl: string;
  private readonly client: CertificateClient;
  private readonly timings: KeyVaultTimings;
  private readonly env: Readonly<Record<string, string | undefined>>;

  constructor(options: KeyVaultCertificatesClientOptions) {
    const url = new URL(options.vaultUrl);
    if (url.protocol !== "https:" || url.pathname.replace(/\/+$/, "") !== "" || url.search || url.hash) {
      throw new Error(
        `vault URL must be https://<vault host>/ without path or query, got ${options.vaultUrl}`,
      );
    }
    this.vaultUrl = `${url.origin}/`;
    this.env = options.env ?? process.env;
    this.timings = { ...keyVaultTimings(this.env), ...options.timings };
    const loopback = isLoopback(url.hostname);
    const credential = new KeyVaultTokenCredential(
      this.env,
      options.credential ?? (loopback ? undefined : deployerCredential()),
      this.vaultUrl,
    );
    // Loaded on first use: most stacks have no certificate integrations.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sdk = require("@azure/keyvault-certificates") as typeof import("@azure/keyvault-certificates");
    this.client = new sdk.CertificateClient(this.vaultUrl, credential, {
      // A 3xx is an answer we did not ask for: fail with it rather than follow it.
      redirectOptions: { maxRetries: 0 },
      retryOptions: {
        maxRetries: this.timings.maxRetries,
        retryDelayInMs: this.timings.retryDelayMs,
        maxRetryDelayInMs: this.timings.maxRetryDelayMs,
      },
      agent: options.agent,
      additionalPolicies: [{ policy: strictResponses, position: "perCall" }],
      // Key Vault's challenge names resource https://vault.azure.net, which a loopback host cannot end with;
      // the emulator is only ever sent the token from SMARTSPACE_KEYVAULT_TOKEN (see KeyVaultTokenCredential).
      disableChallengeResourceVerification: loopback,
    });
  }

  /** The versionless identifier of certificate `name`, and of its secret. */
  certificateUri(name: string): string {
    return `${this.vaultUrl}certificates/${name}`;
  }

  secretUri(name: string): string {
    return `${this.vaultUrl}secrets/${name}`;
  }

  /** One version, or undefined when it (or the whole certificate) does not exist. */
  async getVersion(name: string, version: string): Promise<CertificateVersion | undefined> {
    const certificate = await this.call(`GET certificates/${name}/${version}`, (options) =>
      this.client.getCertificateVersion(name, version, options),
    ).catch(notFoundAsUndefined);
    return certificate && this.toVersion(name, certificate);
  }

  /** The latest version, which the versionless URIs serve; undefined when the certificate does not exist. */
  async getLatest(name: string): Promise<CertificateVersion | undefined> {
    const certificate = await this.call(`GET certificates/${name}`, (options) =>
      this.client.getCertificate(name, options),
    ).catch(notFoundAsUndefined);
    return certificate && this.toVersion(name, certificate);
  }

  /** Every version's properties (no certificates), for at most 25 pages. */
  async listVersions(name: string): Promise<CertificateProperties[]> {
    const versions: CertificateProperties[] = [];
    await this.call(`GET certificates/${name}/versions`, async (options) => {
      let pages = 0;
      for await (const page of this.client.listPropertiesOfCertificateVersions(name, options).byPage()) {
        versions.push(...page);
        if (++pages > 25) {
          throw new Error(`more than 25 pages of versions; refusing to read further`);
        }
      }
    }).catch(notFoundAsUndefined);
    return versions;
  }

  /** Whether a create operation is still running for `name`. */
  async hasPendingCreate(name: string): Promise<boolean> {
    const operation = await this.call(`GET certificates/${name}/pending`, async (options) => {
      const poller = await this.client.getCertificateOperation(name, options);
      return poller.getOperationState().certificateOperation;
    }).catch(notFoundAsUndefined);
    return operation?.status === "inProgress";
  }

  /**
   * Issues a new version under `policy` with `tags`, and waits until Key Vault has issued it. It is the
   * latest version when this returns (the result says so only if its tags are `tags`). A create that is
   * already running (a retried request, an earlier run that lost its answer) is waited for instead of
   * started twice.
   */
  async createVersion(
    name: string,
    policy: ClientCertificatePolicy,
    tags: Readonly<Record<string, string>>,
  ): Promise<CertificateVersion> {
    const deadline = AbortSignal.timeout(this.timings.createDeadlineMs);
    if (await this.hasPendingCreate(name)) {
      await this.waitForPendingCreate(name, deadline);
    }
    const sdkPolicy: CertificatePolicy = {
      issuerName: "Self",
      subject: policy.subject,
      validityInMonths: policy.validityInMonths,
      keyType: "RSA",
      keySize: policy.keySize,
      // Consumers load the key from the certificate's secret (App Service, the CSI driver, an agent).
      exportable: true,
      // A new key for each version: a rotation that kept the key would rotate nothing.
      reuseKey: false,
      contentType: policy.contentType as CertificatePolicy["contentType"],
      keyUsage: ["digitalSignature"],
      enhancedKeyUsage: [...policy.enhancedKeyUsage],
      lifetimeActions: [
        { action: "EmailContacts", lifetimePercentage: policy.expiryNoticeLifetimePercentage },
      ],
    };
    try {
      await this.call(`POST certificates/${name}/create`, async (options) => {
        const poller = await this.client.beginCreateCertificate(name, sdkPolicy, {
          ...options,
          tags: { ...tags },
          intervalInMs: this.timings.pollIntervalMs,
          abortSignal: deadline,
        });
        return poller.pollUntilDone();
      });
    } catch (error) {
      // A create that answered 409 because one is already running (a retry of our own POST) is waited for.
      if (!(error instanceof KeyVaultError) || error.status !== 409 || !(await this.hasPendingCreate(name))) {
        throw error;
      }
      await this.waitForPendingCreate(name, deadline);
    }
    const latest = await this.getLatest(name);
    if (latest === undefined) {
      throw new KeyVaultError(
        `Key Vault reported certificate ${name} issued at ${this.vaultUrl}, but it cannot be read back`,
        undefined,
        undefined,
      );
    }
    return latest;
  }

  /** Enables or disables one version; undefined when it no longer exists. */
  async setEnabled(name: string, version: string, enabled: boolean): Promise<CertificateVersion | undefined> {
    const certificate = await this.call(`PATCH certificates/${name}/${version}`, (options) =>
      this.client.updateCertificateProperties(name, version, { ...options, enabled }),
    ).catch(notFoundAsUndefined);
    return certificate && this.toVersion(name, certificate);
  }

  /** Replaces one version's tags; undefined when it no longer exists. */
  async setTags(
    name: string,
    version: string,
    tags: Readonly<Record<string, string>>,
  ): Promise<CertificateVersion | undefined> {
    const certificate = await this.call(`PATCH certificates/${name}/${version}`, (options) =>
      this.client.updateCertificateProperties(name, version, { ...options, tags: { ...tags } }),
    ).catch(notFoundAsUndefined);
    return certificate && this.toVersion(name, certificate);
  }

  /**
   * Deletes the certificate with all its versions, key and secret, and waits until the deletion completed.
   * Vaults keep deleted objects (soft delete) for their retention period; nothing here purges. A certificate
   * already gone counts as deleted.
   */
  async deleteCertificate(name: string): Promise<void> {
    const deadline = AbortSignal.timeout(this.timings.deleteDeadlineMs);
    await this.call(`DELETE certificates/${name}`, async (options) => {
      const poller = await this.client.beginDeleteCertificate(name, {
        ...options,
        intervalInMs: this.timings.pollIntervalMs,
        abortSignal: deadline,
      });
      await poller.pollUntilDone();
    }).catch(notFoundAsUndefined);
  }

  private async waitForPendingCreate(name: string, deadline: AbortSignal): Promise<void> {
    await this.call(`GET certificates/${name}/pending`, async (options) => {
      const poller = await this.client.getCertificateOperation(name, {
        ...options,
        intervalInMs: this.timings.pollIntervalMs,
        abortSignal: deadline,
      });
      await poller.pollUntilDone();
    }).catch(notFoundAsUndefined);
  }

  /** Runs one SDK call with a per-request timeout, translating its failure into a {@link KeyVaultError}. */
  private async call<T>(
    what: string,
    run: (options: { requestOptions: { timeout: number } }) => Promise<T>,
  ): Promise<T> {
    try {
      return await run({ requestOptions: { timeout: this.timings.timeoutMs } });
    } catch (error) {
      throw this.describe(what, error);
    }
  }

  private describe(what: string, error: unknown): KeyVaultError {
    if (error instanceof KeyVaultError) return error;
    const raw = error as {
      statusCode?: number;
      code?: string;
      message?: string;
      name?: string;
      details?: unknown;
    };
    const status = typeof raw.statusCode === "number" ? raw.statusCode : undefined;
    const details = raw.details as { error?: { code?: string; innerError?: { code?: string } } } | undefined;
    const code = details?.error?.innerError?.code ?? details?.error?.code ?? raw.code;
    const [method, path] = what.split(" ");
    const name = path.split("/")[1];
    let hint = "";
    if (status === 401 || status === 403) {
      hint =
        ". The deploying identity needs the Key Vault Certificates Officer role (or a role with the " +
        "Microsoft.KeyVault/vaults/certificates/* data actions) on the vault or its resource group; a new role " +
        "assignment can take a few minutes to apply";
    } else if (code === "ObjectIsDeletedButRecoverable") {
      hint =
        ". The vault still keeps a deleted certificate of that name (soft delete): recover it with " +
        `az keyvault certificate recover --vault-name <vault> --name ${name} and run pulumi up again, or, if ` +
        "nothing needs it and purge protection allows, purge it";
    } else if (raw.name === "AbortError") {
      hint = ": it did not finish before its deadline";
    }
    const text = excerpt(raw.message ?? String(error), [this.env[KEYVAULT_TOKEN_ENV] ?? ""]);
    return new KeyVaultError(
      `Key Vault ${method} ${this.vaultUrl}${path} failed${status === undefined ? "" : ` with ${status}`}` +
        `${code ? ` ${code}` : ""}: ${text}${hint}`,
      status,
      code,
    );
  }

  /** Validates what Key Vault returned for a version: fail closed on anything that does not add up. */
  private toVersion(name: string, certificate: KeyVaultCertificate): CertificateVersion {
    const { properties } = certificate;
    const where = `certificate ${name} at ${this.vaultUrl}`;
    const version = properties.version;
    if (!version || !certificate.cer || certificate.cer.length === 0) {
      throw new KeyVaultError(
        `Key Vault returned ${where} without a version or certificate`,
        undefined,
        undefined,
      );
    }
    const der = Buffer.from(certificate.cer);
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(der);
    } catch {
      throw new KeyVaultError(
        `Key Vault returned ${where}/${version} with a certificate that does not parse`,
        undefined,
        undefined,
      );
    }
    const thumbprint = x509.fingerprint.replace(/:/g, "").toUpperCase();
    const reported =
      properties.x509Thumbprint && Buffer.from(properties.x509Thumbprint).toString("hex").toUpperCase();
    if (reported !== undefined && reported !== thumbprint) {
      throw new KeyVaultError(
        `Key Vault returned ${where}/${version} whose thumbprint ${reported} is not its certificate's (${thumbprint})`,
        undefined,
        undefined,
      );
    }
    const expected = `${this.vaultUrl}certificates/${name}/${version}`;
    if (properties.id?.toLowerCase() !== expected.toLowerCase()) {
      throw new KeyVaultError(
        `Key Vault returned ${properties.id ?? "no id"} for ${expected}`,
        undefined,
        undefined,
      );
    }
    return {
      name,
      version,
      id: expected,
      secretId: `${this.vaultUrl}secrets/${name}/${version}`,
      cer: der.toString("base64"),
      thumbprint,
      notBefore: rfc3339(new Date(x509.validFrom)),
      expiresOn: rfc3339(new Date(x509.validTo)),
      enabled: properties.enabled !== false,
      tags: { ...(properties.tags ?? {}) },
    };
  }
}

function notFoundAsUndefined(error: unknown): undefined {
  if (error instanceof KeyVaultError && error.status === 404) {
    return undefined;
  }
  throw error;
}
