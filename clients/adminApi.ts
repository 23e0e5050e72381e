/**
 * The one adapter for the Smartspace admin API (contract: ../shared/smartspace-api.md). Smartspace has not
 * published this API; when it does, its paths and payloads change here and nowhere else.
 *
 * Every answer is validated against the contract before anything is concluded from it: a grant for another
 * principal, a principal type outside the contract or an empty body is an error, never a success.
 *
 * The admin token comes from `SMARTSPACE_ADMIN_TOKEN` when set (read at each request), otherwise from
 * `@azure/identity`'s DefaultAzureCredential for the client's scope, cached and refreshed by the SDK's
 * bearer-token policy. The WorkspaceAccess provider also reaches this module through lib/adminApi.ts, for
 * grants stored by earlier versions: keep `new AdminApiClient({ adminApiUrl, tokenScope })` and its
 * `getWorkspace`, `getAccess`, `grantAccess` and `revokeAccess` compatible.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { z } from "zod";
import { GUID } from "../rules/ids";
import { normalizeEndpoint } from "../rules/urls";
import { deployerCredential } from "./credentials";
import { HTTP_DEFAULTS, HttpClient, HttpError, type HttpClientOptions, scaledTimings } from "./http";

export type PrincipalType = "ServicePrincipal" | "User" | "Group";
export const PRINCIPAL_TYPES: readonly PrincipalType[] = ["ServicePrincipal", "User", "Group"];

const guid = z.string().regex(GUID, { error: "expected a GUID" });

const workspaceSchema = z.looseObject({ id: guid, name: z.string() });
const accessEntrySchema = z.looseObject({
  principalId: guid,
  principalType: z.enum(["ServicePrincipal", "User", "Group"]),
  displayName: z.string(),
});
const accessListSchema = z.looseObject({ data: z.array(accessEntrySchema) });

export type Workspace = Readonly<z.output<typeof workspaceSchema>>;
export type AccessEntry = Readonly<z.output<typeof accessEntrySchema>>;

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
export const ADMIN_TOKEN_ENV = "SMARTSPACE_ADMIN_TOKEN";
/**
 * Multiplies every timeout, deadline and backoff the admin client uses by default (not a server's
 * Retry-After). For tests and emulator demos, e.g. 0.01 turns the two-minute replication wait into 1.2 s.
 */
export const ADMIN_TIME_SCALE_ENV = "SMARTSPACE_ADMIN_TIME_SCALE";

export const ADMIN_API_DEFAULTS = {
  ...HTTP_DEFAULTS,
  /** How long a grant keeps retrying `409 PrincipalNotFound` (Entra ID replication). */
  principalNotFoundWindowMs: 120_000,
  principalNotFoundBackoffBaseMs: 2_000,
  principalNotFoundBackoffMaxMs: 15_000,
} as const;

export type AdminApiTimings = { -readonly [K in keyof typeof ADMIN_API_DEFAULTS]: number };

/** Default timings, scaled by `SMARTSPACE_ADMIN_TIME_SCALE` when it is set. */
export function adminApiTimings(
  env: Readonly<Record<string, string | undefined>> = process.env,
): AdminApiTimings {
  return scaledTimings(ADMIN_API_DEFAULTS, ADMIN_TIME_SCALE_ENV, env, ["maxRetries", "maxResponseBytes"]);
}

/** `SMARTSPACE_ADMIN_TOKEN` when it is set at the time of the request, otherwise the deployer's credential. */
export class AdminTokenCredential implements TokenCredential {
  constructor(
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
    private readonly fallback: TokenCredential = deployerCredential(),
  ) {}

  async getToken(scopes: string | string[]): Promise<AccessToken> {
    const fromEnv = this.env[ADMIN_TOKEN_ENV]?.trim();
    if (fromEnv) {
      return { token: fromEnv, expiresOnTimestamp: expiryOf(fromEnv) };
    }
    const scope = Array.isArray(scopes) ? scopes.join(" ") : scopes;
    let token: AccessToken | null;
    try {
      token = await this.fallback.getToken(scopes);
    } catch (error) {
      throw new Error(
        `could not get a token for ${scope} with DefaultAzureCredential (sign in with az login, or run with a ` +
          `managed identity or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or set ${ADMIN_TOKEN_ENV}): ` +
          (error instanceof Error ? error.message : String(error)),
      );
    }
    if (!token) {
      throw new Error(
        `DefaultAzureCredential returned no token for ${scope}; set ${ADMIN_TOKEN_ENV} instead`,
      );
    }
    return token;
  }
}

/** A JWT's `exp`, or five minutes from now for a token that does not say (the SDK refreshes before it). */
function expiryOf(token: string): number {
  try {
    const exp = (
      JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: unknown }
    ).exp;
    if (typeof exp === "number" && Number.isFinite(exp)) {
      return exp * 1000;
    }
  } catch {
    // Not a JWT.
  }
  return Date.now() + 5 * 60_000;
}

export interface AdminApiClientOptions extends Partial<AdminApiTimings> {
  /** Base URL of the admin API (stack config `smartspace.adminApiUrl`). */
  readonly adminApiUrl: string;
  /** Scope of the admin token, `api://<smartspace app client id>/.default` unless configured otherwise. */
  readonly tokenScope: string;
  /** Default: {@link AdminTokenCredential}. */
  readonly credential?: TokenCredential;
  readonly agent?: HttpClientOptions["agent"];
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** Typed client for the admin-API contract. */
export class AdminApiClient {
  readonly adminApiUrl: string;
  readonly tokenScope: string;
  private readonly http: HttpClient;
  private readonly timings: AdminApiTimings;
  private readonly options: AdminApiClientOptions;

  constructor(options: AdminApiClientOptions) {
    this.options = options;
    const defaults = adminApiTimings();
    this.timings = Object.fromEntries(
      Object.entries(defaults).map(([name, value]) => [
        name,
        options[name as keyof AdminApiTimings] ?? value,
      ]),
    ) as AdminApiTimings;
    this.adminApiUrl = normalizeEndpoint(options.adminApiUrl);
    this.tokenScope = options.tokenScope;
    this.http = new HttpClient({
      ...this.timings,
      baseUrl: this.adminApiUrl,
      credential: options.credential ?? new AdminTokenCredential(),
      scope: options.tokenScope,
      agent: options.agent,
      now: options.now,
    });
  }

  /**
   * Whether a failed grant may nonetheless have been applied: the request may have reached the server and
   * its answer was lost or could not be read. A refused one (4xx, a redirect, no token) was not.
   */
  static mayHaveApplied(error: unknown): boolean {
    if (!(error instanceof HttpError)) {
      return true;
    }
    switch (error.kind) {
      case "token":
      case "redirect":
        return false;
      case "status":
        return error.status === undefined || error.status >= 500;
      default:
        return true;
    }
  }

  /** The workspace; fails with "workspace <id> not found at <url>" when it does not exist. */
  async getWorkspace(workspaceId: string): Promise<Workspace> {
    const path = ["workspaces", workspaceId];
    try {
      const response = await this.http.request("GET", path);
      const workspace = this.http.parse(response, workspaceSchema, "a workspace ({id, name})");
      if (workspace.id.toLowerCase() !== workspaceId.toLowerCase()) {
        throw this.mismatch(response, `a workspace with id ${workspaceId}, got ${workspace.id}`);
      }
      return workspace;
    } catch (error) {
      throw this.explain(error, workspaceId);
    }
  }

  async listAccess(workspaceId: string): Promise<AccessEntry[]> {
    try {
      const response = await this.http.request("GET", ["workspaces", workspaceId, "access"]);
      return this.http.parse(response, accessListSchema, "an access list ({data: [AccessEntry]})").data;
    } catch (error) {
      throw this.explain(error, workspaceId);
    }
  }

  /** The grant, or undefined when the principal has no access (404). */
  async getAccess(workspaceId: string, principalId: string): Promise<AccessEntry | undefined> {
    try {
      const response = await this.http.request("GET", ["workspaces", workspaceId, "access", principalId]);
      return this.entryFor(response, principalId);
    } catch (error) {
      if (error instanceof HttpError && error.kind === "status" && error.status === 404) {
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
    const t = this.timings;
    const now = this.options.now ?? Date.now;
    const sleep =
      this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const random = this.options.random ?? Math.random;
    const started = now();
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.http.request("PUT", ["workspaces", workspaceId, "access", principalId], {
          body: { principalType: grant.principalType, displayName: grant.displayName },
          expect: [200, 201],
        });
        const entry = this.entryFor(response, principalId);
        if (entry.principalType !== grant.principalType) {
          throw this.mismatch(response, `a grant as ${grant.principalType}, got ${entry.principalType}`);
        }
        return { entry, created: response.status === 201 };
      } catch (error) {
        if (!(error instanceof HttpError && error.status === 409 && error.code === "PrincipalNotFound")) {
          throw this.explain(error, workspaceId);
        }
        const nominal = Math.min(
          t.principalNotFoundBackoffMaxMs,
          t.principalNotFoundBackoffBaseMs * 2 ** (attempt - 1),
        );
        const delay = Math.round(nominal / 2 + random() * (nominal / 2));
        const elapsed = now() - started;
        if (elapsed + delay > t.principalNotFoundWindowMs) {
          throw error.withHint(
            `Smartspace cannot see principal ${principalId} yet (409 PrincipalNotFound, still not visible after ` +
              `${Math.round(elapsed / 1000)} s and ${attempt} attempts). A service principal created moments ago ` +
              `takes seconds to minutes to replicate through the Entra ID directory before other services can ` +
              `find it; run the deployment again in a few minutes. If this persists, check that ${principalId} ` +
              `is the service principal's object ID (not its client ID or the application's object ID) in the ` +
              `tenant Smartspace is installed in`,
          );
        }
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
      if (error instanceof HttpError && error.kind === "status" && error.status === 404) {
        return false;
      }
      throw this.explain(error);
    }
  }

  /** The AccessEntry a response carries, which must be the asked principal's. */
  private entryFor(response: Parameters<HttpClient["parse"]>[0], principalId: string): AccessEntry {
    const entry = this.http.parse(
      response,
      accessEntrySchema,
      "an AccessEntry ({principalId, principalType, displayName})",
    );
    if (entry.principalId.toLowerCase() !== principalId.toLowerCase()) {
      throw this.mismatch(
        response,
        `the grant of principal ${principalId}, got one for ${entry.principalId}`,
      );
    }
    return entry;
  }

  private mismatch(response: Parameters<HttpClient["parse"]>[0], detail: string): HttpError {
    return new HttpError({
      kind: "invalid-response",
      method: response.method,
      url: response.url,
      status: response.status,
      body: response.text,
      detail: `expected ${detail}`,
      secrets: this.http.secrets,
    });
  }

  /** Adds the likely cause to the failures a user can act on. */
  private explain(error: unknown, workspaceId?: string): unknown {
    if (!(error instanceof HttpError)) {
      return error;
    }
    if (error.kind === "token") {
      return error.withHint(
        `Could not authenticate to the Smartspace admin API (token scope ${this.tokenScope})`,
      );
    }
    if (error.kind === "redirect") {
      return error.withHint(
        `The Smartspace admin API at ${this.adminApiUrl} answered with a redirect. Redirects are never followed ` +
          `(the token must not reach another address): set smartspace-integration:smartspace.adminApiUrl to ` +
          `the address the API really serves`,
      );
    }
    if (error.kind !== "status") {
      return error;
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
      case 404:
        return workspaceId === undefined
          ? error
          : error.withHint(`workspace ${workspaceId} not found at ${this.adminApiUrl}`);
      default:
        return error;
    }
  }
}
