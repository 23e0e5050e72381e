/**
 * A local stand-in for the part of Microsoft Graph that the credential inventory reads: applications and
 * service principals with their password and key credentials, owners and federated identity credentials;
 * and the tenant's default app management policy (`GET /v1.0/policies/defaultAppManagementPolicy`), which
 * the program checks credential lifetimes against.
 * Served by the emulator core of ./smartspaceEmulator.ts (HTTPS on 127.0.0.1, router, fault injection,
 * recorded requests), under /v1.0 like Graph; the core's Smartspace admin routes are present but unused.
 *
 * Modelled on Graph's documented answers: `$select` narrows the properties returned (plus `id`); collections
 * are `{ "@odata.context", value, "@odata.nextLink"? }` with absolute next links; a missing object is 404
 * `Request_ResourceNotFound`; a token without the permission gets 403 `Authorization_RequestDenied`; a bad
 * token 401 `InvalidAuthenticationToken`. Credentials never carry their secret (`secretText: null`,
 * `key: null`), as Graph returns them.
 */
import { randomBytes } from "node:crypto";
import {
  type RouteContext,
  type RouteResult,
  SmartspaceEmulator,
  type SmartspaceEmulatorOptions,
} from "./smartspaceEmulator";

export interface GraphCredential {
  readonly keyId: string;
  readonly displayName?: string;
  readonly startDateTime?: string;
  readonly endDateTime?: string;
}

export interface GraphDirectoryObject {
  readonly id: string;
  /** `#microsoft.graph.user` or `#microsoft.graph.servicePrincipal`. */
  readonly type: string;
}

export interface GraphFederatedCredential {
  readonly id: string;
  readonly name: string;
  readonly issuer: string;
  readonly subject: string;
  readonly audiences: readonly string[];
}

export interface GraphObject {
  readonly id: string;
  readonly appId: string;
  readonly displayName: string;
  passwordCredentials: GraphCredential[];
  keyCredentials: GraphCredential[];
  owners: GraphDirectoryObject[];
  /** Applications only. */
  federatedIdentityCredentials: GraphFederatedCredential[];
}

export interface GraphEmulatorOptions extends SmartspaceEmulatorOptions {
  /** Bearer token accepted for Graph. Default: random (`emulator.graphToken`). */
  readonly graphToken?: string;
  /** Tokens that authenticate but lack Application.Read.All: 403. */
  readonly forbiddenTokens?: readonly string[];
  /** Items per page of a collection (Graph's default is 100). */
  readonly pageSize?: number;
  /**
   * The tenant's default app management policy as Graph returns it, read at each request. Default: an untouched
   * tenant's (disabled, no restrictions; microsoft-graph-docs-contrib tenantappmanagementpolicy-get.md).
   */
  readonly defaultAppManagementPolicy?: () => unknown;
  /** Whether the caller may read policies (Policy.Read.All); when not, Graph's 403. Default: yes. */
  readonly canReadPolicies?: () => boolean;
}

const UNTOUCHED_POLICY = {
  id: "00000000-0000-0000-0000-000000000000",
  displayName: "Default app management tenant policy",
  isEnabled: false,
  applicationRestrictions: { passwordCredentials: [], keyCredentials: [] },
  servicePrincipalRestrictions: { passwordCredentials: [], keyCredentials: [] },
};

type Kind = "applications" | "servicePrincipals";

export class GraphEmulator extends SmartspaceEmulator {
  readonly graphToken: string;
  readonly applications = new Map<string, GraphObject>();
  readonly servicePrincipals = new Map<string, GraphObject>();
  private readonly graphOptions: GraphEmulatorOptions;

  constructor(options: GraphEmulatorOptions = {}) {
    super(options);
    this.graphOptions = options;
    this.graphToken = options.graphToken ?? `graph-${randomBytes(18).toString("base64url")}`;
    const auth = { auth: (ctx: RouteContext) => this.authorizeGraph(ctx) };
    for (const kind of ["applications", "servicePrincipals"] as const) {
      this.router
        .add("GET", `/v1.0/${kind}/:id`, (ctx) => this.getObject(kind, ctx), auth)
        .add(
          "GET",
          `/v1.0/${kind}/:id/owners`,
          (ctx) => this.collection(kind, ctx, (o) => o.owners.map(owner)),
          auth,
        );
    }
    this.router.add("GET", "/v1.0/policies/defaultAppManagementPolicy", () => this.defaultPolicy(), auth);
    this.router.add(
      "GET",
      "/v1.0/applications/:id/federatedIdentityCredentials",
      (ctx) =>
        this.collection("applications", ctx, (o) => o.federatedIdentityCredentials.map((f) => ({ ...f }))),
      auth,
    );
  }

  /** Adds (or replaces) an application and returns it for further changes. */
  addApplication(app: Partial<GraphObject> & Pick<GraphObject, "id" | "appId">): GraphObject {
    const stored = complete(app);
    this.applications.set(app.id.toLowerCase(), stored);
    return stored;
  }

  addServicePrincipal(sp: Partial<GraphObject> & Pick<GraphObject, "id" | "appId">): GraphObject {
    const stored = complete(sp);
    this.servicePrincipals.set(sp.id.toLowerCase(), stored);
    return stored;
  }

  private authorizeGraph(ctx: RouteContext): RouteResult | undefined {
    if (
      ctx.token === undefined ||
      (ctx.token !== this.graphToken && !this.graphOptions.forbiddenTokens?.includes(ctx.token))
    ) {
      return graphError(401, "InvalidAuthenticationToken", "Access token is empty or invalid.");
    }
    if (ctx.token !== this.graphToken) {
      return graphError(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
      );
    }
    return undefined;
  }

  private defaultPolicy(): RouteResult {
    if (this.graphOptions.canReadPolicies?.() === false) {
      return graphError(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
      );
    }
    return {
      status: 200,
      body: {
        "@odata.context": `${this.url}/v1.0/$metadata#policies/defaultAppManagementPolicy/$entity`,
        ...((this.graphOptions.defaultAppManagementPolicy?.() ?? UNTOUCHED_POLICY) as object),
      },
    };
  }

  private find(kind: Kind, id: string): GraphObject | undefined {
    return (kind === "applications" ? this.applications : this.servicePrincipals).get(id.toLowerCase());
  }

  private getObject(kind: Kind, ctx: RouteContext): RouteResult {
    const found = this.find(kind, ctx.params.id);
    if (!found) return notFound(ctx.params.id);
    const full: Record<string, unknown> = {
      id: found.id,
      appId: found.appId,
      displayName: found.displayName,
      passwordCredentials: found.passwordCredentials.map((c) => ({
        ...credentialShape(c),
        hint: "Q~x",
        secretText: null,
      })),
      keyCredentials: found.keyCredentials.map((c) => ({
        ...credentialShape(c),
        type: "AsymmetricX509Cert",
        usage: "Verify",
        key: null,
      })),
    };
    const select = ctx.query.get("$select");
    const body = select
      ? Object.fromEntries(
          Object.entries(full).filter(([key]) => key === "id" || select.split(",").includes(key)),
        )
      : full;
    return { status: 200, body: { "@odata.context": `${this.url}/v1.0/$metadata#${kind}/$entity`, ...body } };
  }

  /** A paged collection: `$skiptoken` is the offset this emulator hands out in its next links. */
  private collection(kind: Kind, ctx: RouteContext, items: (object: GraphObject) => unknown[]): RouteResult {
    const found = this.find(kind, ctx.params.id);
    if (!found) return notFound(ctx.params.id);
    const all = items(found);
    const size = this.graphOptions.pageSize ?? 100;
    const offset = Number(ctx.query.get("$skiptoken") ?? "0");
    const page = all.slice(offset, offset + size);
    const next = new URLSearchParams(ctx.query);
    next.set("$skiptoken", String(offset + size));
    return {
      status: 200,
      body: {
        "@odata.context": `${this.url}/v1.0/$metadata#directoryObjects`,
        value: page,
        ...(offset + size < all.length
          ? { "@odata.nextLink": `${this.url}${ctx.path}?${next.toString()}` }
          : {}),
      },
    };
  }
}

function complete(partial: Partial<GraphObject> & Pick<GraphObject, "id" | "appId">): GraphObject {
  return {
    displayName: partial.displayName ?? partial.id,
    passwordCredentials: [],
    keyCredentials: [],
    owners: [],
    federatedIdentityCredentials: [],
    ...partial,
  };
}

function credentialShape(credential: GraphCredential): Record<string, unknown> {
  return {
    keyId: credential.keyId,
    displayName: credential.displayName ?? null,
    startDateTime: credential.startDateTime ?? "2026-01-01T00:00:00Z",
    endDateTime: credential.endDateTime ?? "2027-01-01T00:00:00Z",
    customKeyIdentifier: null,
  };
}

function owner(object: GraphDirectoryObject): Record<string, unknown> {
  return { "@odata.type": object.type, id: object.id };
}

function graphError(status: number, code: string, message: string): RouteResult {
  return {
    status,
    body: {
      error: { code, message, innerError: { date: new Date().toISOString(), "request-id": "emulator" } },
    },
  };
}

function notFound(id: string): RouteResult {
  return graphError(
    404,
    "Request_ResourceNotFound",
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );
}
