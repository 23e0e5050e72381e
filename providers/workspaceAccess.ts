/**
 * The WorkspaceAccess dynamic provider: create, read, update and delete one Smartspace workspace grant
 * through the admin API. It runs in Pulumi's dynamic-provider host, loaded from the project at run time by
 * the small serialized shim in components/dynamicProvider.ts, so it is ordinary TypeScript.
 *
 * Grants in state written by any earlier version pass through here too (refresh, update, delete), so every
 * method accepts the properties those versions stored.
 */
import type * as pulumi from "@pulumi/pulumi";
import {
  AdminApiClient,
  type AccessEntry,
  type AdminApiClientOptions,
  PRINCIPAL_TYPES,
  type PrincipalType,
} from "../clients/adminApi";
import { GUID } from "../rules/ids";
import { checkInputs, UNKNOWN } from "./inputs";
import { API_SCOPE } from "../rules/scopes";
import { endpointProblem, normalizeEndpoint } from "../rules/urls";

export type { PrincipalType };

/** The resource's inputs as the provider receives them (after `check`). */
export interface WorkspaceAccessInputs {
  readonly adminApiUrl: string;
  readonly workspaceId: string;
  readonly principalId: string;
  readonly principalType: PrincipalType;
  readonly displayName: string;
  readonly tokenScope: string;
  readonly providerVersion: string;
}

export interface WorkspaceAccessOutputs extends WorkspaceAccessInputs {
  /** The workspace's name when the grant was created. */
  readonly workspaceName?: string;
}

/** Where the host keeps a dynamic resource's serialized provider among its properties. */
const PROVIDER_KEY = "__provider";

function providerOf(props: object): unknown {
  return (props as Record<string, unknown>)[PROVIDER_KEY];
}

const MAX_DISPLAY_NAME = 256;

/** Changing these addresses a different grant (or a different Smartspace), so the grant is replaced. */
const REPLACE_ON = ["adminApiUrl", "workspaceId", "principalId"] as const;
/** Changing these re-applies the same grant. With REPLACE_ON, every input, in `check`'s reporting order. */
const UPDATE_ON = ["principalType", "displayName", "tokenScope", "providerVersion"] as const;
type InputName = (typeof REPLACE_ON)[number] | (typeof UPDATE_ON)[number];

const CHECKS: Record<InputName, (value: unknown) => string | undefined> = {
  adminApiUrl: (value) => {
    const problem = endpointProblem(value);
    return problem === undefined ? undefined : `${problem}, got ${shown(value)}`;
  },
  workspaceId: (value) => guidProblem(value, "a Smartspace workspace ID"),
  principalId: (value) => guidProblem(value, "the service principal's object ID"),
  principalType: (value) =>
    PRINCIPAL_TYPES.includes(value as PrincipalType)
      ? undefined
      : `must be one of ${PRINCIPAL_TYPES.join(", ")}, got ${shown(value)}`,
  displayName: (value) =>
    typeof value === "string" && value.trim() !== "" && value.length <= MAX_DISPLAY_NAME
      ? undefined
      : `must be a non-empty string of at most ${MAX_DISPLAY_NAME} characters, got ${shown(value)}`,
  tokenScope: (value) =>
    typeof value === "string" && API_SCOPE.test(value)
      ? undefined
      : `must be an OAuth scope ending in /.default, such as api://<Smartspace app client id>/.default, got ${shown(value)}`,
  providerVersion: (value) =>
    typeof value === "string" && value !== "" ? undefined : "must be a non-empty string",
};

function guidProblem(value: unknown, what: string): string | undefined {
  return typeof value === "string" && GUID.test(value)
    ? undefined
    : `must be ${what} (a GUID such as 00000000-0000-0000-0000-000000000000), got ${shown(value)}`;
}

function shown(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/**
 * The canonical form of each input, so that spelling alone (case, a trailing slash, an explicit default
 * port, a trailing dot in the host) never replaces a grant. Values that fail `check`, and unknowns, pass
 * through unchanged.
 */
function normalize(name: string, value: unknown): unknown {
  if (typeof value !== "string" || value === UNKNOWN) {
    return value;
  }
  switch (name) {
    case "adminApiUrl":
      return endpointProblem(value) === undefined ? normalizeEndpoint(value) : value;
    case "workspaceId":
    case "principalId":
      return value.toLowerCase();
    case "displayName":
      return value.trim();
    default:
      return value;
  }
}

export interface WorkspaceAccessProviderOptions {
  /** Options for every admin-API client the provider creates (tests: a TLS trust, short timings). */
  readonly clientOptions?: Omit<AdminApiClientOptions, "adminApiUrl" | "tokenScope">;
}

/**
 * An error the engine takes as "created, but not initialized": the grant may exist, so the engine keeps it
 * in state under `id`, where refresh can confirm it and destroy can revoke it, instead of leaving it
 * outside state (see `grpcResponseFromError` in @pulumi/pulumi's cmd/dynamic-provider).
 */
export class GrantOutcomeUnknownError extends Error {
  constructor(
    message: string,
    readonly id: string,
    readonly properties: WorkspaceAccessOutputs,
  ) {
    super(message);
    this.name = "GrantOutcomeUnknownError";
  }
  readonly reasons: string[] = [];
}

/** CRUD for one workspace grant through the Smartspace admin API. */
export class WorkspaceAccessProvider implements pulumi.dynamic.ResourceProvider<
  WorkspaceAccessInputs,
  WorkspaceAccessOutputs
> {
  /** One client per admin API and token scope, so each process asks Entra ID for a token once per scope. */
  private readonly clients = new Map<string, AdminApiClient>();

  constructor(private readonly options: WorkspaceAccessProviderOptions = {}) {}

  /** Validates every input, reporting one failure per bad property; values unknown during preview pass. */
  async check(
    _olds: WorkspaceAccessInputs,
    news: WorkspaceAccessInputs,
  ): Promise<pulumi.dynamic.CheckResult<WorkspaceAccessInputs>> {
    const raw: Record<string, unknown> = { ...news };
    raw.principalType ??= "ServicePrincipal";
    const { inputs, failures } = checkInputs(raw, CHECKS, normalize);
    return { inputs: inputs as unknown as WorkspaceAccessInputs, failures };
  }

  /**
   * Workspace, principal or API URL changes replace the grant; anything else updates it in place.
   * Replacement deletes first: when old and new address the same physical grant, create-then-delete would
   * revoke the grant it had just made.
   */
  async diff(
    _id: string,
    olds: WorkspaceAccessOutputs,
    news: WorkspaceAccessInputs,
  ): Promise<pulumi.dynamic.DiffResult> {
    const changed = (name: InputName) =>
      normalize(name, (olds as unknown as Record<string, unknown>)[name]) !==
      normalize(name, (news as unknown as Record<string, unknown>)[name]);
    const replaces = REPLACE_ON.filter(changed);
    const updates = UPDATE_ON.filter(changed);
    return {
      changes: replaces.length > 0 || updates.length > 0,
      replaces,
      deleteBeforeReplace: replaces.length > 0,
    };
  }

  /**
   * Confirms the workspace exists, then grants with the idempotent PUT. Nothing is granted before the
   * workspace answered as the contract says; once the PUT was sent, any failure whose outcome is unknown
   * keeps the grant in state (see {@link GrantOutcomeUnknownError}).
   */
  async create(inputs: WorkspaceAccessInputs): Promise<pulumi.dynamic.CreateResult<WorkspaceAccessOutputs>> {
    const api = this.clientFor(inputs);
    const workspace = await api.getWorkspace(inputs.workspaceId);
    const id = `${inputs.workspaceId}/${inputs.principalId}`;
    let entry: AccessEntry;
    try {
      ({ entry } = await api.grantAccess(inputs.workspaceId, inputs.principalId, {
        principalType: inputs.principalType,
        displayName: inputs.displayName,
      }));
    } catch (error) {
      if (AdminApiClient.mayHaveApplied(error)) {
        // The engine stores these properties as the grant's state, and every later operation on it loads
        // its provider from the `__provider` among them: carry it over, as the host does for a success.
        const properties = {
          ...outputsOf(inputs, undefined, workspace.name),
          [PROVIDER_KEY]: providerOf(inputs),
        };
        throw new GrantOutcomeUnknownError(
          `${error instanceof Error ? error.message : String(error)}. The grant may exist: it is kept in ` +
            `state, and the next pulumi up (or refresh) settles it`,
          id,
          properties,
        );
      }
      throw error;
    }
    return { id, outs: outputsOf(inputs, entry, workspace.name) };
  }

  /**
   * Reads the live grant. When it is gone the result has no ID, which the engine takes as "deleted":
   * `pulumi refresh` shows the drift and drops it from state, and the next `pulumi up` grants again.
   */
  async read(
    id: string,
    props?: WorkspaceAccessOutputs,
  ): Promise<pulumi.dynamic.ReadResult<WorkspaceAccessOutputs>> {
    if (!props || typeof props.adminApiUrl !== "string" || typeof props.tokenScope !== "string") {
      throw new Error(
        `cannot read WorkspaceAccess ${id}: its state lacks adminApiUrl and tokenScope; ` +
          `declare the resource in the program instead of importing it`,
      );
    }
    const [idWorkspace, idPrincipal] = id.split("/");
    const workspaceId = props.workspaceId ?? idWorkspace;
    const principalId = props.principalId ?? idPrincipal;
    const entry = await this.clientFor(props).getAccess(workspaceId, principalId);
    if (!entry) {
      return {};
    }
    const current: WorkspaceAccessInputs = {
      adminApiUrl: props.adminApiUrl,
      workspaceId,
      principalId,
      principalType: props.principalType ?? "ServicePrincipal",
      displayName: props.displayName ?? entry.displayName,
      tokenScope: props.tokenScope,
      providerVersion: props.providerVersion ?? "",
    };
    return { id, props: outputsOf(current, entry, props.workspaceName) };
  }

  /** Re-applies the grant (PUT is an upsert) with the new display name or type. */
  async update(
    _id: string,
    olds: WorkspaceAccessOutputs,
    news: WorkspaceAccessInputs,
  ): Promise<pulumi.dynamic.UpdateResult<WorkspaceAccessOutputs>> {
    const { entry } = await this.clientFor(news).grantAccess(news.workspaceId, news.principalId, {
      principalType: news.principalType,
      displayName: news.displayName,
    });
    return { outs: outputsOf(news, entry, olds.workspaceName) };
  }

  /** Revokes the grant; one that is already gone (404) counts as revoked. */
  async delete(_id: string, props: WorkspaceAccessOutputs): Promise<void> {
    await this.clientFor(props).revokeAccess(props.workspaceId, props.principalId);
  }

  private clientFor(props: { adminApiUrl: string; tokenScope: string }): AdminApiClient {
    const adminApiUrl = normalizeEndpoint(props.adminApiUrl);
    const key = `${adminApiUrl} ${props.tokenScope}`;
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new AdminApiClient({
        ...this.options.clientOptions,
        adminApiUrl,
        tokenScope: props.tokenScope,
      });
      this.clients.set(key, client);
    }
    return client;
  }
}

function outputsOf(
  inputs: WorkspaceAccessInputs,
  entry: AccessEntry | undefined,
  workspaceName: string | undefined,
): WorkspaceAccessOutputs {
  const outputs: WorkspaceAccessOutputs = {
    adminApiUrl: inputs.adminApiUrl,
    workspaceId: inputs.workspaceId,
    principalId: inputs.principalId,
    principalType: entry?.principalType ?? inputs.principalType,
    displayName: entry?.displayName ?? inputs.displayName,
    tokenScope: inputs.tokenScope,
    providerVersion: inputs.providerVersion,
  };
  return workspaceName === undefined ? outputs : { ...outputs, workspaceName };
}
