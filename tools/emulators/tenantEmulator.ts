/**
 * A stand-in for a customer's tenant as `npm run verify` sees it: Microsoft Entra ID (OpenID configuration,
 * JWKS, the client-credentials token endpoint) plus the Smartspace chat API, on top of the admin-API emulator
 * so that the chat API consults the same workspace access lists the admin API (and so WorkspaceAccess) writes.
 *
 * Only what the real `@azure/identity` / MSAL-node actually call is implemented (found by logging their
 * requests with instance discovery disabled):
 *   GET  /{tenant}/v2.0/.well-known/openid-configuration
 *   POST /{tenant}/oauth2/v2.0/token          (grant_type=client_credentials, client_secret_post or basic)
 * plus the JWKS the metadata points to. MSAL requires the metadata's issuer to share scheme, host and port
 * with the authority, and @azure/identity requires https, so the emulator serves HTTPS for real use.
 *
 * `npm run emulator:tenant` (tools/emulators/serve-tenant.ts) serves one on its own.
 */
import { generateKeyPairSync, type KeyObject, randomUUID, sign, timingSafeEqual, verify } from "node:crypto";
import {
  type RouteContext,
  type RouteResult,
  SmartspaceEmulator,
  type SmartspaceEmulatorOptions,
} from "./smartspaceEmulator";

/** An app registration the token endpoint knows. */
export interface RegisteredClient {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Object ID of its service principal: the `oid` claim, and the principal workspace grants name. */
  readonly servicePrincipalObjectId: string;
  /** App role values of the Smartspace app assigned to its service principal (the `roles` claim). */
  readonly roles: readonly string[];
}

export interface TenantEmulatorOptions extends SmartspaceEmulatorOptions {
  /** Default: a random GUID. */
  readonly tenantId?: string;
  /** Client ID of the Smartspace app, the only resource tokens are issued for. Default: a random GUID. */
  readonly smartspaceAppClientId?: string;
  /** Value of the Integrations app role the chat API requires. Default "Integrations". */
  readonly integrationsRoleValue?: string;
  readonly clients?: readonly RegisteredClient[];
  /** Lifetime of issued tokens. Default 3600 s. */
  readonly tokenLifetimeSeconds?: number;
  /** How long the workspace's flow takes to answer a message. Default 0. */
  readonly flowDelayMs?: number;
}

export interface EmulatedMessage {
  readonly id: string;
  readonly messageThreadId: string;
  readonly createdAt: string;
  readonly createdBy: string;
  /** The prompt input first; the flow's output is added when it finishes. */
  readonly values: { readonly name: string; readonly type: string; readonly value: unknown }[];
}

export interface EmulatedThread {
  readonly id: string;
  readonly workspaceId: string;
  readonly name: string;
  readonly createdAt: string;
  /** The text of the prompt that started the thread. */
  readonly prompt: string;
  isFlowRunning: boolean;
  /** Newest first, as the API lists them. */
  readonly messages: EmulatedMessage[];
}

export interface ThreadSeed {
  /** Default: now. */
  readonly createdAt?: Date;
  /** Default: true (the flow is still working on it). */
  readonly isFlowRunning?: boolean;
  /** The `createdBy` of its first message. Default: a random GUID (some other caller). */
  readonly createdBy?: string;
}

interface TokenClaims {
  readonly aud: string;
  readonly iss: string;
  readonly exp: number;
  readonly oid: string;
  readonly appid: string;
  readonly roles?: readonly string[];
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class TenantEmulator extends SmartspaceEmulator {
  readonly tenantId: string;
  readonly smartspaceAppClientId: string;
  readonly integrationsRoleValue: string;
  readonly tokenLifetimeSeconds: number;
  /** Settable between requests, to emulate a slow flow. */
  flowDelayMs: number;
  readonly threads: EmulatedThread[] = [];
  /** Every access token issued, so tests can prove none of them was printed. */
  readonly issuedTokens: string[] = [];
  readonly keyId = randomUUID();
  private readonly clients = new Map<string, RegisteredClient>();
  private readonly signingKey: KeyObject;
  private readonly verificationKey: KeyObject;

  constructor(options: TenantEmulatorOptions = {}) {
    super(options);
    this.tenantId = options.tenantId ?? randomUUID();
    this.smartspaceAppClientId = options.smartspaceAppClientId ?? randomUUID();
    this.integrationsRoleValue = options.integrationsRoleValue ?? "Integrations";
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
    this.flowDelayMs = options.flowDelayMs ?? 0;
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.signingKey = privateKey;
    this.verificationKey = publicKey;
    for (const client of options.clients ?? []) {
      this.registerClient(client);
    }
    this.addIdentityRoutes();
    this.addChatRoutes();
  }

  /**
   * Adds a thread started by someone else with `prompt` (another run of verify, a user in the web app), as
   * if its message had been posted to the chat API.
   */
  addThread(workspaceId: string, prompt: string, seed: ThreadSeed = {}): EmulatedThread {
    const createdAt = (seed.createdAt ?? new Date()).toISOString();
    const thread = this.openThread(workspaceId, prompt, seed.createdBy ?? randomUUID(), createdAt);
    thread.isFlowRunning = seed.isFlowRunning ?? true;
    return thread;
  }

  /** Adds (or replaces) an app registration; its service principal becomes visible to Smartspace at once. */
  registerClient(client: RegisteredClient): void {
    this.clients.set(client.clientId.toLowerCase(), client);
    this.store.addPrincipal(client.servicePrincipalObjectId);
  }

  /** The authority host to put in `AZURE_AUTHORITY_HOST` (the tenant is appended by the client). */
  get authorityHost(): string {
    return this.url;
  }

  get issuer(): string {
    return `${this.url}/${this.tenantId}/v2.0`;
  }

  private addIdentityRoutes(): void {
    const publicRoute = { auth: "none" as const };
    this.router
      .add(
        "GET",
        "/:tenant/v2.0/.well-known/openid-configuration",
        ({ params }) => {
          if (!this.isTenant(params.tenant)) {
            return entraError(400, "invalid_tenant", 90002, `Tenant '${params.tenant}' not found.`);
          }
          const base = `${this.url}/${this.tenantId}`;
          return {
            status: 200,
            body: {
              issuer: this.issuer,
              authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
              token_endpoint: `${base}/oauth2/v2.0/token`,
              jwks_uri: `${base}/discovery/v2.0/keys`,
              response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
              subject_types_supported: ["pairwise"],
              id_token_signing_alg_values_supported: ["RS256"],
              token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
              scopes_supported: ["openid", "profile", "email", "offline_access"],
              tenant_region_scope: "EU",
              cloud_instance_name: "emulator.local",
            },
          };
        },
        publicRoute,
      )
      .add(
        "GET",
        "/:tenant/discovery/v2.0/keys",
        ({ params }) => {
          if (!this.isTenant(params.tenant)) {
            return entraError(400, "invalid_tenant", 90002, `Tenant '${params.tenant}' not found.`);
          }
          const jwk = this.verificationKey.export({ format: "jwk" });
          return { status: 200, body: { keys: [{ ...jwk, kid: this.keyId, use: "sig", alg: "RS256" }] } };
        },
        publicRoute,
      )
      .add("POST", "/:tenant/oauth2/v2.0/token", (ctx) => this.issueToken(ctx), publicRoute);
  }

  private issueToken({ params, body, headers }: RouteContext): RouteResult {
    if (!this.isTenant(params.tenant)) {
      return entraError(400, "invalid_tenant", 90002, `Tenant '${params.tenant}' not found.`);
    }
    const form = (body !== null && typeof body === "object" ? body : {}) as Record<
      string,
      string | undefined
    >;
    if (form.grant_type !== "client_credentials") {
      return entraError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.");
    }
    let clientId = form.client_id;
    let clientSecret = form.client_secret;
    const basic = /^Basic\s+(.+)$/i.exec(headers.authorization ?? "");
    if (basic) {
      const [id, ...rest] = Buffer.from(basic[1], "base64").toString("utf8").split(":");
      clientId = decodeURIComponent(id);
      clientSecret = decodeURIComponent(rest.join(":"));
    }
    const client = clientId ? this.clients.get(clientId.toLowerCase()) : undefined;
    if (!client) {
      return entraError(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId ?? ""}' was not found in the directory '${this.tenantId}'.`,
      );
    }
    if (clientSecret === undefined || !sameText(clientSecret, client.clientSecret)) {
      return entraError(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret " +
          `value, not the client secret ID, for a secret added to app '${client.clientId}'.`,
      );
    }
    const scope = (form.scope ?? "").trim();
    const resource = scope.endsWith("/.default") ? scope.slice(0, -"/.default".length) : undefined;
    const known = [`api://${this.smartspaceAppClientId}`, this.smartspaceAppClientId];
    if (resource === undefined || !known.includes(resource)) {
      return entraError(
        400,
        "invalid_resource",
        500011,
        `The resource principal named ${resource ?? scope} was not found in the tenant named ${this.tenantId}.`,
      );
    }
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      aud: resource,
      iss: this.issuer,
      iat: now,
      nbf: now,
      exp: now + this.tokenLifetimeSeconds,
      appid: client.clientId,
      azp: client.clientId,
      idtyp: "app",
      oid: client.servicePrincipalObjectId,
      sub: client.servicePrincipalObjectId,
      tid: this.tenantId,
      // Entra ID omits the claim when the caller holds no app role.
      ...(client.roles.length > 0 ? { roles: [...client.roles] } : {}),
      uti: randomUUID(),
      ver: "2.0",
    };
    const accessToken = this.signJwt(claims);
    this.issuedTokens.push(accessToken);
    return {
      status: 200,
      body: {
        token_type: "Bearer",
        expires_in: this.tokenLifetimeSeconds,
        ext_expires_in: this.tokenLifetimeSeconds,
        access_token: accessToken,
      },
    };
  }

  private addChatRoutes(): void {
    const chatAuth = { auth: (ctx: RouteContext) => this.authorizeCaller(ctx) };
    this.router
      .add("POST", "/messages", (ctx) => this.postMessage(ctx), chatAuth)
      .add(
        "GET",
        "/workspaces/:workspaceId/messagethreads",
        ({ params, query, token }) => {
          const refusal = this.checkWorkspaceAccess(params.workspaceId, token);
          if (refusal) {
            return refusal;
          }
          const take = Math.max(1, Math.min(100, Number(query.get("take") ?? 20) || 20));
          const data = this.threads
            .filter((t) => t.workspaceId.toLowerCase() === params.workspaceId.toLowerCase())
            .slice()
            .reverse()
            .slice(0, take)
            .map(describeThread);
          return { status: 200, body: { data } };
        },
        chatAuth,
      )
      .add(
        "GET",
        "/messagethreads/:threadId",
        ({ params, token }) =>
          this.withThread(params.threadId, token, (thread) => ({
            status: 200,
            body: describeThread(thread),
          })),
        chatAuth,
      )
      .add(
        "GET",
        "/messagethreads/:threadId/messages",
        ({ params, query, token }) =>
          this.withThread(params.threadId, token, (thread) => {
            const take = Math.max(1, Math.min(100, Number(query.get("take") ?? 20) || 20));
            const skip = Math.max(0, Number(query.get("skip") ?? 0) || 0);
            return { status: 200, body: { data: thread.messages.slice(skip, skip + take) } };
          }),
        chatAuth,
      );
  }

  /** Answers for an existing thread the caller may read: 404 for an unknown one, else the workspace's check. */
  private withThread(
    threadId: string,
    token: string | undefined,
    answer: (thread: EmulatedThread) => RouteResult,
  ): RouteResult {
    const thread = this.threads.find((t) => t.id === threadId);
    if (!thread) {
      return { status: 404, body: { error: "NotFound", message: `Thread ${threadId} not found.` } };
    }
    return this.checkWorkspaceAccess(thread.workspaceId, token) ?? answer(thread);
  }

  /** A new thread whose first message holds `prompt`, with its flow running. */
  private openThread(
    workspaceId: string,
    prompt: string,
    createdBy: string,
    createdAt: string,
  ): EmulatedThread {
    const thread: EmulatedThread = {
      id: randomUUID(),
      workspaceId,
      name: prompt.slice(0, 50),
      createdAt,
      prompt,
      isFlowRunning: true,
      messages: [],
    };
    thread.messages.unshift({
      id: randomUUID(),
      messageThreadId: thread.id,
      createdAt,
      createdBy,
      values: [{ name: "prompt", type: "Input", value: [{ text: prompt }] }],
    });
    this.threads.push(thread);
    return thread;
  }

  private async postMessage({ body, token }: RouteContext): Promise<RouteResult> {
    const request = (body !== null && typeof body === "object" ? body : {}) as Record<string, unknown>;
    const workspaceId = request.workSpaceId;
    const prompt = promptText(request.inputs);
    if (typeof workspaceId !== "string" || prompt === undefined) {
      return {
        status: 400,
        body: {
          error: "BadRequest",
          message:
            'Expected {"workSpaceId": "<id>", "inputs": [{"name": "prompt", "value": [{"text": "..."}]}]}.',
        },
      };
    }
    const refusal = this.checkWorkspaceAccess(workspaceId, token);
    if (refusal) {
      return refusal;
    }
    const workspace = this.store.getWorkspace(workspaceId)!;
    // The thread and its message exist from the start, as in Smartspace, where a slow flow outlives the call.
    const createdBy = (this.claimsOf(token!) as TokenClaims).appid;
    const thread = this.openThread(workspace.id, prompt, createdBy, new Date().toISOString());
    const message = thread.messages[0];
    if (this.flowDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.flowDelayMs).unref());
    }
    message.values.push({
      name: "Response",
      type: "Output",
      value: `Hello from ${workspace.name}. You said: ${prompt}`,
    });
    thread.isFlowRunning = false;
    return { status: 200, body: message };
  }

  /** Checks the bearer token the way Smartspace's API does: signature, issuer, expiry, audience, role. */
  private authorizeCaller(ctx: RouteContext): RouteResult | undefined {
    if (ctx.token === undefined) {
      return unauthorized("missing bearer token");
    }
    const claims = this.claimsOf(ctx.token);
    if (claims === undefined) {
      return unauthorized("the token signature is invalid");
    }
    if (claims.iss !== this.issuer) {
      return unauthorized(`the token issuer ${String(claims.iss)} is not trusted`);
    }
    if (typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now()) {
      return unauthorized("the token has expired");
    }
    if (claims.aud !== `api://${this.smartspaceAppClientId}` && claims.aud !== this.smartspaceAppClientId) {
      return unauthorized(`the token audience ${String(claims.aud)} is not this API`);
    }
    if (!Array.isArray(claims.roles) || !claims.roles.includes(this.integrationsRoleValue)) {
      return {
        status: 403,
        body: {
          error: "Forbidden",
          message: `The caller does not hold the ${this.integrationsRoleValue} role.`,
        },
      };
    }
    return undefined;
  }

  /** 404 for an unknown workspace, 403 unless the caller's service principal is on its access list. */
  private checkWorkspaceAccess(workspaceId: string, token: string | undefined): RouteResult | undefined {
    if (!GUID.test(workspaceId) || !this.store.getWorkspace(workspaceId)) {
      return {
        status: 404,
        body: { error: "WorkspaceNotFound", message: `Workspace ${workspaceId} was not found.` },
      };
    }
    const principalId = token ? this.claimsOf(token)?.oid : undefined;
    if (principalId === undefined || !this.store.getAccess(workspaceId, principalId)) {
      return {
        status: 403,
        body: { error: "Forbidden", message: `The caller has no access to workspace ${workspaceId}.` },
      };
    }
    return undefined;
  }

  private signJwt(claims: Record<string, unknown>): string {
    const header = { alg: "RS256", typ: "JWT", kid: this.keyId };
    const signingInput = `${base64url(header)}.${base64url(claims)}`;
    const signature = sign("sha256", Buffer.from(signingInput), this.signingKey).toString("base64url");
    return `${signingInput}.${signature}`;
  }

  /** The claims of a token this emulator signed, or undefined when the signature does not verify. */
  private claimsOf(token: string): Partial<TokenClaims> | undefined {
    const [header, payload, signature] = token.split(".");
    if (header === undefined || payload === undefined || signature === undefined) {
      return undefined;
    }
    try {
      const parsedHeader = JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as Record<
        string,
        unknown
      >;
      if (parsedHeader.alg !== "RS256" || parsedHeader.kid !== this.keyId) {
        return undefined;
      }
      const valid = verify(
        "sha256",
        Buffer.from(`${header}.${payload}`),
        this.verificationKey,
        Buffer.from(signature, "base64url"),
      );
      return valid
        ? (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenClaims)
        : undefined;
    } catch {
      return undefined;
    }
  }

  private isTenant(tenant: string): boolean {
    return tenant.toLowerCase() === this.tenantId.toLowerCase();
  }
}

function describeThread(thread: EmulatedThread) {
  return {
    id: thread.id,
    name: thread.name,
    workSpaceId: thread.workspaceId,
    createdAt: thread.createdAt,
    isFlowRunning: thread.isFlowRunning,
    totalMessages: thread.messages.length,
  };
}

function promptText(inputs: unknown): string | undefined {
  if (!Array.isArray(inputs)) {
    return undefined;
  }
  const prompt = inputs.find(
    (input): input is { value: unknown } =>
      input !== null && typeof input === "object" && (input as { name?: unknown }).name === "prompt",
  );
  const parts = Array.isArray(prompt?.value) ? prompt.value : [];
  const texts = parts
    .map((part: unknown) =>
      part !== null && typeof part === "object" ? (part as { text?: unknown }).text : undefined,
    )
    .filter((text): text is string => typeof text === "string");
  return texts.length > 0 ? texts.join("\n") : undefined;
}

/** An error body shaped like Entra ID's (AADSTS code, trace and correlation IDs). */
function entraError(status: number, error: string, code: number, description: string): RouteResult {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

function unauthorized(message: string): RouteResult {
  return {
    status: 401,
    headers: { "www-authenticate": `Bearer error="invalid_token", error_description="${message}"` },
    body: { error: "Unauthorized", message },
  };
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
