/**
 * WorkspaceAccess: one Smartspace workspace grant for one principal, as a Pulumi dynamic resource, so that
 * `pulumi up` grants, `pulumi destroy` revokes and `pulumi refresh` notices a grant removed by hand.
 *
 * How the provider survives serialization. Pulumi stores the provider in every WorkspaceAccess's state as
 * JavaScript text produced by `pulumi.runtime.serializeFunction`, and runs it in a separate host process
 * (`pulumi-resource-pulumi-nodejs`: plain `node`, cwd = the project directory, no ts-node). The serializer
 * walks the provider's methods and captures what they reference:
 * - functions and classes from local modules (here `../lib/adminApi` and, through it, `../lib/http`) are
 *   copied *by value* into the text. That is the only way project code can run in the host: a
 *   `require("../lib/adminApi")` written inside a method would be resolved there against the host's cwd
 *   (the serialized text is compiled by require-from-string with no file name), and would find a `.ts`
 *   file the host cannot load anyway;
 * - packages from node_modules are referenced by name and loaded in the host from the project's
 *   node_modules. `@azure/identity` is required inside the token resolver at call time, which keeps it out
 *   of the text and off the start-up path of `pulumi preview`.
 * So the provider and everything it reaches hold no state: no client, token or configuration is captured.
 * Each operation builds its client from the resource's inputs, the token is resolved at call time
 * (SMARTSPACE_ADMIN_TOKEN or DefaultAzureCredential, cached on `globalThis`, which is never serialized),
 * and timings come from the environment. Credentials are never inputs or outputs. The provider must not
 * touch `@pulumi/pulumi` (a deployment-only module the serializer would have to inline).
 *
 * One provider instance is shared by all WorkspaceAccess resources: the SDK caches the serialized text per
 * instance, so a stack with hundreds of grants serializes the provider once.
 */
import * as pulumi from "@pulumi/pulumi";

import { AdminApiClient, PRINCIPAL_TYPES } from "../lib/adminApi";
import type { AccessEntry, PrincipalType } from "../lib/adminApi";

// Constants are exported in a list, not with `export const`: TypeScript compiles in-module uses of an
// `export const` to `exports.NAME`, which the Pulumi closure serializer leaves unresolved, so serialized
// code (the WorkspaceAccess provider) would read undefined. A listed local const stays a local reference.
export { WORKSPACE_ACCESS_PROVIDER_VERSION };

/**
 * Bump whenever the provider's behaviour changes: the new value shows as an update in `pulumi preview`, and
 * the update re-applies the grant with the new code (the dynamic-provider host does not diff provider code).
 */
const WORKSPACE_ACCESS_PROVIDER_VERSION = "1";

export interface WorkspaceAccessArgs {
  /**
   * Base URL of the Smartspace admin API. Must be https; http is accepted only for 127.0.0.1 and localhost
   * (the local emulator).
   */
  readonly adminApiUrl: pulumi.Input<string>;
  /** Smartspace workspace ID (a GUID). */
  readonly workspaceId: pulumi.Input<string>;
  /** Entra object ID of the integration's service principal: not its client ID, not the application's object ID. */
  readonly principalId: pulumi.Input<string>;
  /** Default "ServicePrincipal". */
  readonly principalType?: pulumi.Input<PrincipalType>;
  /** Name shown in the workspace's access list. */
  readonly displayName: pulumi.Input<string>;
  /** Scope of the deployer's admin token, normally `api://<Smartspace app client id>/.default`. */
  readonly tokenScope: pulumi.Input<string>;
}

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

/** The SDK's placeholder for a value not known until apply (`pulumi.runtime.unknownValue`). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SCOPE = /^(api:\/\/|https:\/\/)\S+\/\.default$/;
const MAX_DISPLAY_NAME = 256;

/** Changing these addresses a different grant (or a different Smartspace), so the grant is replaced. */
const REPLACE_ON = ["adminApiUrl", "workspaceId", "principalId"] as const;
/** Changing these re-applies the same grant. */
const UPDATE_ON = ["principalType", "displayName", "tokenScope", "providerVersion"] as const;

type Problem = string | undefined;

function checkUrl(value: unknown): Problem {
  const expected = "use an absolute https:// URL (http:// only for 127.0.0.1 or localhost)";
  if (typeof value !== "string") {
    return `${expected}, got ${String(value)}`;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${expected}, got ${JSON.stringify(value)}`;
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    return `${expected}, got ${JSON.stringify(value)}`;
  }
  if (url.username !== "" || url.password !== "") {
    return "must not contain credentials; the token is resolved at deployment time";
  }
  if (url.search !== "" || url.hash !== "") {
    return `must not have a query or fragment, got ${JSON.stringify(value)}`;
  }
  return undefined;
}

function checkGuid(what: string): (value: unknown) => Problem {
  return (value) =>
    typeof value === "string" && GUID.test(value)
      ? undefined
      : `must be ${what} (a GUID such as 00000000-0000-0000-0000-000000000000), got ${JSON.stringify(value)}`;
}

function checkPrincipalType(value: unknown): Problem {
  return PRINCIPAL_TYPES.includes(value as PrincipalType)
    ? undefined
    : `must be one of ${PRINCIPAL_TYPES.join(", ")}, got ${JSON.stringify(value)}`;
}

function checkDisplayName(value: unknown): Problem {
  return typeof value === "string" && value.trim() !== "" && value.length <= MAX_DISPLAY_NAME
    ? undefined
    : `must be a non-empty string of at most ${MAX_DISPLAY_NAME} characters, got ${JSON.stringify(value)}`;
}

function checkScope(value: unknown): Problem {
  return typeof value === "string" && SCOPE.test(value)
    ? undefined
    : `must be an OAuth scope ending in /.default, such as api://<Smartspace app client id>/.default, got ${JSON.stringify(value)}`;
}

function checkVersion(value: unknown): Problem {
  return typeof value === "string" && value !== "" ? undefined : "must be a non-empty string";
}

/** The canonical form of each input, so that case or a trailing slash never causes a replacement. */
function normalize(name: string, value: unknown): unknown {
  if (typeof value !== "string" || value === UNKNOWN) {
    return value;
  }
  switch (name) {
    case "adminApiUrl":
      return value.replace(/\/+$/, "");
    case "workspaceId":
    case "principalId":
      return value.toLowerCase();
    case "displayName":
      return value.trim();
    default:
      return value;
  }
}

function grantId(workspaceId: string, principalId: string): string {
  return `${workspaceId}/${principalId}`;
}

function clientFor(props: { adminApiUrl: string; tokenScope: string }): AdminApiClient {
  return new AdminApiClient({ adminApiUrl: props.adminApiUrl, tokenScope: props.tokenScope });
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

/**
 * CRUD for one workspace grant through the Smartspace admin API. Constructible with no arguments and
 * stateless, as a serialized dynamic provider must be (see the module comment).
 */
export class WorkspaceAccessProvider implements pulumi.dynamic.ResourceProvider<
  WorkspaceAccessInputs,
  WorkspaceAccessOutputs
> {
  /** Validates every input, reporting one failure per bad property; values unknown during preview pass. */
  async check(
    _olds: WorkspaceAccessInputs,
    news: WorkspaceAccessInputs,
  ): Promise<pulumi.dynamic.CheckResult<WorkspaceAccessInputs>> {
    const raw = { ...news } as Record<string, unknown>;
    raw.principalType ??= "ServicePrincipal";
    raw.providerVersion ??= WORKSPACE_ACCESS_PROVIDER_VERSION;
    const rules: [string, (value: unknown) => Problem][] = [
      ["adminApiUrl", checkUrl],
      ["workspaceId", checkGuid("a Smartspace workspace ID")],
      ["principalId", checkGuid("the service principal's object ID")],
      ["principalType", checkPrincipalType],
      ["displayName", checkDisplayName],
      ["tokenScope", checkScope],
      ["providerVersion", checkVersion],
    ];
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const inputs: Record<string, unknown> = {};
    for (const [name, rule] of rules) {
      const value = raw[name];
      const problem = value === UNKNOWN ? undefined : rule(value);
      if (problem) {
        failures.push({ property: name, reason: `${name} ${problem}` });
      }
      inputs[name] = normalize(name, value);
    }
    return { inputs: inputs as unknown as WorkspaceAccessInputs, failures };
  }

  /**
   * Workspace, principal or API URL changes replace the grant; anything else updates it in place.
   * Replacement deletes first: when old and new address the same physical grant (the same Smartspace
   * under a new URL, say), create-then-delete would revoke the grant it had just made.
   */
  async diff(
    _id: string,
    olds: WorkspaceAccessOutputs,
    news: WorkspaceAccessInputs,
  ): Promise<pulumi.dynamic.DiffResult> {
    const differs = (name: string) => {
      const before = normalize(name, (olds as unknown as Record<string, unknown>)[name]);
      const after = normalize(name, (news as unknown as Record<string, unknown>)[name]);
      return before !== after;
    };
    const replaces = REPLACE_ON.filter(differs);
    const updates = UPDATE_ON.filter(differs);
    return {
      changes: replaces.length > 0 || updates.length > 0,
      replaces,
      deleteBeforeReplace: replaces.length > 0,
    };
  }

  /** Confirms the workspace exists, then grants with the idempotent PUT. */
  async create(inputs: WorkspaceAccessInputs): Promise<pulumi.dynamic.CreateResult<WorkspaceAccessOutputs>> {
    const api = clientFor(inputs);
    const workspace = await api.getWorkspace(inputs.workspaceId);
    const { entry } = await api.grantAccess(inputs.workspaceId, inputs.principalId, {
      principalType: inputs.principalType,
      displayName: inputs.displayName,
    });
    return {
      id: grantId(inputs.workspaceId, inputs.principalId),
      outs: outputsOf(inputs, entry, workspace.name),
    };
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
    const entry = await clientFor(props).getAccess(workspaceId, principalId);
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
      providerVersion: props.providerVersion ?? WORKSPACE_ACCESS_PROVIDER_VERSION,
    };
    return { id, props: outputsOf(current, entry, props.workspaceName) };
  }

  /** Re-applies the grant (PUT is an upsert) with the new display name or type. */
  async update(
    _id: string,
    olds: WorkspaceAccessOutputs,
    news: WorkspaceAccessInputs,
  ): Promise<pulumi.dynamic.UpdateResult<WorkspaceAccessOutputs>> {
    const { entry } = await clientFor(news).grantAccess(news.workspaceId, news.principalId, {
      principalType: news.principalType,
      displayName: news.displayName,
    });
    return { outs: outputsOf(news, entry, olds.workspaceName) };
  }

  /** Revokes the grant; one that is already gone (404) counts as revoked. */
  async delete(_id: string, props: WorkspaceAccessOutputs): Promise<void> {
    await clientFor(props).revokeAccess(props.workspaceId, props.principalId);
  }
}

/** The one provider instance all WorkspaceAccess resources share (serialized once per deployment). */
const provider = new WorkspaceAccessProvider();

/**
 * A grant of Smartspace workspace access to one principal. Its ID is `<workspaceId>/<principalId>`.
 * Resource type `pulumi-nodejs:dynamic/smartspace:WorkspaceAccess`.
 */
export class WorkspaceAccess extends pulumi.dynamic.Resource {
  // `declare`: with ES2022 class fields, an initialized field would overwrite the value the base
  // constructor has just set.
  declare readonly adminApiUrl: pulumi.Output<string>;
  declare readonly workspaceId: pulumi.Output<string>;
  declare readonly principalId: pulumi.Output<string>;
  declare readonly principalType: pulumi.Output<PrincipalType>;
  declare readonly displayName: pulumi.Output<string>;
  declare readonly tokenScope: pulumi.Output<string>;
  declare readonly providerVersion: pulumi.Output<string>;
  declare readonly workspaceName: pulumi.Output<string | undefined>;

  constructor(name: string, args: WorkspaceAccessArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        adminApiUrl: args.adminApiUrl,
        workspaceId: args.workspaceId,
        principalId: args.principalId,
        principalType: args.principalType ?? "ServicePrincipal",
        displayName: args.displayName,
        tokenScope: args.tokenScope,
        providerVersion: WORKSPACE_ACCESS_PROVIDER_VERSION,
        workspaceName: undefined,
      },
      opts,
      "smartspace",
      "WorkspaceAccess",
    );
  }
}
