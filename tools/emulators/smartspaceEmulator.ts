/**
 * A local stand-in for Smartspace: a real HTTP(S) server on 127.0.0.1 implementing the admin-API contract in
 * ../shared/smartspace-api.md with an in-memory store, bearer-token checks and injectable faults.
 *
 * Built to be extended (issue 5 adds an Entra-like token endpoint and the chat API): routes live in a small
 * {@link Router} that is public, each route chooses its own authorization, the store is public, and
 * `start()` is inherited by subclasses (`class ChatEmulator extends SmartspaceEmulator` gets
 * `ChatEmulator.start()` returning a `ChatEmulator`). It serves HTTPS only (see ./tls.ts).
 */
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { type EmulatorTls, emulatorAgent, sharedEmulatorTls } from "./tls";

// The contract's data shapes, shared with the client so that both sides of the tests speak one contract.
import { PRINCIPAL_TYPES } from "../../clients/adminApi";
import type { AccessEntry, PrincipalType, Workspace } from "../../clients/adminApi";
import { GUID } from "../../rules/ids";

export { PRINCIPAL_TYPES };
export type { AccessEntry, PrincipalType, Workspace };

/** IDs are compared case-insensitively, as Entra ID and Smartspace treat GUIDs. */
function key(id: string): string {
  return id.toLowerCase();
}

export interface EmulatorStoreOptions {
  /**
   * Models Entra ID directory replication: a principal first mentioned at time t is "not found" (409
   * PrincipalNotFound on grant) until t + replicationDelayMs. Default 0 (visible at once).
   */
  readonly replicationDelayMs?: number;
  readonly now?: () => number;
}

/** The emulator's state: workspaces, their access lists, and which principals Smartspace can see. */
export class EmulatorStore {
  replicationDelayMs: number;
  private readonly now: () => number;
  private readonly workspaces = new Map<string, Workspace>();
  private readonly access = new Map<string, Map<string, AccessEntry>>();
  private readonly principalFirstSeen = new Map<string, number>();

  constructor(options: EmulatorStoreOptions = {}) {
    this.replicationDelayMs = options.replicationDelayMs ?? 0;
    this.now = options.now ?? Date.now;
  }

  addWorkspace(id: string, name = `Workspace ${id.slice(0, 8)}`): Workspace {
    const workspace = { id, name };
    this.workspaces.set(key(id), workspace);
    if (!this.access.has(key(id))) {
      this.access.set(key(id), new Map());
    }
    return workspace;
  }

  removeWorkspace(id: string): boolean {
    this.access.delete(key(id));
    return this.workspaces.delete(key(id));
  }

  getWorkspace(id: string): Workspace | undefined {
    return this.workspaces.get(key(id));
  }

  listWorkspaces(): Workspace[] {
    return [...this.workspaces.values()];
  }

  /** The access list, or undefined when the workspace does not exist. */
  listAccess(workspaceId: string): AccessEntry[] | undefined {
    const entries = this.access.get(key(workspaceId));
    return entries ? [...entries.values()] : undefined;
  }

  getAccess(workspaceId: string, principalId: string): AccessEntry | undefined {
    return this.access.get(key(workspaceId))?.get(key(principalId));
  }

  /** Upsert; throws when the workspace does not exist. */
  putAccess(workspaceId: string, entry: AccessEntry): "created" | "updated" {
    const entries = this.access.get(key(workspaceId));
    if (!entries) {
      throw new Error(`workspace ${workspaceId} does not exist`);
    }
    const existed = entries.has(key(entry.principalId));
    entries.set(key(entry.principalId), { ...entry });
    return existed ? "updated" : "created";
  }

  /** Revokes; returns whether a grant existed (also what an out-of-band removal in the portal does). */
  deleteAccess(workspaceId: string, principalId: string): boolean {
    return this.access.get(key(workspaceId))?.delete(key(principalId)) ?? false;
  }

  /** Makes a principal visible now, as if replication had finished. */
  addPrincipal(principalId: string): void {
    this.principalFirstSeen.set(key(principalId), this.now() - this.replicationDelayMs);
  }

  /** Whether Smartspace "sees" the principal yet; the first call starts its replication clock. */
  isPrincipalVisible(principalId: string): boolean {
    const id = key(principalId);
    let firstSeen = this.principalFirstSeen.get(id);
    if (firstSeen === undefined) {
      firstSeen = this.now();
      this.principalFirstSeen.set(id, firstSeen);
    }
    return this.now() >= firstSeen + this.replicationDelayMs;
  }
}

export interface RouteResult {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteContext {
  readonly method: string;
  /** Decoded pathname. */
  readonly path: string;
  /** Decoded path parameters (`:name` in the pattern). */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  /** JSON bodies parsed; `application/x-www-form-urlencoded` as an object of strings; otherwise the text. */
  readonly body: unknown;
  readonly rawBody: string;
  /** The bearer token, if the request carried one. */
  readonly token: string | undefined;
  readonly store: EmulatorStore;
  readonly emulator: SmartspaceEmulator;
}

export type RouteHandler = (ctx: RouteContext) => RouteResult | Promise<RouteResult>;
/** Returns an error response to refuse the request, or undefined to let it through. */
export type Authorizer = (ctx: RouteContext) => RouteResult | undefined;

export interface RouteOptions {
  /** "admin" (default): the admin bearer token; "none": public; or a custom check. */
  readonly auth?: "admin" | "none" | Authorizer;
  /**
   * "https" (default), or "http" for the one kind of endpoint Azure serves over plain http on the local
   * machine (App Service's managed identity endpoint): served only by {@link SmartspaceEmulator.listenHttp}.
   */
  readonly transport?: "https" | "http";
}

interface Route {
  readonly method: string;
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly handler: RouteHandler;
  readonly auth: "admin" | "none" | Authorizer;
  readonly transport: "https" | "http";
}

export type RouteMatch =
  | { readonly kind: "found"; readonly route: Route; readonly params: Record<string, string> }
  | { readonly kind: "method-not-allowed"; readonly allowed: readonly string[] }
  | { readonly kind: "not-found" };

/** Matches `/a/:param/b` patterns against decoded path segments. */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: RouteHandler, options: RouteOptions = {}): this {
    this.routes.push({
      method: method.toUpperCase(),
      pattern,
      segments: pattern.split("/").filter((s) => s !== ""),
      handler,
      auth: options.auth ?? "admin",
      transport: options.transport ?? "https",
    });
    return this;
  }

  match(method: string, pathname: string, transport: "https" | "http" = "https"): RouteMatch {
    let segments: string[];
    try {
      segments = pathname
        .split("/")
        .filter((s) => s !== "")
        .map((s) => decodeURIComponent(s));
    } catch {
      return { kind: "not-found" };
    }
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = route.transport === transport ? matchSegments(route.segments, segments) : undefined;
      if (!params) {
        continue;
      }
      if (route.method === method.toUpperCase()) {
        return { kind: "found", route, params };
      }
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: "method-not-allowed", allowed } : { kind: "not-found" };
  }
}

function matchSegments(
  pattern: readonly string[],
  actual: readonly string[],
): Record<string, string> | undefined {
  if (pattern.length !== actual.length) {
    return undefined;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i].startsWith(":")) {
      params[pattern[i].slice(1)] = actual[i];
    } else if (pattern[i] !== actual[i]) {
      return undefined;
    }
  }
  return params;
}

export type FaultAction =
  /** Answer with this status instead of handling the request; `bodyFrom` computes the body from the request. */
  | {
      readonly kind: "status";
      readonly status: number;
      readonly headers?: Readonly<Record<string, string>>;
      readonly body?: unknown;
      readonly bodyFrom?: (request: FaultRequest) => unknown;
    }
  /** Wait, then handle the request normally (a client with a shorter timeout gives up first). */
  | { readonly kind: "delay"; readonly delayMs: number }
  /** Read the request, then destroy the socket without answering. */
  | { readonly kind: "drop" };

export interface FaultRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
}

export interface FaultMatch {
  /** Only requests with this method. */
  readonly method?: string;
  /** Only requests whose decoded pathname equals this string or matches this pattern. */
  readonly path?: string | RegExp;
}

export interface FaultOptions extends FaultMatch {
  /** How many matching requests the fault affects. Default 1. */
  readonly times?: number;
}

interface FaultRule extends FaultMatch {
  remaining: number;
  readonly action: FaultAction;
  readonly label: string;
}

const GRANT_PATH = /^\/workspaces\/[^/]+\/access\/[^/]+$/;

/** Faults are consumed in the order added: each matching request takes one from the first matching rule. */
export class FaultInjector {
  private rules: FaultRule[] = [];

  add(action: FaultAction, options: FaultOptions = {}, label: string = action.kind): this {
    const times = options.times ?? 1;
    if (!Number.isInteger(times) || times < 1) {
      throw new Error(`fault "${label}": times must be a positive integer`);
    }
    this.rules.push({
      method: options.method?.toUpperCase(),
      path: options.path,
      remaining: times,
      action,
      label,
    });
    return this;
  }

  /** 429 with `Retry-After`: a number of seconds, a Date (sent as an HTTP date), or a raw header value. */
  throttle(options: FaultOptions & { readonly retryAfter?: number | Date | string } = {}): this {
    const retryAfter = options.retryAfter ?? 1;
    const value =
      retryAfter instanceof Date
        ? retryAfter.toUTCString()
        : typeof retryAfter === "number"
          ? String(retryAfter)
          : retryAfter;
    return this.add(
      { kind: "status", status: 429, headers: { "retry-after": value }, body: { error: "TooManyRequests" } },
      options,
      "throttle",
    );
  }

  /** 503 (or another 5xx) without `Retry-After`. */
  unavailable(options: FaultOptions & { readonly status?: number } = {}): this {
    return this.add(
      { kind: "status", status: options.status ?? 503, body: { error: "ServiceUnavailable" } },
      options,
      "unavailable",
    );
  }

  /** Delays the response by `delayMs`, then answers normally. */
  slow(options: FaultOptions & { readonly delayMs: number }): this {
    return this.add({ kind: "delay", delayMs: options.delayMs }, options, "slow");
  }

  /** `409 {"error": "PrincipalNotFound"}` for grants (PUT .../access/...) unless another match is given. */
  principalNotFound(options: FaultOptions = {}): this {
    return this.add(
      {
        kind: "status",
        status: 409,
        body: { error: "PrincipalNotFound", message: "The principal was not found in the directory." },
      },
      { method: "PUT", path: GRANT_PATH, ...options },
      "principal-not-found",
    );
  }

  /** Destroys the connection without a response. */
  drop(options: FaultOptions = {}): this {
    return this.add({ kind: "drop" }, options, "drop");
  }

  /** Any status, with optional headers and a fixed body or one computed from the request. */
  status(
    options: FaultOptions & {
      readonly status: number;
      readonly headers?: Readonly<Record<string, string>>;
      readonly body?: unknown;
      readonly bodyFrom?: (request: FaultRequest) => unknown;
    },
  ): this {
    return this.add(
      {
        kind: "status",
        status: options.status,
        headers: options.headers,
        body: options.body,
        bodyFrom: options.bodyFrom,
      },
      options,
      `status-${options.status}`,
    );
  }

  clear(): void {
    this.rules = [];
  }

  /** Faults not yet consumed. */
  pending(): number {
    return this.rules.reduce((sum, rule) => sum + rule.remaining, 0);
  }

  /** Consumes and returns the fault for this request, if any. */
  take(method: string, path: string): { action: FaultAction; label: string } | undefined {
    const rule = this.rules.find(
      (r) =>
        r.remaining > 0 &&
        (r.method === undefined || r.method === method.toUpperCase()) &&
        (r.path === undefined || (typeof r.path === "string" ? r.path === path : r.path.test(path))),
    );
    if (!rule) {
      return undefined;
    }
    rule.remaining--;
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return { action: rule.action, label: rule.label };
  }
}

export interface RecordedRequest {
  readonly method: string;
  /** Decoded pathname, without the query string. */
  readonly path: string;
  readonly query: string;
  /** The status sent, or "dropped" when the connection was destroyed on purpose. */
  readonly status: number | "dropped";
  /** The injected fault that shaped the response, if any. */
  readonly fault?: string;
  /** True when the client had gone before the response could be written (for example after a timeout). */
  readonly clientGone: boolean;
  readonly durationMs: number;
}

export interface RequestFilter {
  readonly method?: string;
  readonly path?: string | RegExp;
  readonly status?: number | "dropped";
}

export interface SmartspaceEmulatorOptions {
  /** Bearer token accepted as a Smartspace admin. Default: a random token (read it from `emulator.token`). */
  readonly token?: string;
  /** Tokens that authenticate but lack admin rights: the admin routes answer 403. */
  readonly nonAdminTokens?: readonly string[];
  /** Workspaces to seed. */
  readonly workspaces?: readonly { readonly id: string; readonly name?: string }[];
  /** See {@link EmulatorStoreOptions.replicationDelayMs}. */
  readonly replicationDelayMs?: number;
  /** Default 0: an ephemeral port. */
  readonly port?: number;
  /** The certificate to serve HTTPS with. Default: one generated for this process ({@link sharedEmulatorTls}). */
  readonly tls?: EmulatorTls;
  /** Called after each request is answered (or dropped); receives no headers, so it is safe to print. */
  readonly onRequest?: (request: RecordedRequest) => void;
  readonly now?: () => number;
}

const MAX_BODY_BYTES = 1024 * 1024;

export class SmartspaceEmulator {
  readonly token: string;
  readonly nonAdminTokens: readonly string[];
  readonly store: EmulatorStore;
  readonly router = new Router();
  readonly faults = new FaultInjector();
  readonly requests: RecordedRequest[] = [];
  readonly options: SmartspaceEmulatorOptions;
  private server: https.Server | undefined;
  private plainServer: http.Server | undefined;
  private baseUrl: string | undefined;
  private tlsInUse: EmulatorTls | undefined;
  /** Requests held back by a "slow" fault; cancelled by reset() and close(). */
  private readonly delayed = new Set<{ readonly cancel: () => void }>();

  /** Starts an emulator (or a subclass) listening on 127.0.0.1. */
  static async start<E extends SmartspaceEmulator, O extends SmartspaceEmulatorOptions>(
    this: new (options: O) => E,
    options?: O,
  ): Promise<E> {
    const emulator = new this(options ?? ({} as O));
    await emulator.listen();
    return emulator;
  }

  /** Use {@link SmartspaceEmulator.start}; the constructor only prepares state and routes. */
  constructor(options: SmartspaceEmulatorOptions = {}) {
    this.options = options;
    this.token = options.token ?? `emulator-${randomBytes(18).toString("base64url")}`;
    this.nonAdminTokens = options.nonAdminTokens ?? [];
    this.store = new EmulatorStore({ replicationDelayMs: options.replicationDelayMs, now: options.now });
    for (const workspace of options.workspaces ?? []) {
      this.store.addWorkspace(workspace.id, workspace.name);
    }
    this.addAdminRoutes();
  }

  /** Base URL without a trailing slash, e.g. `https://127.0.0.1:53211`. */
  get url(): string {
    if (this.baseUrl === undefined) {
      throw new Error("the emulator is not listening; create it with SmartspaceEmulator.start()");
    }
    return this.baseUrl;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** The certificate served: trust it with `NODE_EXTRA_CA_CERTS=<tls.caFile>` or {@link agent}. */
  get tls(): EmulatorTls {
    if (this.tlsInUse === undefined) {
      throw new Error("the emulator is not listening; create it with SmartspaceEmulator.start()");
    }
    return this.tlsInUse;
  }

  /** An https agent trusting this emulator, for clients in this process. */
  agent(): https.Agent {
    return emulatorAgent(this.tls);
  }

  /** Recorded requests matching the filter. */
  requestsMatching(filter: RequestFilter = {}): RecordedRequest[] {
    return this.requests.filter(
      (r) =>
        (filter.method === undefined || r.method === filter.method.toUpperCase()) &&
        (filter.status === undefined || r.status === filter.status) &&
        (filter.path === undefined ||
          (typeof filter.path === "string" ? r.path === filter.path : filter.path.test(r.path))),
    );
  }

  count(filter: RequestFilter = {}): number {
    return this.requestsMatching(filter).length;
  }

  /**
   * Forgets recorded requests and pending faults, and drops requests still held by a "slow" fault so they
   * cannot complete (and be recorded) during a later test. The store is kept.
   */
  reset(): void {
    this.cancelDelayed();
    this.requests.length = 0;
    this.faults.clear();
  }

  /** The admin-token check used by routes with `auth: "admin"`. */
  authorizeAdmin(ctx: RouteContext): RouteResult | undefined {
    if (ctx.token === undefined) {
      return unauthorized("missing bearer token");
    }
    if (this.nonAdminTokens.includes(ctx.token)) {
      return {
        status: 403,
        body: { error: "Forbidden", message: "The caller is not a Smartspace administrator." },
      };
    }
    if (ctx.token !== this.token) {
      return unauthorized("invalid or expired token");
    }
    return undefined;
  }

  async close(): Promise<void> {
    this.cancelDelayed();
    const servers = [this.server, this.plainServer];
    this.server = undefined;
    this.plainServer = undefined;
    for (const server of servers) {
      if (server) {
        await new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          server.closeAllConnections();
        });
      }
    }
  }

  private cancelDelayed(): void {
    for (const request of [...this.delayed]) {
      request.cancel();
    }
  }

  /** Starts serving HTTPS; subclasses that serve more call it first. */
  protected async listen(): Promise<void> {
    const tls = this.options.tls ?? (await sharedEmulatorTls());
    const server = https.createServer({ key: tls.key, cert: tls.cert }, this.handler("https"));
    const port = await listenOn(server, this.options.port ?? 0);
    this.server = server;
    this.tlsInUse = tls;
    this.baseUrl = `https://127.0.0.1:${port}`;
  }

  /**
   * Also serves the routes registered with `transport: "http"` (and only those) over plain http on
   * 127.0.0.1; resolves with that base URL. Recorded and fault-injected like the rest.
   */
  protected async listenHttp(): Promise<string> {
    const server = http.createServer(this.handler("http"));
    const port = await listenOn(server, 0);
    this.plainServer = server;
    return `http://127.0.0.1:${port}`;
  }

  private handler(transport: "https" | "http") {
    return (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res, transport).catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          sendJson(res, { status: 500, body: { error: "EmulatorError", message: String(error) } });
        }
      });
    };
  }

  private addAdminRoutes(): void {
    const workspaceNotFound = (id: string): RouteResult => ({
      status: 404,
      body: { error: "WorkspaceNotFound", message: `Workspace ${id} was not found.` },
    });

    this.router
      .add("GET", "/workspaces/:workspaceId", ({ params, store }) => {
        const workspace = store.getWorkspace(params.workspaceId);
        return workspace ? { status: 200, body: workspace } : workspaceNotFound(params.workspaceId);
      })
      .add("GET", "/workspaces/:workspaceId/access", ({ params, store }) => {
        const entries = store.listAccess(params.workspaceId);
        return entries ? { status: 200, body: { data: entries } } : workspaceNotFound(params.workspaceId);
      })
      .add("GET", "/workspaces/:workspaceId/access/:principalId", ({ params, store }) => {
        if (!store.getWorkspace(params.workspaceId)) {
          return workspaceNotFound(params.workspaceId);
        }
        const entry = store.getAccess(params.workspaceId, params.principalId);
        return entry
          ? { status: 200, body: entry }
          : { status: 404, body: { error: "AccessNotFound", message: "The principal has no access." } };
      })
      .add("PUT", "/workspaces/:workspaceId/access/:principalId", ({ params, body, store }) => {
        if (!store.getWorkspace(params.workspaceId)) {
          return workspaceNotFound(params.workspaceId);
        }
        const problem = validateGrant(params.principalId, body);
        if (problem) {
          return { status: 400, body: { error: "BadRequest", message: problem } };
        }
        if (!store.isPrincipalVisible(params.principalId)) {
          return {
            status: 409,
            body: { error: "PrincipalNotFound", message: `Principal ${params.principalId} was not found.` },
          };
        }
        const grant = body as { principalType?: PrincipalType; displayName?: string };
        const entry: AccessEntry = {
          principalId: params.principalId,
          principalType: grant.principalType ?? "ServicePrincipal",
          displayName: grant.displayName ?? "",
        };
        const outcome = store.putAccess(params.workspaceId, entry);
        return { status: outcome === "created" ? 201 : 200, body: entry };
      })
      .add("DELETE", "/workspaces/:workspaceId/access/:principalId", ({ params, store }) => {
        if (!store.getWorkspace(params.workspaceId)) {
          return workspaceNotFound(params.workspaceId);
        }
        return store.deleteAccess(params.workspaceId, params.principalId)
          ? { status: 204 }
          : { status: 404, body: { error: "AccessNotFound", message: "The principal has no access." } };
      });
  }

  private async handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    transport: "https" | "http",
  ): Promise<void> {
    const started = Date.now();
    const method = (req.method ?? "GET").toUpperCase();
    const parsedUrl = new URL(req.url ?? "/", "http://127.0.0.1");
    let path: string;
    try {
      path = decodeURIComponent(parsedUrl.pathname);
    } catch {
      path = parsedUrl.pathname;
    }
    const record = (status: number | "dropped", fault: string | undefined) => {
      const entry: RecordedRequest = {
        method,
        path,
        query: parsedUrl.search,
        status,
        fault,
        clientGone: status !== "dropped" && (res.destroyed || req.socket.destroyed),
        durationMs: Date.now() - started,
      };
      this.requests.push(entry);
      this.options.onRequest?.(entry);
    };

    let rawBody: string;
    try {
      rawBody = await readBody(req);
    } catch {
      sendJson(res, { status: 413, body: { error: "PayloadTooLarge" } });
      record(413, undefined);
      return;
    }

    const fault = this.faults.take(method, path);
    if (fault?.action.kind === "drop") {
      req.socket.destroy();
      record("dropped", fault.label);
      return;
    }
    if (fault?.action.kind === "status") {
      const action = fault.action;
      const body = action.bodyFrom ? action.bodyFrom({ method, path, headers: req.headers }) : action.body;
      sendJson(res, { status: action.status, headers: action.headers, body });
      record(action.status, fault.label);
      return;
    }
    if (fault?.action.kind === "delay") {
      const delayMs = fault.action.delayMs;
      const completed = await new Promise<boolean>((resolve) => {
        const entry = {
          cancel: () => {
            clearTimeout(timer);
            this.delayed.delete(entry);
            resolve(false);
          },
        };
        const timer = setTimeout(() => {
          this.delayed.delete(entry);
          resolve(true);
        }, delayMs);
        this.delayed.add(entry);
      });
      if (!completed) {
        req.socket.destroy();
        return;
      }
    }

    const result = await this.route(method, path, parsedUrl, req, rawBody, transport);
    sendJson(res, result);
    record(result.status, fault?.label);
  }

  private async route(
    method: string,
    path: string,
    parsedUrl: URL,
    req: http.IncomingMessage,
    rawBody: string,
    transport: "https" | "http",
  ): Promise<RouteResult> {
    const match = this.router.match(method, parsedUrl.pathname, transport);
    if (match.kind === "not-found") {
      return { status: 404, body: { error: "NotFound", message: `No route for ${method} ${path}.` } };
    }
    if (match.kind === "method-not-allowed") {
      return {
        status: 405,
        headers: { allow: match.allowed.join(", ") },
        body: { error: "MethodNotAllowed", message: `${method} is not allowed on ${path}.` },
      };
    }
    let body: unknown = rawBody;
    const contentType = (req.headers["content-type"] ?? "").toLowerCase();
    if (contentType.includes("application/json") && rawBody !== "") {
      try {
        body = JSON.parse(rawBody);
      } catch {
        return { status: 400, body: { error: "BadRequest", message: "The body is not valid JSON." } };
      }
    } else if (contentType.includes("application/x-www-form-urlencoded")) {
      body = Object.fromEntries(new URLSearchParams(rawBody));
    } else if (rawBody === "") {
      body = undefined;
    }
    const authorization = req.headers.authorization ?? "";
    const bearer = /^Bearer\s+(.+)$/i.exec(authorization);
    const ctx: RouteContext = {
      method,
      path,
      params: match.params,
      query: parsedUrl.searchParams,
      headers: req.headers,
      body,
      rawBody,
      token: bearer ? bearer[1].trim() : undefined,
      store: this.store,
      emulator: this,
    };
    const auth = match.route.auth;
    const refusal = auth === "none" ? undefined : auth === "admin" ? this.authorizeAdmin(ctx) : auth(ctx);
    if (refusal) {
      return refusal;
    }
    return match.route.handler(ctx);
  }
}

/** Listens on 127.0.0.1 and resolves with the port. */
async function listenOn(server: http.Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

function unauthorized(message: string): RouteResult {
  return {
    status: 401,
    headers: { "www-authenticate": 'Bearer error="invalid_token"' },
    body: { error: "Unauthorized", message },
  };
}

function validateGrant(principalId: string, body: unknown): string | undefined {
  if (!GUID.test(principalId)) {
    return "principalId must be an object ID (GUID).";
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return 'The body must be a JSON object such as {"principalType": "ServicePrincipal", "displayName": "..."}.';
  }
  const grant = body as Record<string, unknown>;
  if (grant.principalType !== undefined && !PRINCIPAL_TYPES.includes(grant.principalType as PrincipalType)) {
    return `principalType must be one of ${PRINCIPAL_TYPES.join(", ")}.`;
  }
  if (
    grant.displayName !== undefined &&
    (typeof grant.displayName !== "string" || grant.displayName.length > 256)
  ) {
    return "displayName must be a string of at most 256 characters.";
  }
  return undefined;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("body too large"));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: http.ServerResponse, result: RouteResult): void {
  if (res.destroyed || res.headersSent) {
    return;
  }
  const headers: Record<string, string> = { ...result.headers };
  let payload: string | undefined;
  if (result.body !== undefined && result.status !== 204) {
    payload = typeof result.body === "string" ? result.body : JSON.stringify(result.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
      headers["content-type"] = typeof result.body === "string" ? "text/plain" : "application/json";
    }
  }
  res.writeHead(result.status, headers);
  res.end(payload);
}
