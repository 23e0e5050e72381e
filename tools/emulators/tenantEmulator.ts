/**
 * A stand-in for a customer's tenant as `npm run verify` sees it: Microsoft Entra ID (OpenID configuration,
 * JWKS, the client-credentials token endpoint) plus the Smartspace chat API, on top of the admin-API emulator
 * so that the chat API consults the same workspace access lists the admin API (and so WorkspaceAccess) writes.
 *
 * Only what the real `@azure/identity` / MSAL-node actually call is implemented (found by logging their
 * requests with instance discovery disabled):
 *   GET  /{tenant}/v2.0/.well-known/openid-configuration
 *   POST /{tenant}/oauth2/v2.0/token          (grant_type=client_credentials with a client secret, post or
 *                                             basic, or a client assertion: a certificate-signed JWT or a
 *                                             federated token; see ./clientAssertions.ts for the checks)
 *   GET  http://127.0.0.1:<port>/msi/token    (App Service's managed identity endpoint, which Azure serves
 *                                             over plain http on the machine; IDENTITY_ENDPOINT/_HEADER)
 * plus the JWKS the metadata points to, and fake OpenID Connect issuers (GitHub, an AKS cluster) whose
 * tokens apps trust through federated credentials. MSAL requires the metadata's issuer to share scheme, host
 * and port with the authority, and @azure/identity requires https, so the emulator serves HTTPS for real use.
 *
 * `npm run emulator:tenant` (tools/emulators/serve-tenant.ts) serves one on its own.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { TOKEN_EXCHANGE_AUDIENCE } from "../../rules/federated";
import {
  checkCertificateAssertion,
  checkFederatedAssertion,
  CLIENT_ASSERTION_TYPE,
  entraError,
  type FederatedCredential,
  registerCertificate,
  type RegisteredCertificate,
} from "./clientAssertions";
import { decodeJwt, type JwtClaims, OidcIssuer, signJwt, verifyJwt } from "./jwt";
import {
  type RouteContext,
  type RouteResult,
  SmartspaceEmulator,
  type SmartspaceEmulatorOptions,
} from "./smartspaceEmulator";

export { type FederatedCredential, OidcIssuer };

/** An app registration the token endpoint knows, with the credentials Entra ID would accept for it. */
export interface RegisteredClient {
  readonly clientId: string;
  readonly displayName?: string;
  /** A client secret (password credential). */
  readonly clientSecret?: string;
  /** PEM certificates (public parts) registered as its key credentials. */
  readonly certificates?: readonly string[];
  readonly federatedCredentials?: readonly FederatedCredential[];
  /** Object ID of its service principal: the `oid` claim, and the principal workspace grants name. */
  readonly servicePrincipalObjectId: string;
  /** App role values of the Smartspace app assigned to its service principal (the `roles` claim). */
  readonly roles: readonly string[];
}

/** A user-assigned managed identity assigned to the emulated host (the App Service whose endpoint it is). */
export interface ManagedIdentity {
  readonly clientId: string;
  /** Object ID of its service principal (differs from the client ID): `oid`/`sub`, and what grants name. */
  readonly principalId: string;
  /** ARM ID; default one under a made-up resource group. */
  readonly resourceId?: string;
  /** App role values of the Smartspace app assigned to it. */
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
  readonly managedIdentities?: readonly ManagedIdentity[];
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
  readonly xms_mirid?: string;
}

interface Client extends RegisteredClient {
  readonly registeredCertificates: readonly RegisteredCertificate[];
}

/** What the token endpoint learned about the caller once its credential checked out. */
interface Caller {
  readonly appId: string;
  readonly principalId: string;
  readonly roles: readonly string[];
  /** `azpacr`: 1 for a client secret, 2 for a certificate or an assertion. */
  readonly authMethod: 1 | 2;
  readonly managedIdentityResourceId?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The api-version @azure/identity 4.13 (msal-node 5) sends to App Service's identity endpoint. */
const APP_SERVICE_MSI_API_VERSION = "2019-08-01";

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
  /** The `IDENTITY_HEADER` value the managed identity endpoint requires (App Service rotates it; not here). */
  readonly identityHeader = randomBytes(24).toString("base64url");
  private readonly clients = new Map<string, Client>();
  private readonly managedIdentities = new Map<string, ManagedIdentity>();
  private readonly issuers = new Map<string, OidcIssuer>();
  private readonly signingKey: KeyObject;
  private readonly verificationKey: KeyObject;
  private identityBaseUrl: string | undefined;

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
    for (const identity of options.managedIdentities ?? []) {
      this.assignManagedIdentity(identity);
    }
    this.addIdentityRoutes();
    this.addIssuerRoutes();
    this.addManagedIdentityRoute();
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
    this.clients.set(client.clientId.toLowerCase(), {
      ...client,
      registeredCertificates: (client.certificates ?? []).map(registerCertificate),
    });
    this.store.addPrincipal(client.servicePrincipalObjectId);
  }

  /** Assigns a user-assigned managed identity to the emulated host, so its endpoint hands out its tokens. */
  assignManagedIdentity(identity: ManagedIdentity): void {
    this.managedIdentities.set(identity.clientId.toLowerCase(), identity);
    this.store.addPrincipal(identity.principalId);
  }

  /**
   * Serves an OpenID Connect issuer at `<url>/issuers/<name>` (with a trailing slash when `trailingSlash`,
   * as AKS issuer URLs have), whose tokens federated credentials can trust. Call after start().
   */
  addIssuer(name: string, options: { readonly trailingSlash?: boolean } = {}): OidcIssuer {
    const base = `${this.url}/issuers/${encodeURIComponent(name)}`;
    const issuer = new OidcIssuer(options.trailingSlash ? `${base}/` : base, `${base}/keys`);
    this.issuers.set(name, issuer);
    return issuer;
  }

  /** `IDENTITY_ENDPOINT` for @azure/identity's ManagedIdentityCredential (App Service style). */
  get identityEndpoint(): string {
    if (this.identityBaseUrl === undefined) {
      throw new Error("the emulator is not listening; create it with TenantEmulator.start()");
    }
    return `${this.identityBaseUrl}/msi/token`;
  }

  protected override async listen(): Promise<void> {
    await super.listen();
    this.identityBaseUrl = await this.listenHttp();
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
              token_endpoint_auth_methods_supported: [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
              ],
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
    const caller = this.authenticateClient(form, headers.authorization);
    if ("status" in caller) {
      return caller;
    }
    const scope = (form.scope ?? "").trim();
    const resource = scope.endsWith("/.default") ? scope.slice(0, -"/.default".length) : undefined;
    if (resource === undefined || !this.isSmartspaceResource(resource)) {
      return entraError(
        400,
        "invalid_resource",
        500011,
        `The resource principal named ${resource ?? scope} was not found in the tenant named ${this.tenantId}.`,
      );
    }
    const accessToken = this.accessToken(resource, caller);
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

  /** The client's credential, checked as Entra ID checks it: a secret, or a client assertion. */
  private authenticateClient(
    form: Record<string, string | undefined>,
    authorization: string | undefined,
  ): Caller | RouteResult {
    let clientId = form.client_id;
    let clientSecret = form.client_secret;
    const basic = /^Basic\s+(.+)$/i.exec(authorization ?? "");
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
    const caller: Caller = {
      appId: client.clientId,
      principalId: client.servicePrincipalObjectId,
      roles: client.roles,
      authMethod: 2,
    };
    if (form.client_assertion !== undefined) {
      if (form.client_assertion_type !== CLIENT_ASSERTION_TYPE) {
        return entraError(
          400,
          "invalid_request",
          900144,
          `The request body must contain the following parameter: 'client_assertion_type' = '${CLIENT_ASSERTION_TYPE}'.`,
        );
      }
      return this.checkAssertion(client, form.client_assertion) ?? caller;
    }
    if (clientSecret === undefined) {
      return entraError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }
    if (client.clientSecret === undefined || !sameText(clientSecret, client.clientSecret)) {
      return entraError(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret " +
          `value, not the client secret ID, for a secret added to app '${client.clientId}'.`,
      );
    }
    return { ...caller, authMethod: 1 };
  }

  /**
   * A certificate assertion when the app signed it itself (`iss` is its client ID), else a federated one:
   * Entra ID tells them apart the same way.
   */
  private checkAssertion(client: Client, assertion: string): RouteResult | undefined {
    const jwt = decodeJwt(assertion);
    if (jwt === undefined) {
      return entraError(401, "invalid_client", 50027, "JWT token is invalid or malformed.");
    }
    const now = new Date();
    if (jwt.claims.iss === client.clientId) {
      return checkCertificateAssertion(jwt, {
        clientId: client.clientId,
        certificates: client.registeredCertificates,
        tokenEndpoint: `${this.url}/${this.tenantId}/oauth2/v2.0/token`,
        now,
      });
    }
    return checkFederatedAssertion(jwt, {
      clientId: client.clientId,
      displayName: client.displayName ?? client.clientId,
      credentials: client.federatedCredentials ?? [],
      tenantIssuer: this.issuer,
      keyOf: (issuer, kid) => this.keyOf(issuer, kid),
      isManagedIdentityToken: (claims) => typeof claims.xms_mirid === "string",
      now,
    });
  }

  /**
   * The key `issuer` publishes under `kid`: this tenant's own, or one of the issuers it serves, read from the
   * same documents its OpenID configuration and JWKS routes serve. Entra ID fetches them from the issuer; an
   * issuer the emulator does not serve is one Entra ID could not reach.
   */
  private keyOf(issuer: string, kid: unknown): KeyObject | "unreachable" | undefined {
    if (issuer === this.issuer) {
      return kid === this.keyId ? this.verificationKey : undefined;
    }
    const served = [...this.issuers.values()].find((candidate) => candidate.issuer === issuer);
    return served === undefined ? "unreachable" : served.publicKey(kid);
  }

  private isSmartspaceResource(resource: string): boolean {
    return resource === `api://${this.smartspaceAppClientId}` || resource === this.smartspaceAppClientId;
  }

  /** Signs an app-only access token for `resource`, recorded in {@link issuedTokens}. */
  private accessToken(resource: string, caller: Caller): string {
    const now = Math.floor(Date.now() / 1000);
    // Roles are the caller's assignments on the resource: the Smartspace app's, none on the exchange app.
    const roles = this.isSmartspaceResource(resource) ? caller.roles : [];
    const claims = {
      aud: resource,
      iss: this.issuer,
      iat: now,
      nbf: now,
      exp: now + this.tokenLifetimeSeconds,
      appid: caller.appId,
      azp: caller.appId,
      azpacr: String(caller.authMethod),
      idtyp: "app",
      oid: caller.principalId,
      sub: caller.principalId,
      tid: this.tenantId,
      // Entra ID omits the claim when the caller holds no app role.
      ...(roles.length > 0 ? { roles: [...roles] } : {}),
      uti: randomUUID(),
      ver: "2.0",
      ...(caller.managedIdentityResourceId ? { xms_mirid: caller.managedIdentityResourceId } : {}),
    };
    const accessToken = signJwt(claims, this.signingKey, this.keyId);
    this.issuedTokens.push(accessToken);
    return accessToken;
  }

  private addIssuerRoutes(): void {
    const publicRoute = { auth: "none" as const };
    const notFound = (name: string): RouteResult => ({
      status: 404,
      body: { error: "NotFound", message: `No issuer named ${name}.` },
    });
    this.router
      .add(
        "GET",
        "/issuers/:name/.well-known/openid-configuration",
        ({ params }) => {
          const issuer = this.issuers.get(params.name);
          return issuer ? { status: 200, body: issuer.discovery() } : notFound(params.name);
        },
        publicRoute,
      )
      .add(
        "GET",
        "/issuers/:name/keys",
        ({ params }) => {
          const issuer = this.issuers.get(params.name);
          return issuer ? { status: 200, body: issuer.jwks() } : notFound(params.name);
        },
        publicRoute,
      );
  }

  /**
   * App Service's local token endpoint, as @azure/identity 4.13 (msal-node 5.6, AppService source) calls it:
   * `GET ?api-version=2019-08-01&resource=<resource>&client_id=<id>` with header `X-IDENTITY-HEADER`. Errors
   * are App Service's `{statusCode, message, correlationId}` (e.g. "Unable to load the proper Managed
   * Identity." for an identity not assigned to the app; Azure/azure-sdk-for-net#43691).
   */
  private addManagedIdentityRoute(): void {
    const failure = (statusCode: number, message: string): RouteResult => ({
      status: statusCode,
      body: { statusCode, message, correlationId: randomUUID() },
    });
    this.router.add(
      "GET",
      "/msi/token",
      ({ query, headers }) => {
        const header = headers["x-identity-header"];
        if (typeof header !== "string" || !sameText(header, this.identityHeader)) {
          return failure(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.");
        }
        if (query.get("api-version") !== APP_SERVICE_MSI_API_VERSION) {
          return failure(400, `Unsupported api-version; use ${APP_SERVICE_MSI_API_VERSION}.`);
        }
        const clientId = query.get("client_id");
        const principalId = query.get("object_id");
        const identity = [...this.managedIdentities.values()].find(
          (candidate) =>
            (clientId !== null && candidate.clientId.toLowerCase() === clientId.toLowerCase()) ||
            (principalId !== null && candidate.principalId.toLowerCase() === principalId.toLowerCase()),
        );
        if (identity === undefined) {
          // No system-assigned identity is emulated: a request naming none also fails like this.
          return failure(400, "Unable to load the proper Managed Identity.");
        }
        const resource = query.get("resource") ?? "";
        if (!this.isSmartspaceResource(resource) && resource !== TOKEN_EXCHANGE_AUDIENCE) {
          return failure(
            400,
            `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${this.tenantId}.`,
          );
        }
        const accessToken = this.accessToken(resource, {
          appId: identity.clientId,
          principalId: identity.principalId,
          roles: identity.roles,
          authMethod: 2,
          managedIdentityResourceId:
            identity.resourceId ??
            `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${identity.clientId}`,
        });
        return {
          status: 200,
          body: {
            access_token: accessToken,
            // Seconds since the epoch, as a string, in this api-version.
            expires_on: String(Math.floor(Date.now() / 1000) + this.tokenLifetimeSeconds),
            resource,
            token_type: "Bearer",
            client_id: identity.clientId,
          },
        };
      },
      { auth: "none", transport: "http" },
    );
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

  /** The claims of a token this emulator signed, or undefined when the signature does not verify. */
  private claimsOf(token: string): Partial<TokenClaims> | undefined {
    const jwt = decodeJwt(token);
    if (jwt === undefined || jwt.header.alg !== "RS256" || jwt.header.kid !== this.keyId) {
      return undefined;
    }
    return verifyJwt(jwt, this.verificationKey)
      ? (jwt.claims as JwtClaims & Partial<TokenClaims>)
      : undefined;
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

function unauthorized(message: string): RouteResult {
  return {
    status: 401,
    headers: { "www-authenticate": `Bearer error="invalid_token", error_description="${message}"` },
    body: { error: "Unauthorized", message },
  };
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
