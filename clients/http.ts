/**
 * A small JSON-over-HTTP core shared by every API client in this project (the Smartspace admin API, the
 * Smartspace chat API): bearer authentication, a per-attempt timeout, an overall deadline, bounded retries
 * with exponential backoff and jitter, `Retry-After`, typed errors, and redaction of the bearer token.
 *
 * The WorkspaceAccess dynamic provider loads this module at run time in Pulumi's provider host (through
 * lib/adminApi.ts; see components/workspaceAccess.ts), so any edit here changes that provider's version and
 * shows as an update of every grant in `pulumi preview`. Every clock, sleep and random source is injectable.
 */

export { IDEMPOTENT_METHODS, HTTP_DEFAULTS, BODY_EXCERPT_LENGTH };

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Methods whose repetition has no additional effect, so a retry after an ambiguous failure is safe. */
const IDEMPOTENT_METHODS: readonly HttpMethod[] = ["GET", "HEAD", "PUT", "DELETE"];

const HTTP_DEFAULTS = {
  timeoutMs: 30_000,
  deadlineMs: 120_000,
  maxRetries: 5,
  backoffBaseMs: 500,
  backoffMaxMs: 20_000,
} as const;

/** Longest body excerpt kept in an error: enough to read a JSON error, short enough for a log line. */
const BODY_EXCERPT_LENGTH = 300;

export interface HttpClientOptions {
  /** Base URL; may carry a path prefix (`https://host/api`), which is kept. */
  readonly baseUrl: string;
  /** Returns the bearer token for each attempt; called again on retries so a refreshed token is used. */
  readonly getToken: () => Promise<string>;
  /** Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Limit for one attempt, including reading the body. Default 30 000 ms. */
  readonly timeoutMs?: number;
  /** Limit for the whole call, all attempts and waits included. Default 120 000 ms. */
  readonly deadlineMs?: number;
  /** Retries after the first attempt. Default 5. */
  readonly maxRetries?: number;
  /** First backoff delay; doubles per retry. Default 500 ms. */
  readonly backoffBaseMs?: number;
  /** Largest backoff delay (Retry-After is not capped by it, only by the deadline). Default 20 000 ms. */
  readonly backoffMaxMs?: number;
  /** Source of jitter in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Waits between attempts. Default a `setTimeout` promise. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Clock in epoch milliseconds, used for the deadline and HTTP-date `Retry-After`. Default `Date.now`. */
  readonly now?: () => number;
  /** Called before each wait for a retry; receives no token, so it is safe to log. */
  readonly onRetry?: (event: RetryEvent) => void;
  /** Extra headers sent with every request (never put credentials here; use `getToken`). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RequestOptions {
  /** Serialized as JSON. */
  readonly body?: unknown;
  /** Statuses that count as success. Default `[200]`. */
  readonly expect?: readonly number[];
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Decides whether a failed attempt is retried (within maxRetries and the deadline). Default:
   * `isIdempotent(method) && isTransientError(error)`. Use it to retry a non-idempotent call on a failure
   * known to be safe (for example a 429, which means the request was not processed).
   */
  readonly retryOn?: (error: HttpError) => boolean;
  /** Overrides the client's per-attempt timeout for this call. */
  readonly timeoutMs?: number;
  /** Overrides the client's overall deadline for this call. */
  readonly deadlineMs?: number;
}

export interface HttpResponse<T> {
  readonly status: number;
  /** Parsed JSON; `undefined` when the response had no body (204, HEAD). */
  readonly body: T;
  readonly headers: Headers;
}

export interface RetryEvent {
  readonly method: HttpMethod;
  readonly url: string;
  /** The attempt that failed, starting at 1. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: HttpError;
}

/**
 * - `status`: the server answered with an unexpected status;
 * - `timeout`: an attempt exceeded its timeout (or the remaining deadline);
 * - `network`: the connection failed or was dropped;
 * - `token`: no bearer token could be obtained;
 * - `invalid-response`: a success status with a body that is not JSON.
 */
export type HttpErrorKind = "status" | "timeout" | "network" | "token" | "invalid-response";

export interface HttpErrorInit {
  readonly kind: HttpErrorKind;
  readonly method: string;
  readonly url: string;
  readonly status?: number;
  readonly bodyExcerpt?: string;
  /** Machine-readable error code from the body (`{"error": "..."}` or `{"code": "..."}`). */
  readonly code?: string;
  readonly attempts?: number;
  readonly retryAfterMs?: number;
  /** Likely cause and remedy, put first in the message. */
  readonly hint?: string;
  /** Extra facts appended to the message (a network error's cause, why retrying stopped). */
  readonly detail?: string;
  /** Secrets to remove from every text field, in addition to anything that looks like a bearer token. */
  readonly secrets?: readonly string[];
}

/** A failed HTTP call. Its message and fields never contain the bearer token. */
export class HttpError extends Error {
  readonly kind: HttpErrorKind;
  readonly method: string;
  readonly url: string;
  readonly status: number | undefined;
  readonly bodyExcerpt: string | undefined;
  readonly code: string | undefined;
  readonly attempts: number;
  readonly retryAfterMs: number | undefined;
  readonly hint: string | undefined;
  readonly detail: string | undefined;

  constructor(init: HttpErrorInit) {
    const secrets = init.secrets ?? [];
    const clean = (text: string | undefined) => (text === undefined ? undefined : redact(text, secrets));
    const fields = {
      kind: init.kind,
      method: init.method,
      url: redact(init.url, secrets),
      status: init.status,
      bodyExcerpt: clean(init.bodyExcerpt),
      code: clean(init.code),
      attempts: init.attempts ?? 1,
      retryAfterMs: init.retryAfterMs,
      hint: clean(init.hint),
      detail: clean(init.detail),
    };
    const message = describeHttpError(fields);
    super(message);
    this.name = "HttpError";
    this.kind = fields.kind;
    this.method = fields.method;
    this.url = fields.url;
    this.status = fields.status;
    this.bodyExcerpt = fields.bodyExcerpt;
    this.code = fields.code;
    this.attempts = fields.attempts;
    this.retryAfterMs = fields.retryAfterMs;
    this.hint = fields.hint;
    this.detail = fields.detail;
  }

  /** The same failure with a (new) likely-cause hint, for API adapters that know what a status means. */
  withHint(hint: string, detail?: string): HttpError {
    return new HttpError({ ...this.init(), hint, detail: detail ?? this.detail });
  }

  /** The same failure with a different attempt count and an extra detail (used when retrying stops). */
  withAttempts(attempts: number, detail?: string): HttpError {
    const details = [this.detail, detail].filter((d) => d !== undefined && d !== "");
    return new HttpError({
      ...this.init(),
      attempts,
      detail: details.length > 0 ? details.join("; ") : undefined,
    });
  }

  private init(): HttpErrorInit {
    return {
      kind: this.kind,
      method: this.method,
      url: this.url,
      status: this.status,
      bodyExcerpt: this.bodyExcerpt,
      code: this.code,
      attempts: this.attempts,
      retryAfterMs: this.retryAfterMs,
      hint: this.hint,
      detail: this.detail,
    };
  }
}

function describeHttpError(e: {
  kind: HttpErrorKind;
  method: string;
  url: string;
  status?: number;
  bodyExcerpt?: string;
  attempts: number;
  hint?: string;
  detail?: string;
}): string {
  const what =
    e.kind === "status"
      ? `returned HTTP ${e.status}`
      : e.kind === "timeout"
        ? "timed out"
        : e.kind === "network"
          ? "failed (network error)"
          : e.kind === "token"
            ? "was not sent: no bearer token could be obtained"
            : `returned HTTP ${e.status} with a body that is not valid JSON`;
  const parts = [`${e.hint ? `${e.hint}. ` : ""}${e.method} ${e.url} ${what}`];
  if (e.attempts > 1) {
    parts.push(` after ${e.attempts} attempts`);
  }
  if (e.detail) {
    parts.push(` (${e.detail})`);
  }
  if (e.bodyExcerpt) {
    parts.push(`: ${e.bodyExcerpt}`);
  }
  return parts.join("");
}

/**
 * Removes the given secrets, and anything shaped like a credential (an `Authorization: Bearer` value, a JWT,
 * an Entra ID client secret), from text. Applied to every text that may reach an error, a log, a snapshot or
 * the output of `npm run verify`: servers sometimes echo request headers in error bodies. Each secret is also
 * removed in its JSON-escaped and URL-encoded forms, since error messages may quote request bodies. This is
 * the project's only redaction routine (lib/verify.ts's `Redactor` delegates to it), so that a value hidden
 * in one place is hidden everywhere.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  const forms: string[] = [];
  for (const secret of secrets) {
    if (secret.length > 0) {
      forms.push(secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret));
    }
  }
  // Longest first, so that a secret containing another is removed whole.
  forms.sort((a, b) => b.length - a.length);
  let result = text;
  for (const form of forms) {
    result = result.split(form).join("[REDACTED]");
  }
  return (
    result
      // A JWT (compact JWS): Entra ID access tokens always start with a base64url "{" ("eyJ").
      .replace(/eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g, "[REDACTED]")
      // Only credential-length values: prose such as "the bearer token" must stay readable.
      .replace(/(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*/gi, "$1[REDACTED]")
      // An Entra ID client secret value: 3 characters, a digit, "Q~", then 31-34 characters.
      .replace(/[A-Za-z0-9_.~-]{3}\dQ~[A-Za-z0-9_.~-]{31,34}/g, "[REDACTED]")
  );
}

/** A response body shortened for an error message: whitespace collapsed, redacted, at most ~300 chars. */
export function excerpt(text: string, secrets: readonly string[] = [], max = BODY_EXCERPT_LENGTH): string {
  const flat = redact(text, secrets).replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

export function isIdempotent(method: string): boolean {
  return (IDEMPOTENT_METHODS as readonly string[]).includes(method.toUpperCase());
}

/** Failures that may succeed when repeated: 408, 429, 5xx, timeouts and network errors. */
export function isTransientError(error: HttpError): boolean {
  if (error.kind === "timeout" || error.kind === "network") {
    return true;
  }
  if (error.kind !== "status" || error.status === undefined) {
    return false;
  }
  return error.status === 408 || error.status === 429 || error.status >= 500;
}

/**
 * Milliseconds to wait according to a `Retry-After` header, in either of its forms: delta-seconds (`120`)
 * or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`). A date in the past means "now" (0). Returns undefined
 * when the header is absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) {
    return undefined;
  }
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    return Number(trimmed) * 1000;
  }
  // Date.parse also accepts loose forms such as "5"; an HTTP date always names a weekday or month.
  if (!/[a-z]/i.test(trimmed)) {
    return undefined;
  }
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * Exponential backoff with "equal jitter": the nominal delay for this retry (base x 2^(retry-1), capped at
 * max) is halved and the other half is random, so concurrent clients spread out but never retry at once.
 */
export function backoffDelay(
  retry: number,
  options: { readonly baseMs: number; readonly maxMs: number; readonly random: () => number },
): number {
  const nominal = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(nominal / 2 + options.random() * (nominal / 2));
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

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorCodeOf(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object") {
      const record = parsed as Record<string, unknown>;
      for (const key of ["error", "code"]) {
        if (typeof record[key] === "string") {
          return record[key] as string;
        }
      }
    }
  } catch {
    // Not JSON: the excerpt still carries the body.
  }
  return undefined;
}

/** Describes a fetch rejection: undici wraps the socket error (ECONNRESET, ECONNREFUSED, ...) as `cause`. */
function describeNetworkError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(typeof code === "string" ? `${current.message} [${code}]` : current.message);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.length > 0 ? parts.join(": ") : String(error);
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
}

/**
 * A JSON HTTP client bound to one base URL and one token source. Stateless apart from its options, so it is
 * cheap to create per operation.
 */
export class HttpClient {
  readonly baseUrl: string;
  private readonly options: HttpClientOptions;

  constructor(options: HttpClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.baseUrl);
    } catch {
      throw new Error(`invalid base URL ${JSON.stringify(options.baseUrl)}: use an absolute http(s) URL`);
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
      throw new Error(`invalid base URL ${JSON.stringify(options.baseUrl)}: use an absolute http(s) URL`);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.options = options;
  }

  /** The absolute URL for a path (string: already encoded; array: segments to encode) and query. */
  url(path: string | readonly string[], query?: RequestOptions["query"]): string {
    const encoded = typeof path === "string" ? path : encodePath(path);
    if (encoded !== "" && !encoded.startsWith("/")) {
      throw new Error(`request path must start with "/": ${JSON.stringify(encoded)}`);
    }
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) {
        params.set(key, String(value));
      }
    }
    const search = params.toString();
    return `${this.baseUrl}${encoded}${search ? `?${search}` : ""}`;
  }

  /**
   * Sends one JSON request, retrying transient failures, and returns the parsed body of a response whose
   * status is in `expect`. Throws {@link HttpError} otherwise.
   */
  async request<T>(
    method: HttpMethod,
    path: string | readonly string[],
    options: RequestOptions = {},
  ): Promise<HttpResponse<T>> {
    const o = this.options;
    const doFetch = o.fetch ?? fetch;
    const now = o.now ?? Date.now;
    const sleep = o.sleep ?? defaultSleep;
    const random = o.random ?? Math.random;
    const timeoutMs = options.timeoutMs ?? o.timeoutMs ?? HTTP_DEFAULTS.timeoutMs;
    const deadlineMs = options.deadlineMs ?? o.deadlineMs ?? HTTP_DEFAULTS.deadlineMs;
    const maxRetries = o.maxRetries ?? HTTP_DEFAULTS.maxRetries;
    const backoff = {
      baseMs: o.backoffBaseMs ?? HTTP_DEFAULTS.backoffBaseMs,
      maxMs: o.backoffMaxMs ?? HTTP_DEFAULTS.backoffMaxMs,
      random,
    };
    const expect = options.expect ?? [200];
    const retryOn =
      options.retryOn ?? ((error: HttpError) => isIdempotent(method) && isTransientError(error));
    const url = this.url(path, options.query);
    const deadline = now() + deadlineMs;

    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - now();
      const outcome = await this.attempt<T>(
        doFetch,
        method,
        url,
        options,
        expect,
        Math.min(timeoutMs, remaining),
        now,
      );
      if (!(outcome instanceof HttpError)) {
        return outcome;
      }
      const error = outcome;
      if (!retryOn(error)) {
        throw error.withAttempts(attempt);
      }
      if (attempt > maxRetries) {
        throw error.withAttempts(attempt, `giving up after ${maxRetries} retries`);
      }
      const delay = error.retryAfterMs ?? backoffDelay(attempt, backoff);
      const left = deadline - now();
      if (delay >= left) {
        const why =
          error.retryAfterMs !== undefined
            ? `the server asked to retry after ${Math.ceil(delay / 1000)} s, beyond the ${deadlineMs} ms deadline`
            : `the ${deadlineMs} ms deadline would pass before the next attempt`;
        throw error.withAttempts(attempt, why);
      }
      o.onRetry?.({ method, url, attempt, delayMs: delay, error });
      await sleep(delay);
    }
  }

  /** One attempt: the response on success, or the HttpError describing the failure. */
  private async attempt<T>(
    doFetch: typeof fetch,
    method: HttpMethod,
    url: string,
    options: RequestOptions,
    expect: readonly number[],
    timeoutMs: number,
    now: () => number,
  ): Promise<HttpResponse<T> | HttpError> {
    let token: string;
    try {
      token = await this.options.getToken();
    } catch (error) {
      return new HttpError({
        kind: "token",
        method,
        url,
        detail: error instanceof Error ? error.message : String(error),
      });
    }
    const secrets = [token];
    if (timeoutMs <= 0) {
      return new HttpError({ kind: "timeout", method, url, secrets, detail: "the deadline has passed" });
    }
    const headers: Record<string, string> = {
      accept: "application/json",
      ...this.options.headers,
      ...options.headers,
      authorization: `Bearer ${token}`,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    }
    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await doFetch(url, { method, headers, body, signal });
      // The same signal bounds reading the body, so a server that stalls mid-response also times out.
      text = await response.text();
    } catch (error) {
      if (isAbortError(error) || signal.aborted) {
        return new HttpError({
          kind: "timeout",
          method,
          url,
          secrets,
          detail: `no response within ${timeoutMs} ms`,
        });
      }
      return new HttpError({ kind: "network", method, url, secrets, detail: describeNetworkError(error) });
    }
    if (!expect.includes(response.status)) {
      return new HttpError({
        kind: "status",
        method,
        url,
        secrets,
        status: response.status,
        bodyExcerpt: text ? excerpt(text, secrets) : undefined,
        code: text ? errorCodeOf(text) : undefined,
        retryAfterMs: parseRetryAfter(response.headers.get("retry-after"), now()),
      });
    }
    if (text.trim() === "") {
      return { status: response.status, body: undefined as T, headers: response.headers };
    }
    try {
      return { status: response.status, body: JSON.parse(text) as T, headers: response.headers };
    } catch {
      return new HttpError({
        kind: "invalid-response",
        method,
        url,
        secrets,
        status: response.status,
        bodyExcerpt: excerpt(text, secrets),
      });
    }
  }
}
