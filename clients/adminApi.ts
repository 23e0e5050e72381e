/**
 * The one adapter for the Smartspace admin API (contract: ../shared/smartspace-api.md). Smartspace has not
 * published this API; when it does, its paths and payloads change here and nowhere else.
 *
 * Also resolves the admin bearer token: `SMARTSPACE_ADMIN_TOKEN` when set, otherwise `@azure/identity`'s
 * DefaultAzureCredential for the Smartspace app's `/.default` scope, cached per scope until shortly before
 * it expires.
 *
 * The WorkspaceAccess dynamic provider loads this file (and ./http) from the project directory at run time,
 * in Pulumi's provider host (see components/workspaceAccess.ts); it is not serialized into state. Hence:
 * - it is part of the provider's contract: grants whose state an older version wrote call this file's
 *   current code, so it stays at lib/adminApi.ts, and `new AdminApiClient({ adminApiUrl, tokenScope })`
 *   with `getWorkspace`, `getAccess`, `grantAccess` and `revokeAccess` stay compatible. Any edit here
 *   changes the provider version, so `pulumi preview` shows it as an update of every grant;
 * - configuration is read from the environment at call time (the provider captures none), and the
 *   process-wide token cache hangs off `globalThis`, shared by every copy of this module in a process (tests
 *   load it through ts-node and, via the provider, through tsx);
 * - `@azure/identity` is required when first needed: it is slow to load, and unneeded when
 *   SMARTSPACE_ADMIN_TOKEN is set.
 */
import { HTTP_DEFAULTS, HttpClient, HttpError, backoffDelay } from "./http";
import type { HttpClientOptions, RetryEvent } from "./http";

export {
  PRINCIPAL_TYPES,
  ADMIN_TOKEN_ENV,
  ADMIN_TIME_SCALE_ENV,
  ADMIN_API_DEFAULTS,
  TOKEN_REFRESH_MARGIN_MS,
};

export type PrincipalType = "ServicePrincipal" | "User" | "Group";
const PRINCIPAL_TYPES: readonly PrincipalType[] = ["ServicePrincipal", "User", "Group"];

export interface Workspace {
  readonly id: string;
  readonly name: string;
}

export interface AccessEntry {
  /** Entra object ID of the service principal (or user, group). */
  readonly principalId: string;
  readonly principalType: PrincipalType;
  readonly displayName: string;
}

export interface GrantRequest {
  readonly principalType: PrincipalType;
  readonly displayName: string;
}

export interface GrantResult {
  readonly entry: AccessEntry;
  /** True when the grant did not exist before (201), false when an existing one was updated (200). */
  readonly created: boolean;
}

/** A pre-acquired bearer token for the admin API (pipelines that already hold one; tests). */
const ADMIN_TOKEN_ENV = "SMARTSPACE_ADMIN_TOKEN";
/**
 * Multiplies every timeout, deadline and backoff the admin client uses by default (not a server's
 * Retry-After). For tests and emulator demos, e.g. 0.01 turns the two-minute replication wait into 1.2 s.
 */
const ADMIN_TIME_SCALE_ENV = "SMARTSPACE_ADMIN_TIME_SCALE";

const ADMIN_API_DEFAULTS = {
  ...HTTP_DEFAULTS,
  /** How long a grant keeps retrying `409 PrincipalNotFound` (Entra ID replication). */
  principalNotFoundWindowMs: 120_000,
  principalNotFoundBackoffBaseMs: 2_000,
  principalNotFoundBackoffMaxMs: 15_000,
} as const;

/** A cached token is replaced this long before it expires, so no call starts with a token about to lapse. */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

export type AdminApiTimings = {
  -readonly [K in keyof typeof ADMIN_API_DEFAULTS]: number;
};

/** The app-only scope for the Smartspace APIs. */
export function adminApiScope(appClientId: string): string {
  return `api://${appClientId}/.default`;
}

/** Default timings, scaled by `SMARTSPACE_ADMIN_TIME_SCALE` when it is set. */
export function adminApiTimings(
  env: Readonly<Record<string, string | undefined>> = process.env,
): AdminApiTimings {
  const raw = env[ADMIN_TIME_SCALE_ENV];
  let scale = 1;
  if (raw !== undefined && raw.trim() !== "") {
    scale = Number(raw);
    if (!Number.isFinite(scale) || scale <= 0 || scale > 100) {
      throw new Error(
        `${ADMIN_TIME_SCALE_ENV} must be a number greater than 0 and at most 100, got "${raw}"`,
      );
    }
  }
  const timings = { ...ADMIN_API_DEFAULTS } as AdminApiTimings;
  for (const name of Object.keys(timings) as (keyof AdminApiTimings)[]) {
    if (name !== "maxRetries") {
      timings[name] = Math.max(1, Math.round(timings[name] * scale));
    }
  }
  return timings;
}

/** The subset of `@azure/identity`'s TokenCredential this module uses. */
export interface TokenCredentialLike {
  getToken(scope: string): Promise<{ readonly token: string; readonly expiresOnTimestamp: number } | null>;
}

export interface TokenResolverOptions {
  /** Default: `new DefaultAzureCredential()`, created on first use. */
  readonly credential?: TokenCredentialLike;
  readonly now?: () => number;
  /** Default {@link TOKEN_REFRESH_MARGIN_MS}. */
  readonly refreshMarginMs?: number;
  /** Where `SMARTSPACE_ADMIN_TOKEN` is read, at each call. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Returns a function that yields a bearer token for a scope: `SMARTSPACE_ADMIN_TOKEN` if set, otherwise a
 * credential token, one per scope, reused until `refreshMarginMs` before expiry. Concurrent callers share
 * one acquisition (a stack with hundreds of grants asks Entra ID once).
 */
export function createTokenResolver(options: TokenResolverOptions = {}): (scope: string) => Promise<string> {
  const now = options.now ?? Date.now;
  const margin = options.refreshMarginMs ?? TOKEN_REFRESH_MARGIN_MS;
  const cache: Record<string, { promise: Promise<string>; expiresAt: number } | undefined> = {};
  let credential = options.credential;

  return async (scope: string) => {
    const fromEnv = (options.env ?? process.env)[ADMIN_TOKEN_ENV]?.trim();
    if (fromEnv) {
      return fromEnv;
    }
    const cached = cache[scope];
    if (cached && (cached.expiresAt === Infinity || now() < cached.expiresAt - margin)) {
      return cached.promise;
    }
    if (!credential) {
      // Loaded on first use: @azure/identity takes a noticeable time to load and is not needed when a
      // token comes from the environment. The provider host resolves it from the project's node_modules.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const identity = require("@azure/identity") as typeof import("@azure/identity");
      credential = new identity.DefaultAzureCredential();
    }
    const source = credential;
    const entry: { promise: Promise<string>; expiresAt: number } = {
      promise: Promise.resolve(""),
      expiresAt: Infinity,
    };
    entry.promise = (async () => {
      let accessToken: Awaited<ReturnType<TokenCredentialLike["getToken"]>>;
      try {
        accessToken = await source.getToken(scope);
      } catch (error) {
        throw new Error(
          `could not get a token for ${scope} with DefaultAzureCredential (sign in with az login, or run ` +
            `with a managed identity or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or set ` +
            `${ADMIN_TOKEN_ENV}): ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      if (!accessToken) {
        throw new Error(
          `DefaultAzureCredential returned no token for ${scope}; set ${ADMIN_TOKEN_ENV} instead`,
        );
      }
      entry.expiresAt = accessToken.expiresOnTimestamp;
      return accessToken.token;
    })();
    cache[scope] = entry;
    entry.promise.catch(() => {
      if (cache[scope] === entry) {
        cache[scope] = undefined;
      }
    });
    return entry.promise;
  };
}

/** Property of `globalThis` holding this process's resolver: outside any module, so never serialized. */
const GLOBAL_RESOLVER_KEY = "__smartspaceAdminTokenResolver";

/** The process-wide token resolver (see {@link createTokenResolver}). */
export function resolveAdminToken(scope: string): Promise<string> {
  const holder = globalThis as unknown as Record<string, ((scope: string) => Promise<string>) | undefined>;
  let resolver = holder[GLOBAL_RESOLVER_KEY];
  if (!resolver) {
    resolver = createTokenResolver();
    holder[GLOBAL_RESOLVER_KEY] = resolver;
  }
  return resolver(scope);
}

export interface AdminApiClientOptions extends Partial<AdminApiTimings> {
  /** Base URL of the admin API (stack config `smartspace.adminApiUrl`). */
  readonly adminApiUrl: string;
  /** Scope of the admin token, `api://<smartspace app client id>/.default` unless configured otherwise. */
  readonly tokenScope: string;
  /** Default: {@link resolveAdminToken} for `tokenScope`. */
  readonly getToken?: () => Promise<string>;
  readonly fetch?: typeof fetch;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly onRetry?: (event: RetryEvent) => void;
}

/** Typed client for the admin-API contract. Holds no token; cheap to create per operation. */
export class AdminApiClient {
  readonly adminApiUrl: string;
  readonly tokenScope: string;
  private readonly http: HttpClient;
  private readonly options: AdminApiClientOptions & AdminApiTimings;

  constructor(options: AdminApiClientOptions) {
    const timings = adminApiTimings();
    this.options = { ...timings, ...withoutUndefined(options) } as AdminApiClientOptions & AdminApiTimings;
    this.adminApiUrl = options.adminApiUrl.replace(/\/+$/, "");
    this.tokenScope = options.tokenScope;
    const o = this.options;
    const httpOptions: HttpClientOptions = {
      baseUrl: this.adminApiUrl,
      getToken: o.getToken ?? (() => resolveAdminToken(o.tokenScope)),
      fetch: o.fetch,
      timeoutMs: o.timeoutMs,
      deadlineMs: o.deadlineMs,
      maxRetries: o.maxRetries,
      backoffBaseMs: o.backoffBaseMs,
      backoffMaxMs: o.backoffMaxMs,
      random: o.random,
      sleep: o.sleep,
      now: o.now,
      onRetry: o.onRetry,
    };
    this.http = new HttpClient(httpOptions);
  }

  /** The workspace; fails with "workspace <id> not found at <url>" when it does not exist. */
  async getWorkspace(workspaceId: string): Promise<Workspace> {
    try {
      const response = await this.http.request<Workspace>("GET", ["workspaces", workspaceId]);
      return response.body;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) {
        throw error.withHint(`workspace ${workspaceId} not found at ${this.adminApiUrl}`);
      }
      throw this.explain(error);
    }
  }

  async listAccess(workspaceId: string): Promise<AccessEntry[]> {
    try {
      const response = await this.http.request<{ data?: AccessEntry[] }>("GET", [
        "workspaces",
        workspaceId,
        "access",
      ]);
      return response.body?.data ?? [];
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) {
        throw error.withHint(`workspace ${workspaceId} not found at ${this.adminApiUrl}`);
      }
      throw this.explain(error);
    }
  }

  /** The grant, or undefined when the principal has no access (404). */
  async getAccess(workspaceId: string, principalId: string): Promise<AccessEntry | undefined> {
    try {
      const response = await this.http.request<AccessEntry>("GET", [
        "workspaces",
        workspaceId,
        "access",
        principalId,
      ]);
      return response.body;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) {
        return undefined;
      }
      throw this.explain(error);
    }
  }

  /**
   * Grants access with the idempotent PUT. A `409 PrincipalNotFound` (a service principal created moments
   * ago, not yet replicated to Smartspace) is retried with backoff for `principalNotFoundWindowMs`.
   */
  async grantAccess(workspaceId: string, principalId: string, grant: GrantRequest): Promise<GrantResult> {
    const o = this.options;
    const now = o.now ?? Date.now;
    const sleep = o.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const started = now();
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.http.request<AccessEntry>(
          "PUT",
          ["workspaces", workspaceId, "access", principalId],
          {
            body: { principalType: grant.principalType, displayName: grant.displayName },
            expect: [200, 201],
          },
        );
        const entry: AccessEntry = {
          principalId: response.body?.principalId ?? principalId,
          principalType: response.body?.principalType ?? grant.principalType,
          displayName: response.body?.displayName ?? grant.displayName,
        };
        return { entry, created: response.status === 201 };
      } catch (error) {
        if (!(error instanceof HttpError && error.status === 409 && error.code === "PrincipalNotFound")) {
          if (error instanceof HttpError && error.status === 404) {
            throw error.withHint(`workspace ${workspaceId} not found at ${this.adminApiUrl}`);
          }
          throw this.explain(error);
        }
        const delay = backoffDelay(attempt, {
          baseMs: o.principalNotFoundBackoffBaseMs,
          maxMs: o.principalNotFoundBackoffMaxMs,
          random: o.random ?? Math.random,
        });
        const elapsed = now() - started;
        if (elapsed + delay > o.principalNotFoundWindowMs) {
          throw error
            .withAttempts(attempt, `still not visible after ${Math.round(elapsed / 1000)} s of retrying`)
            .withHint(
              `Smartspace cannot see principal ${principalId} yet (409 PrincipalNotFound). A service principal ` +
                `created moments ago takes seconds to minutes to replicate through the Entra ID directory ` +
                `before other services can find it; run the deployment again in a few minutes. If this ` +
                `persists, check that ${principalId} is the service principal's object ID (not its client ID ` +
                `or the application's object ID) in the tenant Smartspace is installed in`,
            );
        }
        o.onRetry?.({
          method: "PUT",
          url: this.http.url(["workspaces", workspaceId, "access", principalId]),
          attempt,
          delayMs: delay,
          error,
        });
        await sleep(delay);
      }
    }
  }

  /** Revokes access; returns whether a grant existed (404 means it was already absent). */
  async revokeAccess(workspaceId: string, principalId: string): Promise<boolean> {
    try {
      await this.http.request("DELETE", ["workspaces", workspaceId, "access", principalId], {
        expect: [200, 204],
      });
      return true;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) {
        return false;
      }
      throw this.explain(error);
    }
  }

  /** Adds the likely cause to the failures a user can act on. */
  private explain(error: unknown): unknown {
    if (!(error instanceof HttpError)) {
      return error;
    }
    if (error.kind === "token") {
      return error.withHint(
        `Could not authenticate to the Smartspace admin API (token scope ${this.tokenScope})`,
      );
    }
    switch (error.status) {
      case 400:
        return error.withHint("The Smartspace admin API rejected the request as malformed (400 Bad Request)");
      case 401:
        return error.withHint(
          `The Smartspace admin API rejected the bearer token (401 Unauthorized): it is missing or expired, ` +
            `or was issued for another audience. Set ${ADMIN_TOKEN_ENV} to a fresh token, or unset it and sign ` +
            `in (az login) so DefaultAzureCredential gets one for ${this.tokenScope}`,
        );
      case 403:
        return error.withHint(
          `The deploying identity lacks Smartspace admin rights (403 Forbidden): its token for ` +
            `${this.tokenScope} was accepted, but only a Smartspace administrator may change workspace access. ` +
            `Deploy as a Smartspace admin, or ask one to give this identity admin rights`,
        );
      default:
        return error;
    }
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
