/**
 * The HTTP core of the Smartspace API clients, on the Azure SDK's own pipeline (@azure/core-rest-pipeline):
 * the SDK brings bearer tokens (cached, refreshed before expiry), retries with jittered exponential backoff
 * and `Retry-After`, per-try timeouts, proxy support and header-redacting logs (`AZURE_LOG_LEVEL=info`).
 * This module adds what the SDK leaves open, for servers that misbehave:
 * - no redirect is ever followed: a 3xx is an error naming its location;
 * - response bodies are capped (success and error alike), and reading one is bounded in time;
 * - an overall deadline over all attempts; a `Retry-After` beyond it fails at once;
 * - only idempotent methods are retried on ambiguous failures; POST only on 429, which means "not processed";
 * - every failure is an {@link HttpError} naming method, URL and status, with every token redacted.
 * Contract validation (the shape of each answer) belongs to the API clients, which use {@link parseJson}.
 */
import type { Agent } from "node:http";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import {
  agentPolicy,
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
  defaultRetryPolicy,
  type HttpClient as SdkHttpClient,
  isRestError,
  logPolicy,
  type Pipeline,
  type PipelinePolicy,
  type PipelineRequest,
  type PipelineResponse,
  proxyPolicy,
  RestError,
  retryPolicy,
  type RetryStrategy,
  userAgentPolicy,
} from "@azure/core-rest-pipeline";
import type { z } from "zod";

export type HttpMethod = "GET" | "PUT" | "POST" | "DELETE";

/** Methods whose repetition has no additional effect, so a retry after an ambiguous failure is safe. */
const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(["GET", "PUT", "DELETE"]);

export const HTTP_DEFAULTS = {
  /** One attempt, headers and body. */
  timeoutMs: 30_000,
  /** The whole call: every attempt and every wait. */
  deadlineMs: 120_000,
  maxRetries: 5,
  backoffBaseMs: 500,
  backoffMaxMs: 20_000,
  /** Largest success body read; a larger one fails the call. */
  maxResponseBytes: 1024 * 1024,
} as const;

/** Bytes of an error body kept for the message: enough for a JSON error, the rest is discarded unread. */
const ERROR_BODY_BYTES = 16 * 1024;
/** Characters of a body quoted in an error message. */
export const BODY_EXCERPT_LENGTH = 300;

export type HttpTimings = { -readonly [K in keyof typeof HTTP_DEFAULTS]: number };

/**
 * A client's default timings multiplied by the number in environment variable `envName`, when it is set:
 * tests and emulator demos shrink every timeout, deadline and backoff at once (0.01 turns two minutes into
 * 1.2 s). Counts and sizes (`unscaled`) keep their values; a server's Retry-After is never scaled.
 */
export function scaledTimings<T extends Record<string, number>>(
  defaults: T,
  envName: string,
  env: Readonly<Record<string, string | undefined>>,
  unscaled: readonly (keyof T)[],
): { -readonly [K in keyof T]: number } {
  const raw = env[envName];
  let scale = 1;
  if (raw !== undefined && raw.trim() !== "") {
    scale = Number(raw);
    if (!Number.isFinite(scale) || scale <= 0 || scale > 100) {
      throw new Error(`${envName} must be a number greater than 0 and at most 100, got "${raw}"`);
    }
  }
  return Object.fromEntries(
    Object.entries(defaults).map(([name, value]) => [
      name,
      unscaled.includes(name) ? value : Math.max(1, Math.round(value * scale)),
    ]),
  ) as { -readonly [K in keyof T]: number };
}

export interface HttpClientOptions extends Partial<HttpTimings> {
  /** Base URL (https), possibly with a path prefix (`https://host/api`), which is kept. */
  readonly baseUrl: string;
  /** Source of bearer tokens for `scope`. */
  readonly credential: TokenCredential;
  readonly scope: string;
  /** Transport agent, e.g. one trusting a local emulator's certificate. Default: the SDK's. */
  readonly agent?: Agent;
  /** The transport itself (tests that answer in-process). Default: the SDK's Node.js client. */
  readonly transport?: SdkHttpClient;
  /** Clock for deadlines and HTTP-date `Retry-After`. Default `Date.now`. */
  readonly now?: () => number;
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  /** Serialized as JSON. */
  readonly body?: unknown;
  /** Statuses that count as success. Default `[200]`. */
  readonly expect?: readonly number[];
  /** Override the client's per-attempt timeout and deadline for this call. */
  readonly timeoutMs?: number;
  readonly deadlineMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly method: HttpMethod;
  readonly url: string;
  /** The body as text ("" when empty). */
  readonly text: string;
}

/**
 * - `status`: an unexpected status;
 * - `redirect`: a 3xx, which is never followed;
 * - `timeout`: no complete answer within an attempt's timeout (after retrying) or the deadline;
 * - `network`: the connection failed or broke;
 * - `token`: no bearer token could be obtained, so nothing was sent;
 * - `invalid-response`: a success status whose body is not what the contract says;
 * - `too-large`: a success body over the size cap.
 */
export type HttpErrorKind =
  "status" | "redirect" | "timeout" | "network" | "token" | "invalid-response" | "too-large";

export interface HttpErrorInit {
  readonly kind: HttpErrorKind;
  readonly method: string;
  readonly url: string;
  readonly status?: number;
  /** The body (or its start), redacted and shortened here. */
  readonly body?: string;
  /** Where a redirect pointed. */
  readonly location?: string;
  /** Machine-readable error code from the body (`{"error": "..."}` or `{"code": "..."}`). */
  readonly code?: string;
  readonly attempts?: number;
  /** Likely cause and remedy, put first in the message. */
  readonly hint?: string;
  /** Extra facts appended to the message. */
  readonly detail?: string;
  /** Values to remove from every text field, besides anything shaped like a credential. */
  readonly secrets?: readonly string[];
}

/** A failed HTTP call. Its message and fields never contain a token or other known secret. */
export class HttpError extends Error {
  readonly kind: HttpErrorKind;
  readonly method: string;
  readonly url: string;
  readonly status: number | undefined;
  readonly bodyExcerpt: string | undefined;
  readonly location: string | undefined;
  readonly code: string | undefined;
  readonly attempts: number;
  readonly hint: string | undefined;
  readonly detail: string | undefined;

  constructor(init: HttpErrorInit) {
    const secrets = init.secrets ?? [];
    const clean = (text: string | undefined, max = 2 * BODY_EXCERPT_LENGTH) =>
      text === undefined ? undefined : excerpt(text, secrets, max);
    const fields = {
      kind: init.kind,
      method: init.method,
      url: clean(init.url, 2_000) ?? "",
      status: init.status,
      bodyExcerpt: init.body === undefined || init.body.trim() === "" ? undefined : clean(init.body),
      location: clean(init.location),
      code: clean(init.code, 100),
      attempts: init.attempts ?? 1,
      hint: clean(init.hint, 2_000),
      detail: clean(init.detail),
    };
    super(describe(fields));
    this.name = "HttpError";
    this.kind = fields.kind;
    this.method = fields.method;
    this.url = fields.url;
    this.status = fields.status;
    this.bodyExcerpt = fields.bodyExcerpt;
    this.location = fields.location;
    this.code = fields.code;
    this.attempts = fields.attempts;
    this.hint = fields.hint;
    this.detail = fields.detail;
  }

  /** The same failure with a likely-cause hint, for API clients that know what a status means. */
  withHint(hint: string, detail?: string): HttpError {
    return new HttpError({ ...this.init(), hint, detail: detail ?? this.detail });
  }

  private init(): HttpErrorInit {
    return {
      kind: this.kind,
      method: this.method,
      url: this.url,
      status: this.status,
      body: this.bodyExcerpt,
      location: this.location,
      code: this.code,
      attempts: this.attempts,
      hint: this.hint,
      detail: this.detail,
    };
  }
}

function describe(e: {
  kind: HttpErrorKind;
  method: string;
  url: string;
  status?: number;
  bodyExcerpt?: string;
  location?: string;
  attempts: number;
  hint?: string;
  detail?: string;
}): string {
  const what: Record<HttpErrorKind, string> = {
    status: `returned HTTP ${e.status}`,
    redirect: `answered HTTP ${e.status}, redirecting to ${e.location ?? "(no Location header)"}, which is not followed`,
    timeout: "timed out",
    network: "failed (network error)",
    token: "was not sent: no bearer token could be obtained",
    "invalid-response": `returned HTTP ${e.status} with a body the contract does not allow`,
    "too-large": `returned HTTP ${e.status} with a body over the size limit`,
  };
  let message = `${e.hint ? `${e.hint}. ` : ""}${e.method} ${e.url} ${what[e.kind]}`;
  if (e.attempts > 1) {
    message += ` after ${e.attempts} attempts`;
  }
  if (e.detail) {
    message += ` (${e.detail})`;
  }
  if (e.bodyExcerpt) {
    message += `: ${e.bodyExcerpt}`;
  }
  return message;
}

// ---- Redaction ------------------------------------------------------------------------------------------

const REDACTED = "[REDACTED]";

/**
 * Every spelling of a secret a server might echo: raw, JSON-escaped, URL-encoded (`encodeURIComponent`) and
 * form-encoded (`+` for space, `%7E` for `~`), percent escapes in either case.
 */
function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret, JSON.stringify(secret).slice(1, -1)]);
  for (const encoded of [
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
  ]) {
    forms.add(encoded);
    forms.add(encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()));
  }
  return [...forms].filter((form) => form.length > 0);
}

/**
 * Patterns for credentials nobody told us about. Each is linear: no part can match the same text two ways,
 * so a body of many `eyJ` prefixes or `Bearer` words is scanned once (a backtracking pattern here once
 * blocked the event loop for seconds on a 120 KB error body).
 */
const CREDENTIAL_SHAPES: readonly RegExp[] = [
  // A JWT or any part of one: base64url JSON ("eyJ") with its dot-separated segments, also when cut short.
  /eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}/g,
  // The value after "Bearer", credential-length only: prose such as "the bearer token" stays readable.
  /(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*/gi,
  // An Entra ID client secret: 3 characters, a digit, "Q~", then 31-34 characters.
  /[A-Za-z0-9_.~-]{3}\dQ~[A-Za-z0-9_.~-]{31,34}/g,
];

/**
 * Removes the given secrets (in every spelling of {@link secretForms}) and anything shaped like a credential
 * from `text`. The project's only redaction routine: HTTP errors, `verify` and the emulators all use it.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  return redactForms(text, spellingsOf(secrets));
}

/** Every spelling of every non-empty secret, longest first, so that a secret containing another goes whole. */
function spellingsOf(secrets: readonly string[]): string[] {
  return secrets
    .filter((secret) => secret.length > 0)
    .flatMap(secretForms)
    .sort((a, b) => b.length - a.length);
}

function redactForms(text: string, forms: readonly string[]): string {
  let result = text;
  for (const form of forms) {
    result = result.split(form).join(REDACTED);
  }
  for (const shape of CREDENTIAL_SHAPES) {
    result = result.replace(shape, (_match, prefix?: string) =>
      typeof prefix === "string" && /^bearer/i.test(prefix) ? `${prefix}${REDACTED}` : REDACTED,
    );
  }
  return result;
}

/**
 * A text shortened for a message: cut first (so that a huge body costs no more than a short one), then
 * redacted, then cut to `max`. The first cut keeps enough beyond `max` that a secret starting inside the
 * excerpt is whole when redacted, so no prefix of it survives the second cut.
 */
export function excerpt(text: string, secrets: readonly string[] = [], max = BODY_EXCERPT_LENGTH): string {
  const forms = spellingsOf(secrets);
  // The longest spelling comes first.
  const margin = Math.max(64, forms[0]?.length ?? 0);
  const window = text.length > max + margin ? text.slice(0, max + margin) : text;
  const flat = redactForms(window, forms).replace(/\s+/g, " ").trim();
  return flat.length <= max && window.length === text.length ? flat : `${flat.slice(0, max - 1)}…`;
}

// ---- Pipeline -------------------------------------------------------------------------------------------

/** Raised when no token could be obtained: nothing was sent. */
class TokenUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "TokenUnavailableError";
  }
}

/** Raised inside the pipeline for a failure that must end the call without another attempt. */
class FinalError extends Error {
  constructor(readonly init: Omit<HttpErrorInit, "method" | "url" | "attempts" | "secrets">) {
    super(init.detail ?? init.kind);
    this.name = "FinalError";
  }
}

/**
 * The credential the bearer policy uses: the caller's, remembering the tokens it hands out (so that errors
 * can redact them even when a server echoes them) and marking its failures as "nothing was sent".
 */
class RecordingCredential implements TokenCredential {
  readonly issued: string[] = [];

  constructor(private readonly source: TokenCredential) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    let token: AccessToken | null;
    try {
      token = await this.source.getToken(scopes, options);
    } catch (error) {
      throw new TokenUnavailableError(error instanceof Error ? error.message : String(error));
    }
    if (!token?.token) {
      throw new TokenUnavailableError("the credential returned no token");
    }
    if (!this.issued.includes(token.token)) {
      this.issued.push(token.token);
      this.issued.splice(0, Math.max(0, this.issued.length - 8));
    }
    return token;
  }
}

interface CallState {
  attempts: number;
  readonly deadlineAt: number;
}

/** Per call (the SDK reuses one request object for every attempt): attempts so far and the deadline. */
const calls = new WeakMap<PipelineRequest, CallState>();

/**
 * Milliseconds a 429/503 asks the client to wait (`Retry-After` as delta-seconds or HTTP date, or the
 * millisecond headers Azure services send), or undefined when it does not say.
 */
export function retryAfterMs(
  response: Pick<PipelineResponse, "status" | "headers">,
  now: number,
): number | undefined {
  if (response.status !== 429 && response.status !== 503) {
    return undefined;
  }
  for (const header of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const value = response.headers.get(header)?.trim();
    if (value && /^\d+$/.test(value)) {
      return Number(value);
    }
  }
  const value = response.headers.get("retry-after")?.trim();
  if (!value) {
    return undefined;
  }
  if (/^\d+$/.test(value)) {
    return Number(value) * 1000;
  }
  // An HTTP date always names a weekday or month; Date.parse would also accept loose forms such as "5".
  const at = /[a-z]/i.test(value) ? Date.parse(value) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The innermost policy: sees each attempt's raw answer before the SDK's retry policy decides on it.
 * - counts attempts;
 * - turns the transport's per-try timeout (an AbortError the SDK's retry policy would not retry) into a
 *   retriable timeout, unless the call itself was aborted (the deadline);
 * - reads the body itself, capped and within the attempt's timeout (the SDK's timeout stops at the headers);
 * - stops at once when `Retry-After` points beyond the deadline, instead of sleeping into it.
 */
function attemptPolicy(maxResponseBytes: number, now: () => number): PipelinePolicy {
  return {
    name: "smartspaceAttempt",
    async sendRequest(request, next) {
      const call = calls.get(request);
      if (call) {
        call.attempts += 1;
      }
      request.streamResponseStatusCodes = new Set([Number.POSITIVE_INFINITY]);
      const started = now();
      let response: PipelineResponse;
      try {
        response = await next(request);
      } catch (error) {
        throw asRetriableTimeout(error, request);
      }
      const success = response.status >= 200 && response.status < 300;
      const { text, complete } = await readBody(
        response,
        success ? maxResponseBytes : ERROR_BODY_BYTES,
        Math.max(1, request.timeout - (now() - started)),
        request,
      );
      if (success && !complete) {
        throw new FinalError({
          kind: "too-large",
          status: response.status,
          detail: `more than ${maxResponseBytes} bytes`,
        });
      }
      response.bodyAsText = text;
      const wait = retryAfterMs(response, now());
      if (call && wait !== undefined && now() + wait > call.deadlineAt) {
        throw new FinalError({
          kind: "status",
          status: response.status,
          body: text,
          detail: `the server asked to retry after ${Math.ceil(wait / 1000)} s, beyond the deadline`,
        });
      }
      return response;
    },
  };
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

function asRetriableTimeout(error: unknown, request: PipelineRequest): unknown {
  if (isAbortError(error) && !request.abortSignal?.aborted) {
    // ETIMEDOUT is a system error to the SDK's exponential strategy, so idempotent calls are retried.
    return new RestError(`no complete answer within ${request.timeout} ms`, { code: "ETIMEDOUT", request });
  }
  return error;
}

/** Reads at most `limit` bytes of the body within `timeoutMs`; `complete` is false when more was left. */
async function readBody(
  response: PipelineResponse,
  limit: number,
  timeoutMs: number,
  request: PipelineRequest,
): Promise<{ text: string; complete: boolean }> {
  // The Node transport answers with a Node stream (NodeJS.ReadableStream lacks `destroy` in its type).
  const stream = response.readableStreamBody as (NodeJS.ReadableStream & { destroy(): void }) | undefined;
  response.readableStreamBody = undefined;
  if (!stream) {
    return { text: response.bodyAsText ?? "", complete: true };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      finish();
      stream.destroy();
      reject(asRetriableTimeout(Object.assign(new Error("body"), { name: "AbortError" }), request));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      stream.removeAllListeners("data");
    };
    stream.on("data", (chunk: Buffer) => {
      const room = limit - size;
      if (chunk.length > room) {
        chunks.push(chunk.subarray(0, Math.max(0, room)));
        finish();
        stream.destroy();
        resolve({ text: Buffer.concat(chunks).toString("utf8"), complete: false });
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    stream.once("end", () => {
      finish();
      resolve({ text: Buffer.concat(chunks).toString("utf8"), complete: true });
    });
    stream.once("error", (error: Error) => {
      finish();
      reject(
        isAbortError(error)
          ? asRetriableTimeout(error, request)
          : new RestError(error.message, {
              code: (error as { code?: string }).code ?? "ECONNRESET",
              request,
            }),
      );
    });
  });
}

/**
 * Retries of a non-idempotent call: only a 429, which says the request was not processed; after the
 * server's `Retry-After`, or else with the same backoff as other retries.
 */
function throttledOnly(timings: HttpTimings, now: () => number): RetryStrategy {
  return {
    name: "smartspaceThrottledOnly",
    retry({ retryCount, response }) {
      if (response?.status !== 429) {
        return { skipStrategy: true };
      }
      return { retryAfterInMs: retryAfterMs(response, now()) ?? backoff(retryCount, timings) };
    },
  };
}

function backoff(retryCount: number, timings: HttpTimings): number {
  const nominal = Math.min(timings.backoffMaxMs, timings.backoffBaseMs * 2 ** retryCount);
  return Math.round(nominal / 2 + Math.random() * (nominal / 2));
}

function pipelineFor(
  retry: PipelinePolicy,
  credential: TokenCredential,
  options: Pick<HttpClientOptions, "scope" | "agent">,
  timings: HttpTimings,
  now: () => number,
): Pipeline {
  const pipeline = createEmptyPipeline();
  if (options.agent) {
    pipeline.addPolicy(agentPolicy(options.agent));
  }
  pipeline.addPolicy(userAgentPolicy({ userAgentPrefix: "smartspace-integration" }));
  pipeline.addPolicy(proxyPolicy());
  pipeline.addPolicy(logPolicy());
  pipeline.addPolicy(retry);
  pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: options.scope }));
  pipeline.addPolicy(attemptPolicy(timings.maxResponseBytes, now));
  return pipeline;
}

/**
 * Joins path segments, percent-encoding each one. Rejects empty, "." and ".." segments: after URL
 * normalization they would address a different resource than the caller named.
 */
export function encodePath(segments: readonly string[]): string {
  return segments
    .map((segment) => {
      if (segment === "" || segment === "." || segment === "..") {
        throw new Error(`invalid URL path segment ${JSON.stringify(segment)}`);
      }
      return "/" + encodeURIComponent(segment);
    })
    .join("");
}

/** A JSON API at one base URL, with one token source. Cheap to keep: create one per API and scope. */
export class HttpClient {
  readonly baseUrl: string;
  readonly timings: HttpTimings;
  private readonly credential: RecordingCredential;
  private readonly idempotent: Pipeline;
  private readonly nonIdempotent: Pipeline;
  private readonly transport: SdkHttpClient;
  private readonly now: () => number;

  constructor(options: HttpClientOptions) {
    if (!/^https:\/\//i.test(options.baseUrl)) {
      throw new TypeError(`${options.baseUrl}: bearer tokens are only ever sent over https`);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.timings = {
      timeoutMs: options.timeoutMs ?? HTTP_DEFAULTS.timeoutMs,
      deadlineMs: options.deadlineMs ?? HTTP_DEFAULTS.deadlineMs,
      maxRetries: options.maxRetries ?? HTTP_DEFAULTS.maxRetries,
      backoffBaseMs: options.backoffBaseMs ?? HTTP_DEFAULTS.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs ?? HTTP_DEFAULTS.backoffMaxMs,
      maxResponseBytes: options.maxResponseBytes ?? HTTP_DEFAULTS.maxResponseBytes,
    };
    this.now = options.now ?? Date.now;
    this.transport = options.transport ?? createDefaultHttpClient();
    this.credential = new RecordingCredential(options.credential);
    const t = this.timings;
    this.idempotent = pipelineFor(
      defaultRetryPolicy({
        maxRetries: t.maxRetries,
        retryDelayInMs: t.backoffBaseMs,
        maxRetryDelayInMs: t.backoffMaxMs,
      }),
      this.credential,
      options,
      t,
      this.now,
    );
    this.nonIdempotent = pipelineFor(
      retryPolicy([throttledOnly(t, this.now)], { maxRetries: t.maxRetries }),
      this.credential,
      options,
      t,
      this.now,
    );
  }

  /**
   * The absolute URL for path segments (each percent-encoded) and a query. Query names keep a leading `$`
   * (OData's `$select`, `$filter`); values are encoded.
   */
  url(path: readonly string[], query?: RequestOptions["query"]): string {
    const search = Object.entries(query ?? {})
      .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
      .map(
        ([key, value]) =>
          `${encodeURIComponent(key).replace(/^%24/, "$")}=${encodeURIComponent(String(value))}`,
      )
      .join("&");
    return `${this.baseUrl}${encodePath(path)}${search ? `?${search}` : ""}`;
  }

  /** Tokens handed out so far: what errors and callers redact. */
  get secrets(): readonly string[] {
    return this.credential.issued;
  }

  /**
   * Sends one request (retrying as the module comment says) and returns the answer when its status is in
   * `expect`. Throws {@link HttpError} for anything else.
   */
  async request(
    method: HttpMethod,
    path: readonly string[],
    options: RequestOptions = {},
  ): Promise<HttpResponse> {
    return this.send(method, this.url(path, options.query), options);
  }

  /**
   * Like {@link request}, for an absolute URL a server handed out (a paging link). It must lie under this
   * client's base URL: the token is never sent anywhere else.
   */
  async requestUrl(
    method: HttpMethod,
    url: string,
    options: Omit<RequestOptions, "query"> = {},
  ): Promise<HttpResponse> {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const base = new URL(this.baseUrl);
    if (
      parsed === undefined ||
      parsed.origin !== base.origin ||
      !`${parsed.pathname}/`.startsWith(`${base.pathname.replace(/\/+$/, "")}/`)
    ) {
      throw new HttpError({
        kind: "invalid-response",
        method,
        url,
        detail: `a link outside ${this.baseUrl} is never followed`,
        secrets: this.secrets,
      });
    }
    return this.send(method, parsed.href, options);
  }

  private async send(
    method: HttpMethod,
    url: string,
    options: Omit<RequestOptions, "query">,
  ): Promise<HttpResponse> {
    const deadlineMs = options.deadlineMs ?? this.timings.deadlineMs;
    const headers = createHttpHeaders({ accept: "application/json" });
    if (options.body !== undefined) {
      headers.set("content-type", "application/json");
    }
    const request = createPipelineRequest({
      url,
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      timeout: options.timeoutMs ?? this.timings.timeoutMs,
      abortSignal: AbortSignal.timeout(deadlineMs),
    });
    const call: CallState = { attempts: 0, deadlineAt: this.now() + deadlineMs };
    calls.set(request, call);
    const pipeline = IDEMPOTENT.has(method) ? this.idempotent : this.nonIdempotent;
    const fail = (init: Omit<HttpErrorInit, "method" | "url" | "attempts" | "secrets">) =>
      new HttpError({ ...init, method, url, attempts: Math.max(1, call.attempts), secrets: this.secrets });

    let response: PipelineResponse;
    try {
      response = await pipeline.sendRequest(this.transport, request);
    } catch (error) {
      throw this.describeFailure(error, fail, deadlineMs);
    }
    const text = response.bodyAsText ?? "";
    if (response.status >= 300 && response.status < 400) {
      throw fail({
        kind: "redirect",
        status: response.status,
        location: response.headers.get("location") ?? undefined,
      });
    }
    if (!(options.expect ?? [200]).includes(response.status)) {
      throw fail({ kind: "status", status: response.status, body: text, code: errorCodeOf(text) });
    }
    return { status: response.status, method, url, text };
  }

  /** Parses a success body and validates it against the contract's schema; `what` names the shape. */
  parse<T>(response: HttpResponse, schema: z.ZodType<T>, what: string): T {
    const invalid = (detail: string) =>
      new HttpError({
        kind: "invalid-response",
        method: response.method,
        url: response.url,
        status: response.status,
        body: response.text,
        detail,
        secrets: this.secrets,
      });
    let json: unknown;
    try {
      json = response.text.trim() === "" ? undefined : JSON.parse(response.text);
    } catch {
      throw invalid(`expected ${what} as JSON`);
    }
    const result = schema.safeParse(json);
    if (!result.success) {
      const problems = result.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`)
        .join("; ");
      throw invalid(`expected ${what}; ${problems}`);
    }
    return result.data;
  }

  private describeFailure(
    error: unknown,
    fail: (init: Omit<HttpErrorInit, "method" | "url" | "attempts" | "secrets">) => HttpError,
    deadlineMs: number,
  ): HttpError {
    if (error instanceof FinalError) {
      return fail(error.init);
    }
    if (error instanceof TokenUnavailableError) {
      return fail({ kind: "token", detail: error.reason });
    }
    if (isRestError(error) && error.code === "ETIMEDOUT") {
      return fail({ kind: "timeout", detail: error.message });
    }
    if (isAbortError(error)) {
      return fail({ kind: "timeout", detail: `the ${deadlineMs} ms deadline passed` });
    }
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    return fail({ kind: "network", detail: typeof code === "string" ? `${message} [${code}]` : message });
  }
}

function errorCodeOf(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object") {
      for (const key of ["error", "code"]) {
        const value = (parsed as Record<string, unknown>)[key];
        if (typeof value === "string") {
          return value;
        }
      }
    }
  } catch {
    // Not JSON: the excerpt still carries the body.
  }
  return undefined;
}
