/**
 * A local stand-in for the Azure Key Vault data plane, for certificates: a real HTTPS server on 127.0.0.1
 * that `@azure/keyvault-certificates` talks to as it talks to Key Vault. It models what the provider relies
 * on, as the REST API (and the SDK's recorded sessions, Azure/azure-sdk-for-js
 * sdk/keyvault/keyvault-certificates/recordings) show Key Vault doing it:
 *
 * - challenge authentication: a request without a token gets 401 with `WWW-Authenticate: Bearer
 *   authorization="<authority>", resource="https://vault.azure.net"`, which the SDK answers with a token;
 * - create is long-running: `POST /certificates/{name}/create` answers 202 with a pending operation that
 *   reports `inProgress` (for some polls, and until the key pair exists) before it completes and the new
 *   version becomes the latest;
 *   a self-signed version's `nbf` is ten minutes before it was issued, `exp` its validity later;
 * - an absent policy part gets Key Vault's defaults, including the AutoRenew lifetime action;
 * - versions: get one, get the latest (`/certificates/{name}/`: the version issued last, enabled or not; Key
 *   Vault cannot reorder versions), list, enable/disable and retag one. A list is in version-ID order, not
 *   the order of issue (the REST reference promises no order; Azure's answers recorded in
 *   nagyesta/lowkey-vault#428 are sorted by version ID), so only `attributes.created` (seconds) tells which
 *   version came first. A disabled version still reads (the SDK's recording "can disable a certificate
 *   version" shows GET answering 200 with `enabled: false`); only its secret refuses;
 * - delete is soft delete: `DELETE /certificates/{name}` answers at once, the deleted certificate appears
 *   under `/deletedcertificates/{name}` only after some polls ("being deleted" until then), and its name
 *   cannot be reused (409 ObjectIsDeletedButRecoverable) until it is recovered or purged; purge is refused
 *   while purge protection is on;
 * - the certificate's secret (`/secrets/{name}`) holds the PEM (key and certificate) when the policy asks
 *   for `application/x-pem-file`, and refuses to serve a disabled version.
 *
 * Not modelled: issuers other than Self, merge/import, contacts, backup/restore, time passing (no version
 * expires and AutoRenew never fires). One assumption is marked where it is made: a create while another is
 * pending answers 409 Conflict.
 */
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { generate } from "selfsigned";
import { type EmulatorTls, emulatorAgent, sharedEmulatorTls } from "./tls";

const API_VERSIONS = new Set(["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"]);
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const PEM = "application/x-pem-file";
const PKCS12 = "application/x-pkcs12";
const RETENTION_DAYS = 90;

interface Policy {
  key_props: { exportable: boolean; kty: string; key_size: number; reuse_key: boolean };
  secret_props: { contentType: string };
  x509_props: { subject: string; ekus: string[]; key_usage: string[]; validity_months: number; sans: object };
  lifetime_actions: { trigger: Record<string, number>; action: { action_type: string } }[];
  issuer: { name: string };
  attributes: { enabled: boolean; created: number; updated: number };
}

export interface EmulatedVersion {
  readonly version: string;
  readonly der: Buffer;
  /** PEM private key: never leaves the emulator except through the secret, as in Key Vault. */
  readonly keyPem: string;
  readonly certPem: string;
  readonly contentType: string;
  enabled: boolean;
  tags: Record<string, string>;
  readonly created: number;
  updated: number;
  readonly nbf: number;
  readonly exp: number;
}

interface Operation {
  readonly requestId: string;
  status: "inProgress" | "completed" | "failed";
  pollsLeft: number;
  readonly csr: string;
  readonly tags: Record<string, string>;
  readonly policy: Policy;
  /** The version being issued, in the background as in Key Vault; set once its key and certificate exist. */
  issued?: EmulatedVersion;
  error?: { code: string; message: string };
}

export interface EmulatedCertificate {
  readonly name: string;
  /** Oldest first; the last one is the latest. */
  readonly versions: EmulatedVersion[];
  policy: Policy;
  operation?: Operation;
  /** Set once deleted: soft-deleted, kept until recovered or purged. */
  deleted?: { readonly deletedDate: number; pollsUntilVisible: number };
}

export interface KeyVaultEmulatorOptions {
  readonly tls?: EmulatorTls;
  /** Bearer token the emulator accepts. Default: random. */
  readonly token?: string;
  /** Tokens that authenticate but hold no data-plane role (403 ForbiddenByRbac). */
  readonly forbiddenTokens?: readonly string[];
  readonly tenantId?: string;
  /** Polls of a pending create that still report inProgress (longer while the key is being made). Default 1. */
  readonly createPolls?: number;
  /** Polls of `/deletedcertificates/{name}` answering 404 after a delete. Default 1. */
  readonly deletePolls?: number;
  /** Default true, as the stack creates vaults. */
  readonly purgeProtection?: boolean;
  /** Items per page of a version list. Default 25 (Key Vault's). */
  readonly pageSize?: number;
  readonly now?: () => number;
}

interface Request {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: Record<string, unknown>;
}

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

const error = (status: number, code: string, message: string, inner?: string): Reply => ({
  status,
  body: { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } },
});

/** The emulator; start it with {@link KeyVaultEmulator.start}. */
export class KeyVaultEmulator {
  readonly token: string;
  readonly certificates = new Map<string, EmulatedCertificate>();
  /** Every request that reached a route, as `METHOD /path`. */
  readonly requests: string[] = [];
  tls!: EmulatorTls;
  private server?: https.Server;
  private baseUrl?: string;
  private readonly now: () => number;

  static async start(options: KeyVaultEmulatorOptions = {}): Promise<KeyVaultEmulator> {
    const emulator = new KeyVaultEmulator(options);
    emulator.tls = options.tls ?? (await sharedEmulatorTls());
    await emulator.listen();
    return emulator;
  }

  private constructor(private readonly options: KeyVaultEmulatorOptions) {
    this.token = options.token ?? `kv-emulator-${randomBytes(18).toString("base64url")}`;
    this.now = options.now ?? Date.now;
  }

  /** The vault URL, `https://127.0.0.1:<port>/`. */
  get url(): string {
    if (this.baseUrl === undefined) throw new Error("the Key Vault emulator is not listening");
    return `${this.baseUrl}/`;
  }

  /** An https agent trusting the emulator, for clients in this process. */
  agent(): https.Agent {
    return emulatorAgent(this.tls);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    }
  }

  /** What a hand-made change does: delete the certificate outside the stack (soft delete, visible at once). */
  deleteOutOfBand(name: string): void {
    const certificate = this.certificates.get(name);
    if (certificate && !certificate.deleted) {
      certificate.deleted = { deletedDate: this.seconds(), pollsUntilVisible: 0 };
    }
  }

  private seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  private async listen(): Promise<void> {
    const server = https.createServer({ key: this.tls.key, cert: this.tls.cert }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, error(500, "InternalServerError", String(err)));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    this.baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", this.baseUrl);
    const method = req.method ?? "GET";
    const authorization = req.headers.authorization ?? "";
    const challenge = {
      "WWW-Authenticate": `Bearer authorization="https://login.microsoftonline.com/${this.options.tenantId ?? "72f988bf-86f1-41af-91ab-2d7cd011db47"}", resource="https://vault.azure.net"`,
    };
    if (!authorization.startsWith("Bearer ")) {
      return send(res, {
        ...error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."),
        headers: challenge,
      });
    }
    const token = authorization.slice("Bearer ".length);
    if (token !== this.token && !(this.options.forbiddenTokens ?? []).includes(token)) {
      return send(res, {
        ...error(401, "Unauthorized", "AKV10032: Invalid issuer or signature."),
        headers: challenge,
      });
    }
    const apiVersion = url.searchParams.get("api-version");
    if (apiVersion === null || !API_VERSIONS.has(apiVersion)) {
      return send(res, error(400, "BadParameter", "The request URI contains an invalid api-version"));
    }
    if (token !== this.token) {
      return send(
        res,
        error(
          403,
          "Forbidden",
          `Caller is not authorized to perform action on resource. If role assignments, deny assignments or role definitions were changed recently, please observe propagation time. Action: 'Microsoft.KeyVault/vaults/certificates/${method === "GET" ? "read" : "write"}'`,
          "ForbiddenByRbac",
        ),
      );
    }
    let body: Record<string, unknown> = {};
    if (chunks.length > 0) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      } catch {
        return send(res, error(400, "BadParameter", "The request body is not valid JSON"));
      }
    }
    this.requests.push(`${method} ${url.pathname}`);
    send(res, await this.route({ method, path: url.pathname, query: url.searchParams, body }));
  }

  private async route(request: Request): Promise<Reply> {
    const { method, path } = request;
    let match: RegExpExecArray | null;
    if ((match = /^\/certificates\/([^/]+)\/create$/.exec(path)) && method === "POST") {
      return this.create(match[1], request.body);
    }
    if ((match = /^\/certificates\/([^/]+)\/pending$/.exec(path)) && method === "GET") {
      return this.pending(match[1]);
    }
    if ((match = /^\/certificates\/([^/]+)\/versions$/.exec(path)) && method === "GET") {
      return this.list(match[1], request.query);
    }
    if ((match = /^\/certificates\/([^/]+)\/?([^/]*)$/.exec(path))) {
      const [, name, version] = match;
      if (method === "GET") return this.get(name, version);
      if (method === "PATCH") return this.update(name, version, request.body);
      if (method === "DELETE" && version === "") return this.delete(name);
    }
    if ((match = /^\/deletedcertificates\/([^/]+)(\/recover)?$/.exec(path))) {
      if (method === "GET" && !match[2]) return this.getDeleted(match[1]);
      if (method === "POST" && match[2]) return this.recover(match[1]);
      if (method === "DELETE" && !match[2]) return this.purge(match[1]);
    }
    if ((match = /^\/secrets\/([^/]+)\/?([^/]*)$/.exec(path)) && method === "GET") {
      return this.secret(match[1], match[2]);
    }
    return error(404, "NotFound", `No route for ${method} ${path}`);
  }

  private live(name: string): EmulatedCertificate | undefined {
    const certificate = this.certificates.get(name);
    return certificate && !certificate.deleted ? certificate : undefined;
  }

  private notFound(name: string): Reply {
    return error(
      404,
      "CertificateNotFound",
      `A certificate with (name/id) ${name} was not found in this key vault.`,
    );
  }

  private async create(name: string, body: Record<string, unknown>): Promise<Reply> {
    if (!NAME.test(name)) {
      return error(400, "BadParameter", "The request URI contains an invalid name: " + name);
    }
    const existing = this.certificates.get(name);
    if (existing?.deleted) {
      return existing.deleted.pollsUntilVisible > 0
        ? error(409, "Conflict", "Certificate is currently being deleted.", "ObjectIsBeingDeleted")
        : error(
            409,
            "Conflict",
            `Certificate ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the certificate can only be recovered or purged.`,
            "ObjectIsDeletedButRecoverable",
          );
    }
    if (existing?.operation?.status === "inProgress") {
      // Assumption (undocumented): Key Vault keeps one operation per certificate and refuses a second.
      return error(409, "Conflict", `There is a pending operation on certificate ${name}.`);
    }
    let policy: Policy;
    try {
      policy = withDefaults(
        body.policy as Record<string, Record<string, unknown>> | undefined,
        this.seconds(),
      );
    } catch (err) {
      return error(400, "BadParameter", (err as Error).message);
    }
    const operation: Operation = {
      requestId: randomBytes(16).toString("hex"),
      status: "inProgress",
      pollsLeft: this.options.createPolls ?? 1,
      // Not a real PKCS#10 request: nothing reads it here (there is no external issuer to sign it).
      csr: randomBytes(64).toString("base64"),
      tags: (body.tags as Record<string, string> | undefined) ?? {},
      policy,
    };
    const certificate = existing ?? { name, versions: [], policy };
    certificate.policy = policy;
    certificate.operation = operation;
    this.certificates.set(name, certificate);
    // Issued in the background: the operation completes once the polls have passed and the key exists.
    void this.issue(policy, operation.tags).then(
      (version) => (operation.issued = version),
      (err: unknown) => {
        operation.status = "failed";
        operation.error = { code: "CertificateIssuanceFailed", message: String(err) };
      },
    );
    return {
      status: 202,
      body: this.operationBody(name, operation),
      headers: {
        Location: `${this.url}certificates/${name}/pending?api-version=7.6&request_id=${operation.requestId}`,
        "Retry-After": "10",
      },
    };
  }

  private async pending(name: string): Promise<Reply> {
    const certificate = this.live(name);
    const operation = certificate?.operation;
    if (!certificate || !operation) {
      return error(404, "PendingCertificateNotFound", `Pending certificate not found: ${name}`);
    }
    if (operation.status === "inProgress" && operation.pollsLeft-- <= 0 && operation.issued) {
      certificate.versions.push(operation.issued);
      operation.status = "completed";
    }
    return { status: 200, body: this.operationBody(name, operation) };
  }

  /** A new version under `policy`: a fresh key pair and a self-signed certificate. */
  private async issue(policy: Policy, tags: Record<string, string>): Promise<EmulatedVersion> {
    const { x509_props: x509, key_props: key, secret_props: secret } = policy;
    const created = this.seconds();
    const notAfter = new Date(created * 1000);
    notAfter.setUTCMonth(notAfter.getUTCMonth() + x509.validity_months);
    const pems = await generate([{ name: "commonName", value: x509.subject.replace(/^CN=/i, "") }], {
      keySize: key.key_size,
      algorithm: "sha256",
      notBeforeDate: new Date((created - 600) * 1000),
      notAfterDate: notAfter,
      extensions: [
        { name: "basicConstraints", cA: false },
        { name: "keyUsage", digitalSignature: x509.key_usage.includes("digitalSignature"), critical: true },
        {
          name: "extKeyUsage",
          clientAuth: x509.ekus.includes("1.3.6.1.5.5.7.3.2"),
          serverAuth: x509.ekus.includes("1.3.6.1.5.5.7.3.1"),
        },
      ],
    });
    const x509Certificate = new X509Certificate(pems.cert);
    return {
      version: randomBytes(16).toString("hex"),
      der: x509Certificate.raw,
      keyPem: pems.private,
      certPem: pems.cert,
      contentType: secret.contentType,
      enabled: true,
      tags: { ...tags },
      created,
      updated: created,
      nbf: Math.floor(Date.parse(x509Certificate.validFrom) / 1000),
      exp: Math.floor(Date.parse(x509Certificate.validTo) / 1000),
    };
  }

  private operationBody(name: string, operation: Operation): Record<string, unknown> {
    return {
      id: `${this.url}certificates/${name}/pending`,
      issuer: { name: operation.policy.issuer.name },
      csr: operation.csr,
      cancellation_requested: false,
      status: operation.status,
      ...(operation.status === "inProgress"
        ? {
            status_details:
              "Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.",
          }
        : {}),
      ...(operation.status === "completed" ? { target: `${this.url}certificates/${name}` } : {}),
      ...(operation.error ? { error: operation.error } : {}),
      request_id: operation.requestId,
    };
  }

  private bundle(certificate: EmulatedCertificate, version: EmulatedVersion, withPolicy: boolean) {
    const name = certificate.name;
    return {
      id: `${this.url}certificates/${name}/${version.version}`,
      kid: `${this.url}keys/${name}/${version.version}`,
      sid: `${this.url}secrets/${name}/${version.version}`,
      x5t: createHash("sha1").update(version.der).digest("base64url"),
      cer: version.der.toString("base64"),
      attributes: {
        enabled: version.enabled,
        nbf: version.nbf,
        exp: version.exp,
        created: version.created,
        updated: version.updated,
        recoveryLevel: this.options.purgeProtection === false ? "Recoverable+Purgeable" : "Recoverable",
        recoverableDays: RETENTION_DAYS,
      },
      ...(Object.keys(version.tags).length > 0 ? { tags: version.tags } : {}),
      ...(withPolicy
        ? {
            policy: { id: `${this.url}certificates/${name}/policy`, ...certificate.policy },
            ...(certificate.operation ? { pending: { id: `${this.url}certificates/${name}/pending` } } : {}),
          }
        : {}),
    };
  }

  private get(name: string, versionId: string): Reply {
    const certificate = this.live(name);
    const latest = versionId === "";
    const version = latest
      ? certificate?.versions.at(-1)
      : certificate?.versions.find((candidate) => candidate.version === versionId);
    if (!certificate || !version) return this.notFound(name);
    return { status: 200, body: this.bundle(certificate, version, latest) };
  }

  private update(name: string, versionId: string, body: Record<string, unknown>): Reply {
    const certificate = this.live(name);
    const version =
      versionId === ""
        ? certificate?.versions.at(-1)
        : certificate?.versions.find((candidate) => candidate.version === versionId);
    if (!certificate || !version) return this.notFound(name);
    const attributes = body.attributes as { enabled?: unknown } | undefined;
    if (attributes?.enabled !== undefined) {
      if (typeof attributes.enabled !== "boolean")
        return error(400, "BadParameter", "enabled must be a boolean");
      version.enabled = attributes.enabled;
    }
    if (body.tags !== undefined) version.tags = { ...(body.tags as Record<string, string>) };
    version.updated = this.seconds();
    return { status: 200, body: this.bundle(certificate, version, false) };
  }

  private list(name: string, query: URLSearchParams): Reply {
    const certificate = this.live(name);
    // By version ID, as Key Vault answers (see the header): never the order of issue.
    const versions = [...(certificate?.versions ?? [])].sort((a, b) => a.version.localeCompare(b.version));
    const pageSize = Math.min(Number(query.get("maxresults") ?? this.options.pageSize ?? 25), 25);
    const skip = Number(query.get("$skiptoken") ?? 0);
    const page = versions.slice(skip, skip + pageSize).map((version) => {
      const { id, x5t, attributes, tags } = this.bundle(certificate!, version, false) as Record<
        string,
        unknown
      >;
      return { id, x5t, attributes, ...(tags ? { tags } : {}) };
    });
    const next = skip + pageSize < versions.length ? skip + pageSize : undefined;
    return {
      status: 200,
      body: {
        value: page,
        nextLink:
          next === undefined
            ? null
            : `${this.url}certificates/${name}/versions?api-version=7.6&maxresults=${pageSize}&$skiptoken=${next}`,
      },
    };
  }

  private delete(name: string): Reply {
    const certificate = this.live(name);
    if (!certificate) return this.notFound(name);
    const deletedDate = this.seconds();
    certificate.deleted = { deletedDate, pollsUntilVisible: this.options.deletePolls ?? 1 };
    return { status: 200, body: this.deletedBody(certificate) };
  }

  private deletedBody(certificate: EmulatedCertificate): Record<string, unknown> {
    const latest = certificate.versions.at(-1);
    const deletedDate = certificate.deleted!.deletedDate;
    return {
      recoveryId: `${this.url}deletedcertificates/${certificate.name}`,
      deletedDate,
      scheduledPurgeDate: deletedDate + RETENTION_DAYS * 86_400,
      ...(latest
        ? this.bundle(certificate, latest, true)
        : { id: `${this.url}certificates/${certificate.name}` }),
    };
  }

  private getDeleted(name: string): Reply {
    const certificate = this.certificates.get(name);
    if (!certificate?.deleted || certificate.deleted.pollsUntilVisible-- > 0) {
      return error(404, "CertificateNotFound", `Deleted Certificate not found: ${name}`);
    }
    return { status: 200, body: this.deletedBody(certificate) };
  }

  private recover(name: string): Reply {
    const certificate = this.certificates.get(name);
    if (!certificate?.deleted)
      return error(404, "CertificateNotFound", `Deleted Certificate not found: ${name}`);
    certificate.deleted = undefined;
    const latest = certificate.versions.at(-1);
    return { status: 200, body: latest ? this.bundle(certificate, latest, true) : {} };
  }

  private purge(name: string): Reply {
    const certificate = this.certificates.get(name);
    if (!certificate?.deleted)
      return error(404, "CertificateNotFound", `Deleted Certificate not found: ${name}`);
    if (this.options.purgeProtection !== false) {
      return error(
        403,
        "Forbidden",
        `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.`,
      );
    }
    this.certificates.delete(name);
    return { status: 204 };
  }

  private secret(name: string, versionId: string): Reply {
    const certificate = this.live(name);
    const version =
      versionId === ""
        ? certificate?.versions.at(-1)
        : certificate?.versions.find((candidate) => candidate.version === versionId);
    if (!certificate || !version) {
      return error(404, "SecretNotFound", `A secret with (name/id) ${name} was not found in this key vault.`);
    }
    if (!version.enabled)
      return error(403, "Forbidden", "Operation get is not allowed on a disabled secret.");
    const pem = version.contentType === PEM;
    return {
      status: 200,
      body: {
        // PEM: the key, then the certificate. (A PKCS#12 secret is not modelled: its value is a placeholder.)
        value: pem ? `${version.keyPem.trim()}\n${version.certPem.trim()}\n` : "(pkcs12 not modelled)",
        contentType: version.contentType,
        id: `${this.url}secrets/${name}/${version.version}`,
        kid: `${this.url}keys/${name}/${version.version}`,
        managed: true,
        attributes: {
          enabled: version.enabled,
          nbf: version.nbf,
          exp: version.exp,
          created: version.created,
        },
      },
    };
  }
}

/** Key Vault's policy defaults for what the request leaves out (recorded from the service). */
function withDefaults(policy: Record<string, Record<string, unknown>> | undefined, now: number): Policy {
  const key = policy?.key_props ?? {};
  const x509 = policy?.x509_props ?? {};
  const issuer = String(policy?.issuer?.name ?? "Unknown");
  if (issuer !== "Self") {
    throw new Error(`the emulator issues self-signed certificates only (issuer Self), not ${issuer}`);
  }
  const subject = String(x509.subject ?? "");
  if (!/^CN=[^,]+$/i.test(subject)) {
    throw new Error(`the emulator supports CN=<name> subjects only, got ${JSON.stringify(subject)}`);
  }
  const validity = x509.validity_months ?? 12;
  if (!Number.isInteger(validity) || (validity as number) < 1 || (validity as number) > 1200) {
    throw new Error("validity_months must be a whole number from 1 to 1200");
  }
  const keySize = key.key_size ?? 2048;
  if (![2048, 3072, 4096].includes(keySize as number)) throw new Error("key_size must be 2048, 3072 or 4096");
  const contentType = String(policy?.secret_props?.contentType ?? PKCS12);
  if (contentType !== PEM && contentType !== PKCS12)
    throw new Error(`unsupported content type ${contentType}`);
  const actions = (policy?.lifetime_actions as unknown as Policy["lifetime_actions"] | undefined) ?? [
    { trigger: { lifetime_percentage: 80 }, action: { action_type: "AutoRenew" } },
  ];
  return {
    key_props: {
      exportable: key.exportable !== false,
      kty: String(key.kty ?? "RSA"),
      key_size: keySize as number,
      reuse_key: key.reuse_key === true,
    },
    secret_props: { contentType },
    x509_props: {
      subject,
      ekus: (x509.ekus as string[] | undefined) ?? ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"],
      key_usage: (x509.key_usage as string[] | undefined) ?? ["digitalSignature", "keyEncipherment"],
      validity_months: validity as number,
      sans: (x509.sans as object | undefined) ?? {},
    },
    lifetime_actions: actions,
    issuer: { name: issuer },
    attributes: { enabled: true, created: now, updated: now },
  };
}

function send(res: http.ServerResponse, reply: Reply): void {
  const text = reply.body === undefined ? "" : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...(text ? { "Content-Type": "application/json; charset=utf-8" } : {}),
    "Content-Length": Buffer.byteLength(text).toString(),
    "Cache-Control": "no-cache",
    ...reply.headers,
  });
  res.end(text);
}
