/**
 * WorkspaceAccess: one Smartspace workspace grant for one principal, as a Pulumi dynamic resource, so that
 * `pulumi up` grants, `pulumi destroy` revokes and `pulumi refresh` notices a grant removed by hand.
 *
 * How the provider runs. Pulumi turns the provider into JavaScript text with
 * `pulumi.runtime.serializeFunction`, stores that text as `__provider` in the inputs *and* the outputs of
 * every WorkspaceAccess, and runs it in a separate host process (`@pulumi/pulumi/cmd/dynamic-provider`:
 * plain `node`, cwd = the project directory, no TypeScript loader; the text is compiled with
 * require-from-string, without a file name). The serializer copies whatever the provider's methods
 * reference in project modules *by value*. When that included the admin-API client (lib/adminApi.ts and
 * lib/http.ts), the text was about 45 KB, twice per grant: some 45 MB of state for 100 integrations x 5
 * workspaces, which the local backend rewrites after every step. So the text now holds only this file's
 * own code (input checks, diff, the CRUD glue: under 10 KB), and the client is loaded when an operation
 * first needs it:
 * - `clientFor` loads lib/adminApi.ts (and, through its imports, lib/http.ts) with tsx's CommonJS API
 *   and caches the module on `globalThis`, which is never serialized. The serializer never captures
 *   `require`, so a `require` written in the function stays a `require` in the text: `tsx/cjs/api` (a
 *   dependency) is then found in the project's node_modules like any package. The file's path is built
 *   from `process.cwd()`: a relative `require` would resolve against the cwd anyway, and `__dirname` would
 *   be frozen into state as the serializing machine's path.
 * - this file imports nothing but types from lib/adminApi.ts (`import type`, erased by the compiler), and
 *   keeps its own copies of the few constants `check` needs, so no code of the client can be captured.
 * Consequences: an operation always runs the client code now on disk, also when deleting or refreshing a
 * grant whose state an older version wrote. So lib/adminApi.ts must stay where it is and keep
 * `new AdminApiClient({ adminApiUrl, tokenScope })` and its `getWorkspace`, `getAccess`, `grantAccess` and
 * `revokeAccess` compatible; and the host must run in the project directory, as it does when pulumi runs
 * this project (elsewhere, an operation fails and says so; `check` and `diff` need no client).
 *
 * The provider holds no state: no client, token or configuration is captured. Each operation builds its
 * client from the resource's inputs, the token is resolved at call time (SMARTSPACE_ADMIN_TOKEN or
 * DefaultAzureCredential, cached on `globalThis`), and timings come from the environment. Credentials are
 * never inputs or outputs. The provider must not touch `@pulumi/pulumi` (a deployment-only module the
 * serializer would have to inline).
 *
 * Provider version. The host does not diff provider code, so each grant carries `providerVersion`: a hash
 * of the source of every file the provider runs ({@link WORKSPACE_ACCESS_PROVIDER_SOURCES}), computed once
 * when the program loads. Any change to that code shows in `pulumi preview` as an update of each grant,
 * and the update re-applies the grant (an idempotent PUT) with the new code. A hand-bumped constant relied
 * on someone remembering, and since the client is no longer in the serialized text, a forgotten bump would
 * have hidden a client change from preview entirely. The price: an edit that changes no behaviour (a
 * comment) also updates every grant, harmlessly. Line endings are normalized first, so a Windows checkout
 * hashes like a Linux one.
 *
 * One provider instance is shared by all WorkspaceAccess resources: the SDK caches the serialized text per
 * instance, so a stack with hundreds of grants serializes the provider once.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";

import * as pulumi from "@pulumi/pulumi";

import type * as AdminApiModule from "../clients/adminApi";
import type { AccessEntry, AdminApiClient, PrincipalType } from "../clients/adminApi";

// Constants are exported in a list, not with `export const`: TypeScript compiles in-module uses of an
// `export const` to `exports.NAME`, which the Pulumi closure serializer leaves unresolved, so serialized
// code (the WorkspaceAccess provider) would read undefined. A listed local const stays a local reference.
export { WORKSPACE_ACCESS_PROVIDER_VERSION, WORKSPACE_ACCESS_PROVIDER_SOURCES };

/** The admin-API client the provider loads at run time, relative to the project directory. */
const ADMIN_API_SOURCE = "lib/adminApi.ts";

/**
 * Every project file whose code the provider runs, relative to the project directory: this file (in the
 * serialized text) and the admin-API client with its local imports (loaded at run time). A test keeps the
 * list complete.
 */
const WORKSPACE_ACCESS_PROVIDER_SOURCES: readonly string[] = [
  "components/workspaceAccess.ts",
  ADMIN_API_SOURCE,
  "clients/adminApi.ts",
  "clients/http.ts",
];

/**
 * A short sha256 of the {@link WORKSPACE_ACCESS_PROVIDER_SOURCES} under `projectRoot` (see "Provider
 * version" above), insensitive to line endings and a byte-order mark.
 */
export function providerSourceVersion(projectRoot: string): string {
  const hash = createHash("sha256");
  for (const source of WORKSPACE_ACCESS_PROVIDER_SOURCES) {
    const text = readFileSync(path.join(projectRoot, ...source.split("/")), "utf8")
      .replace(/^\uFEFF/, "")
      .replace(/\r\n/g, "\n");
    hash.update(`${source}\0${text}\0`);
  }
  return hash.digest("hex").slice(0, 16);
}

/** Changes whenever the provider's code does, so that `pulumi preview` shows it as an update of each grant. */
const WORKSPACE_ACCESS_PROVIDER_VERSION = providerSourceVersion(path.join(__dirname, ".."));

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
// A copy of lib/ids.ts's pattern: importing it would copy that module into the serialized provider.
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SCOPE = /^(api:\/\/|https:\/\/)\S+\/\.default$/;
const MAX_DISPLAY_NAME = 256;
/**
 * Every PrincipalType, as a record so that the compiler rejects a list that misses or invents one. A copy
 * of lib/adminApi.ts's list, so that this file imports only types from there (see the module comment).
 */
const PRINCIPAL_TYPE_NAMES: Record<PrincipalType, true> = { ServicePrincipal: true, User: true, Group: true };
const PRINCIPAL_TYPES = Object.keys(PRINCIPAL_TYPE_NAMES) as PrincipalType[];

/** Changing these addresses a different grant (or a different Smartspace), so the grant is replaced. */
const REPLACE_ON = ["adminApiUrl", "workspaceId", "principalId"] as const;
/** Changing these re-applies the same grant. With REPLACE_ON, every input, in `check`'s reporting order. */
const UPDATE_ON = ["principalType", "displayName", "tokenScope", "providerVersion"] as const;

/**
 * What is wrong with one input, or undefined. One function with a case per input rather than a function
 * per input: the serializer wraps every function it captures in some 200 bytes of scaffolding, and the
 * serialized text is stored twice per grant.
 */
function problemWith(name: string, value: unknown): string | undefined {
  const shown = JSON.stringify(value);
  switch (name) {
    case "adminApiUrl": {
      const expected = "use an absolute https:// URL (http:// only for 127.0.0.1 or localhost)";
      if (typeof value !== "string") {
        return `${expected}, got ${String(value)}`;
      }
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return `${expected}, got ${shown}`;
      }
      const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
      if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
        return `${expected}, got ${shown}`;
      }
      if (url.username !== "" || url.password !== "") {
        return "must not contain credentials; the token is resolved at deployment time";
      }
      if (url.search !== "" || url.hash !== "") {
        return `must not have a query or fragment, got ${shown}`;
      }
      return undefined;
    }
    case "workspaceId":
    case "principalId": {
      const what = name === "workspaceId" ? "a Smartspace workspace ID" : "the service principal's object ID";
      return typeof value === "string" && GUID.test(value)
        ? undefined
        : `must be ${what} (a GUID such as 00000000-0000-0000-0000-000000000000), got ${shown}`;
    }
    case "principalType":
      return PRINCIPAL_TYPES.includes(value as PrincipalType)
        ? undefined
        : `must be one of ${PRINCIPAL_TYPES.join(", ")}, got ${shown}`;
    case "displayName":
      return typeof value === "string" && value.trim() !== "" && value.length <= MAX_DISPLAY_NAME
        ? undefined
        : `must be a non-empty string of at most ${MAX_DISPLAY_NAME} characters, got ${shown}`;
    case "tokenScope":
      return typeof value === "string" && SCOPE.test(value)
        ? undefined
        : `must be an OAuth scope ending in /.default, such as api://<Smartspace app client id>/.default, got ${shown}`;
    case "providerVersion":
      return typeof value === "string" && value !== "" ? undefined : "must be a non-empty string";
    default:
      return undefined;
  }
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

/** Property of `globalThis` holding the loaded admin-API module: outside any module, so never serialized. */
const GLOBAL_ADMIN_API_KEY = "__smartspaceAdminApiModule";

/**
 * A client for the grant's admin API. The first call in a process loads lib/adminApi.ts from the project
 * directory (the provider host's cwd) with tsx, as the module comment explains. Even node:path and node:fs
 * are required in the body rather than imported, so that the text requires exactly what it shows. No
 * comments in the body: ts-node (the tests' loader) keeps them in the serialized text.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
function clientFor(props: { adminApiUrl: string; tokenScope: string }): AdminApiClient {
  const holder = globalThis as unknown as Record<string, typeof AdminApiModule | undefined>;
  let api = holder[GLOBAL_ADMIN_API_KEY];
  if (!api) {
    const { join } = require("node:path") as typeof import("node:path");
    const { existsSync } = require("node:fs") as typeof import("node:fs");
    const file = join(process.cwd(), ...ADMIN_API_SOURCE.split("/"));
    if (!existsSync(file)) {
      throw new Error(
        `WorkspaceAccess cannot find ${file}: its provider loads ${ADMIN_API_SOURCE} from the Pulumi ` +
          `project directory, so run pulumi from the project directory`,
      );
    }
    const tsx = require("tsx/cjs/api") as { require(id: string, fromFile: string): unknown };
    api = tsx.require(file, file) as typeof AdminApiModule;
    holder[GLOBAL_ADMIN_API_KEY] = api;
  }
  return new api.AdminApiClient({ adminApiUrl: props.adminApiUrl, tokenScope: props.tokenScope });
}
/* eslint-enable @typescript-eslint/no-require-imports */

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
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const inputs: Record<string, unknown> = {};
    for (const name of [...REPLACE_ON, ...UPDATE_ON]) {
      const value = raw[name];
      const problem = value === UNKNOWN ? undefined : problemWith(name, value);
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
   * (The comparison is inlined twice rather than named: tsx wraps a named arrow function in a `__name`
   * call, which the serializer would capture as one more function.)
   */
  async diff(
    _id: string,
    olds: WorkspaceAccessOutputs,
    news: WorkspaceAccessInputs,
  ): Promise<pulumi.dynamic.DiffResult> {
    const before = olds as unknown as Record<string, unknown>;
    const after = news as unknown as Record<string, unknown>;
    const replaces = REPLACE_ON.filter(
      (name) => normalize(name, before[name]) !== normalize(name, after[name]),
    );
    const updates = UPDATE_ON.filter(
      (name) => normalize(name, before[name]) !== normalize(name, after[name]),
    );
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
      id: `${inputs.workspaceId}/${inputs.principalId}`,
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
