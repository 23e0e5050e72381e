import assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { inspect } from "node:util";

import * as pulumi from "@pulumi/pulumi";

import {
  WORKSPACE_ACCESS_PROVIDER_SOURCES,
  WORKSPACE_ACCESS_PROVIDER_VERSION,
  WorkspaceAccess,
  WorkspaceAccessInputs,
  WorkspaceAccessOutputs,
  WorkspaceAccessProvider,
  providerSourceVersion,
} from "../components/workspaceAccess";
import {
  ADMIN_TIME_SCALE_ENV,
  ADMIN_TOKEN_ENV,
  createTokenResolver,
  resolveAdminToken,
} from "../clients/adminApi";
import { SmartspaceEmulator } from "../tools/emulators/smartspaceEmulator";

const PROJECT_ROOT = path.resolve(__dirname, "..");
const WORKSPACE = "9d2f6c1e-7b3a-4c5d-8e9f-0a1b2c3d4e5f";
const SCOPE = "api://11111111-2222-3333-4444-555555555555/.default";
const UNKNOWN = pulumi.runtime.unknownValue as string;
/** Scales the provider's default timings: 30 s timeout -> 300 ms, 2 min replication window -> 1.2 s. */
const TIME_SCALE = "0.01";
/**
 * Size budgets for the serialized provider, which the engine stores twice per grant. With the admin-API
 * client copied in by value it was about 45 KB. tsx (the program's loader, from Pulumi.yaml) emits compact
 * code; ts-node (mocha's loader, never used by a deployment) indents by four spaces, hence more room.
 */
const PROVIDER_BUDGET_TSX = 10_000;
const PROVIDER_BUDGET_TS_NODE = 12_500;

function inputs(overrides: Partial<WorkspaceAccessInputs> = {}): WorkspaceAccessInputs {
  return {
    adminApiUrl: "https://admin.smartspace.example/api",
    workspaceId: WORKSPACE,
    principalId: "0b6f5b2c-1d3e-4f5a-9b8c-7d6e5f4a3b2c",
    principalType: "ServicePrincipal",
    displayName: "claims-bot",
    tokenScope: SCOPE,
    providerVersion: WORKSPACE_ACCESS_PROVIDER_VERSION,
    ...overrides,
  };
}

function visible(error: unknown): string {
  return [String(error), error instanceof Error ? error.stack : "", inspect(error, { depth: 5 })].join("\n");
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail("expected the call to fail");
}

/** Sets environment variables for a block of tests and restores them afterwards. */
function useEnv(values: () => Record<string, string>): void {
  const saved: Record<string, string | undefined> = {};
  before(() => {
    for (const [name, value] of Object.entries(values())) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
  });
  after(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = value;
      }
    }
  });
}

describe("WorkspaceAccessProvider.check", () => {
  const provider = new WorkspaceAccessProvider();

  it("accepts valid inputs and normalizes them so case or a trailing slash never replaces a grant", async () => {
    const result = await provider.check(
      inputs(),
      inputs({
        adminApiUrl: "https://admin.smartspace.example/api//",
        workspaceId: WORKSPACE.toUpperCase(),
        principalId: "0B6F5B2C-1D3E-4F5A-9B8C-7D6E5F4A3B2C",
        displayName: "  claims-bot ",
      }),
    );
    assert.deepEqual(result.failures, []);
    assert.deepEqual(result.inputs, inputs());
  });

  it("defaults principalType to ServicePrincipal and stamps the provider version", async () => {
    const { principalType: _type, providerVersion: _version, ...bare } = inputs();
    const result = await provider.check(inputs(), bare as WorkspaceAccessInputs);
    assert.deepEqual(result.failures, []);
    assert.equal(result.inputs?.principalType, "ServicePrincipal");
    assert.equal(result.inputs?.providerVersion, WORKSPACE_ACCESS_PROVIDER_VERSION);
  });

  it("reports exactly one failure per bad property, naming the property and the value", async () => {
    const result = await provider.check(
      inputs(),
      inputs({
        adminApiUrl: "http://admin.smartspace.example",
        workspaceId: "claims",
        principalId: "app-client-id",
        principalType: "Robot" as WorkspaceAccessInputs["principalType"],
        displayName: "   ",
        tokenScope: "api://smartspace",
      }),
    );
    const failures = result.failures ?? [];
    assert.deepEqual(
      failures.map((f) => f.property),
      ["adminApiUrl", "workspaceId", "principalId", "principalType", "displayName", "tokenScope"],
    );
    assert.match(
      failures[0].reason,
      /adminApiUrl use an absolute https:\/\/ URL.*"http:\/\/admin.smartspace.example"/,
    );
    assert.match(failures[1].reason, /workspaceId must be a Smartspace workspace ID \(a GUID/);
    assert.match(failures[2].reason, /principalId must be the service principal's object ID/);
    assert.match(failures[3].reason, /ServicePrincipal, User, Group/);
    assert.match(failures[5].reason, /ending in \/\.default/);
  });

  it("allows plain http only on the loopback emulator, and never credentials in the URL", async () => {
    for (const url of ["http://127.0.0.1:8080", "http://localhost:1234/admin"]) {
      assert.deepEqual((await provider.check(inputs(), inputs({ adminApiUrl: url }))).failures, [], url);
    }
    for (const url of [
      "http://10.0.0.5",
      "ftp://admin.example",
      "not a url",
      "https://user:pw@admin.example",
    ]) {
      const failures = (await provider.check(inputs(), inputs({ adminApiUrl: url }))).failures ?? [];
      assert.deepEqual(
        failures.map((f) => f.property),
        ["adminApiUrl"],
        url,
      );
    }
  });

  it("lets values that are unknown during preview through unchanged", async () => {
    const result = await provider.check(
      inputs(),
      inputs({ principalId: UNKNOWN, adminApiUrl: UNKNOWN, displayName: UNKNOWN }),
    );
    assert.deepEqual(result.failures, []);
    assert.equal(result.inputs?.principalId, UNKNOWN);
    assert.equal(result.inputs?.adminApiUrl, UNKNOWN);
  });
});

describe("WorkspaceAccessProvider.diff", () => {
  const provider = new WorkspaceAccessProvider();
  const olds: WorkspaceAccessOutputs = { ...inputs(), workspaceName: "Claims" };
  const id = `${WORKSPACE}/${olds.principalId}`;

  it("reports no change for identical or merely re-cased inputs", async () => {
    assert.equal((await provider.diff(id, olds, inputs())).changes, false);
    const recased = await provider.diff(
      id,
      olds,
      inputs({ workspaceId: WORKSPACE.toUpperCase(), adminApiUrl: `${olds.adminApiUrl}/` }),
    );
    assert.equal(recased.changes, false);
  });

  it("updates in place for display name, principal type, token scope and provider version", async () => {
    for (const change of [
      { displayName: "claims-bot v2" },
      { principalType: "Group" as const },
      { tokenScope: "api://99999999-2222-3333-4444-555555555555/.default" },
      { providerVersion: "0" },
    ]) {
      const result = await provider.diff(id, olds, inputs(change));
      assert.deepEqual(
        result,
        { changes: true, replaces: [], deleteBeforeReplace: false },
        JSON.stringify(change),
      );
    }
  });

  it("replaces, deleting first, when the workspace, principal or API URL changes", async () => {
    for (const [property, value] of [
      ["workspaceId", randomUUID()],
      ["principalId", randomUUID()],
      ["adminApiUrl", "https://admin.other.example"],
      ["principalId", UNKNOWN],
    ] as const) {
      const result = await provider.diff(id, olds, inputs({ [property]: value }));
      assert.deepEqual(result, { changes: true, replaces: [property], deleteBeforeReplace: true }, property);
    }
  });
});

describe("WorkspaceAccessProvider against the emulator", () => {
  const provider = new WorkspaceAccessProvider();
  let emulator: SmartspaceEmulator;

  before(async () => {
    emulator = await SmartspaceEmulator.start({ workspaces: [{ id: WORKSPACE, name: "Claims" }] });
  });
  after(() => emulator.close());
  beforeEach(() => {
    emulator.reset();
    emulator.store.replicationDelayMs = 0;
    process.env[ADMIN_TOKEN_ENV] = emulator.token;
  });
  useEnv(() => ({ [ADMIN_TIME_SCALE_ENV]: TIME_SCALE }));
  after(() => delete process.env[ADMIN_TOKEN_ENV]);

  function grantInputs(overrides: Partial<WorkspaceAccessInputs> = {}): WorkspaceAccessInputs {
    return inputs({ adminApiUrl: emulator.url, principalId: randomUUID(), ...overrides });
  }

  it("create checks the workspace, grants, and returns a meaningful ID", async () => {
    const news = grantInputs();
    const result = await provider.create(news);
    assert.equal(result.id, `${WORKSPACE}/${news.principalId}`);
    assert.deepEqual(result.outs, { ...news, workspaceName: "Claims" });
    assert.deepEqual(emulator.store.getAccess(WORKSPACE, news.principalId), {
      principalId: news.principalId,
      principalType: "ServicePrincipal",
      displayName: "claims-bot",
    });
    assert.deepEqual(
      emulator.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
      [`GET /workspaces/${WORKSPACE} 200`, `PUT /workspaces/${WORKSPACE}/access/${news.principalId} 201`],
    );
  });

  it("create on a missing workspace fails with 'workspace <id> not found at <url>' and grants nothing", async () => {
    const missing = randomUUID();
    const error = await rejection(provider.create(grantInputs({ workspaceId: missing })));
    assert.match(error.message, new RegExp(`^workspace ${missing} not found at ${emulator.url}`));
    assert.equal(emulator.count({ method: "PUT" }), 0);
  });

  it("creating a grant that already exists is idempotent", async () => {
    const news = grantInputs();
    await provider.create(news);
    const again = await provider.create(news);
    assert.equal(again.id, `${WORKSPACE}/${news.principalId}`);
    assert.deepEqual(
      emulator.requestsMatching({ method: "PUT" }).map((r) => r.status),
      [201, 200],
    );
    assert.equal(
      emulator.store.listAccess(WORKSPACE)?.filter((e) => e.principalId === news.principalId).length,
      1,
    );
  });

  it("read reports a present grant with its live values", async () => {
    const news = grantInputs();
    const { id, outs } = await provider.create(news);
    const result = await provider.read(id, outs);
    assert.deepEqual(result, { id, props: outs });
  });

  it("read after an out-of-band revoke reports the grant gone, and the next create re-grants", async () => {
    const news = grantInputs();
    const { id, outs } = await provider.create(news);
    emulator.store.deleteAccess(WORKSPACE, news.principalId);
    const result = await provider.read(id, outs);
    assert.equal(result.id, undefined, "no ID: the engine treats the resource as deleted");
    assert.equal(result.props, undefined);
    await provider.create(news);
    assert.ok(emulator.store.getAccess(WORKSPACE, news.principalId));
  });

  it("read after an out-of-band rename surfaces the drift, which diff turns into an update", async () => {
    const news = grantInputs();
    const { id, outs } = await provider.create(news);
    emulator.store.putAccess(WORKSPACE, {
      principalId: news.principalId,
      principalType: "ServicePrincipal",
      displayName: "renamed in the portal",
    });
    const result = await provider.read(id, outs);
    assert.equal(result.props?.displayName, "renamed in the portal");
    const diff = await provider.diff(id, result.props as WorkspaceAccessOutputs, news);
    assert.deepEqual(diff, { changes: true, replaces: [], deleteBeforeReplace: false });
  });

  it("update re-grants with the new display name", async () => {
    const news = grantInputs();
    const { id, outs } = await provider.create(news);
    const renamed = { ...news, displayName: "claims-bot (prod)" };
    const result = await provider.update(id, outs as WorkspaceAccessOutputs, renamed);
    assert.equal(result.outs?.displayName, "claims-bot (prod)");
    assert.equal(result.outs?.workspaceName, "Claims");
    assert.equal(emulator.store.getAccess(WORKSPACE, news.principalId)?.displayName, "claims-bot (prod)");
  });

  it("delete revokes, and deleting an already revoked grant succeeds", async () => {
    const news = grantInputs();
    const { id, outs } = await provider.create(news);
    await provider.delete(id, outs as WorkspaceAccessOutputs);
    assert.equal(emulator.store.getAccess(WORKSPACE, news.principalId), undefined);
    await provider.delete(id, outs as WorkspaceAccessOutputs);
    assert.deepEqual(
      emulator.requestsMatching({ method: "DELETE" }).map((r) => r.status),
      [204, 404],
    );
  });

  it("create rides out throttling, 503, a slow response and a dropped connection", async () => {
    emulator.faults.throttle({ retryAfter: 0 }).unavailable().slow({ delayMs: 1_000 }).drop();
    const news = grantInputs();
    const result = await provider.create(news);
    assert.equal(result.id, `${WORKSPACE}/${news.principalId}`);
    assert.equal(emulator.faults.pending(), 0);
  });

  it("create waits for a new service principal to replicate (409 PrincipalNotFound)", async () => {
    emulator.store.replicationDelayMs = 200;
    const news = grantInputs();
    await provider.create(news);
    assert.ok(emulator.count({ status: 409 }) >= 1);
    assert.ok(emulator.store.getAccess(WORKSPACE, news.principalId));
  });

  it("create gives up on a principal that never replicates, within the scaled window, and explains why", async () => {
    emulator.store.replicationDelayMs = 3_600_000;
    const started = Date.now();
    const error = await rejection(provider.create(grantInputs()));
    const elapsed = Date.now() - started;
    assert.match(error.message, /409 PrincipalNotFound.*replicate through the Entra ID directory/);
    assert.ok(elapsed < 2_500, `took ${elapsed} ms with a 1.2 s window`);
  });

  it("a rejected token fails at once, names the cause, and never shows the token", async () => {
    process.env[ADMIN_TOKEN_ENV] = "stale-token-0123456789abcdef";
    const error = await rejection(provider.create(grantInputs()));
    assert.match(error.message, /401 Unauthorized\): it is missing or expired/);
    assert.ok(!visible(error).includes("stale-token-0123456789abcdef"));
    assert.equal(emulator.count(), 1);
  });
});

describe("WorkspaceAccess resource and provider serialization", () => {
  const TOKEN = "env-token-that-must-not-be-serialized-1234";
  const CACHED = "cached-token-that-must-not-be-serialized-5678";
  const RESOLVER_KEY = "__smartspaceAdminTokenResolver";
  const registered: pulumi.runtime.MockResourceArgs[] = [];
  let serializedProvider = "";

  useEnv(() => ({ [ADMIN_TOKEN_ENV]: TOKEN }));

  before(async () => {
    const holder = globalThis as unknown as Record<string, unknown>;
    const savedResolver = holder[RESOLVER_KEY];
    try {
      // A token already acquired and cached in this process must stay out of the serialized provider too.
      holder[RESOLVER_KEY] = createTokenResolver({
        env: {},
        credential: { getToken: async () => ({ token: CACHED, expiresOnTimestamp: Date.now() + 3_600_000 }) },
      });
      assert.equal(await resolveAdminToken(SCOPE), CACHED);

      await pulumi.runtime.setMocks(
        {
          newResource: (args) => {
            registered.push(args);
            return { id: `${args.inputs.workspaceId}/${args.inputs.principalId}`, state: args.inputs };
          },
          call: (args) => args.inputs,
        },
        "smartspace-integration",
        "test",
        false,
      );
      const grant = new WorkspaceAccess("claims-bot-" + WORKSPACE, {
        adminApiUrl: "https://admin.smartspace.example",
        workspaceId: WORKSPACE,
        principalId: pulumi.output("0b6f5b2c-1d3e-4f5a-9b8c-7d6e5f4a3b2c"),
        displayName: "claims-bot",
        tokenScope: SCOPE,
      });
      await new Promise<void>((resolve) => grant.id.apply(() => resolve()));
    } finally {
      holder[RESOLVER_KEY] = savedResolver;
    }
    assert.equal(registered.length, 1);
    serializedProvider = registered[0].inputs.__provider as string;
  });

  it("registers a dynamic resource with the provider version and no credentials among its inputs", () => {
    const { type, inputs: props } = registered[0];
    assert.equal(type, "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess");
    const { __provider, ...rest } = props;
    assert.equal(typeof __provider, "string");
    assert.deepEqual(rest, {
      adminApiUrl: "https://admin.smartspace.example",
      workspaceId: WORKSPACE,
      principalId: "0b6f5b2c-1d3e-4f5a-9b8c-7d6e5f4a3b2c",
      principalType: "ServicePrincipal",
      displayName: "claims-bot",
      tokenScope: SCOPE,
      providerVersion: WORKSPACE_ACCESS_PROVIDER_VERSION,
    });
    assert.ok(!JSON.stringify(rest).includes(TOKEN));
  });

  it("serializes a small provider without any token, client or unresolved module reference", () => {
    assertLeanProvider(serializedProvider, PROVIDER_BUDGET_TS_NODE);
    assert.ok(
      !serializedProvider.includes(TOKEN),
      "the environment token leaked into the serialized provider",
    );
    assert.ok(!serializedProvider.includes(CACHED), "a cached token leaked into the serialized provider");
  });

  it("the serialized provider works in Pulumi's real dynamic-provider host process", async function () {
    this.timeout(20_000);
    await exerciseInProviderHost(serializedProvider);
  });

  it("the provider serialized under the program's own loader (tsx, from Pulumi.yaml) works there too", async function () {
    this.timeout(30_000);
    // `pulumi up` loads the program with `node --import tsx`, so the closure serializer sees esbuild's output,
    // not ts-node's: serialize it that way, in a child process, and run the result in the real host.
    const serialized = execFileSync(
      process.execPath,
      ["--import", "tsx", path.join(PROJECT_ROOT, "tests", "support", "serializeProvider.ts")],
      { cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, [ADMIN_TOKEN_ENV]: TOKEN } },
    );
    const text = JSON.parse(serialized) as string;
    assertLeanProvider(text, PROVIDER_BUDGET_TSX);
    assert.ok(!text.includes(TOKEN));
    await exerciseInProviderHost(text);
  });

  it("a host outside the project directory fails with an explanation, and still checks inputs", async function () {
    this.timeout(20_000);
    // The real path: the host reports process.cwd(), which resolves symlinks (macOS's /var, say).
    const elsewhere = realpathSync(mkdtempSync(path.join(tmpdir(), "workspace-access-cwd-")));
    const host = await startProviderHost({ [ADMIN_TOKEN_ENV]: TOKEN }, elsewhere);
    try {
      const props = { ...inputs(), __provider: serializedProvider };
      const checked = await host.call("check", (r) => {
        r.setUrn(
          "urn:pulumi:test::smartspace-integration::pulumi-nodejs:dynamic/smartspace:WorkspaceAccess::g",
        );
        r.setOlds(host.struct({}));
        r.setNews(host.struct(props));
      });
      assert.equal(checked.getFailuresList().length, 0);
      const failure = await rejection(host.call("create", (r) => r.setProperties(host.struct(props))));
      assert.match(
        failure.message,
        new RegExp(`cannot find .*adminApi\\.ts.*run pulumi from the project directory`),
      );
      assert.ok(failure.message.includes(path.join(elsewhere, "lib", "adminApi.ts")));
    } finally {
      await host.stop();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

/**
 * What every serialization of the provider must be: within its size budget, carrying none of the admin-API
 * client (which the host loads from the project at run time), requiring only what the host can resolve by
 * name, and free of anything specific to the machine that serialized it.
 */
function assertLeanProvider(text: string, budget: number): void {
  assert.match(text, /^exports\.handler = /);
  assert.ok(text.length < budget, `the serialized provider is ${text.length} characters, over ${budget}`);
  // In-module `exports.X` references would read undefined in the provider host.
  assert.deepEqual(text.match(/\bexports\.\w+/g), ["exports.handler"]);
  assert.deepEqual([...new Set(text.match(/(?<![\w.])require\([^)]*\)/g))].sort(), [
    'require("node:fs")',
    'require("node:path")',
    'require("tsx/cjs/api")',
  ]);
  for (const marker of ["HttpClient", "backoffDelay", "PrincipalNotFound", "DefaultAzureCredential"]) {
    assert.ok(!text.includes(marker), `${marker} is in the text: the admin-API client was captured by value`);
  }
  assert.ok(!text.includes(PROJECT_ROOT), "the serialized provider holds this machine's project path");
  assert.ok(text.includes(`"${WORKSPACE_ACCESS_PROVIDER_VERSION}"`), "check stamps the provider version");
}

describe("WorkspaceAccess provider version", () => {
  let copy: string;

  /** Copies the provider's sources into a fresh project directory, transformed by `edit`. */
  function copySources(edit: (source: string, text: string) => string = (_source, text) => text): string {
    const root = mkdtempSync(path.join(copy, "project-"));
    for (const source of WORKSPACE_ACCESS_PROVIDER_SOURCES) {
      const target = path.join(root, ...source.split("/"));
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, edit(source, readFileSync(path.join(PROJECT_ROOT, source), "utf8")));
    }
    return root;
  }

  before(() => (copy = mkdtempSync(path.join(tmpdir(), "workspace-access-version-"))));
  after(() => rmSync(copy, { recursive: true, force: true }));

  it("is a short hash of the provider's sources, the same for an identical or CRLF checkout", () => {
    assert.match(WORKSPACE_ACCESS_PROVIDER_VERSION, /^[0-9a-f]{16}$/);
    assert.equal(providerSourceVersion(PROJECT_ROOT), WORKSPACE_ACCESS_PROVIDER_VERSION);
    assert.equal(providerSourceVersion(copySources()), WORKSPACE_ACCESS_PROVIDER_VERSION);
    const windows = copySources((_source, text) => "\uFEFF" + text.replace(/\n/g, "\r\n"));
    assert.equal(providerSourceVersion(windows), WORKSPACE_ACCESS_PROVIDER_VERSION);
  });

  it("changes when any file the provider runs changes, so preview shows the change", () => {
    const seen = new Set([WORKSPACE_ACCESS_PROVIDER_VERSION]);
    for (const changed of WORKSPACE_ACCESS_PROVIDER_SOURCES) {
      const root = copySources((source, text) => (source === changed ? `${text}\n// changed\n` : text));
      const version = providerSourceVersion(root);
      assert.ok(!seen.has(version), `a change to ${changed} left the version at ${version}`);
      seen.add(version);
    }
  });

  it("covers every project module the provider runs: the admin-API client and its local imports", () => {
    assert.ok(WORKSPACE_ACCESS_PROVIDER_SOURCES.includes("lib/adminApi.ts"));
    for (const source of WORKSPACE_ACCESS_PROVIDER_SOURCES) {
      const text = readFileSync(path.join(PROJECT_ROOT, source), "utf8");
      // Value imports and re-exports of local modules (`import type` is erased, so it runs nothing).
      const local = /^\s*(?:import|export)\s+(?!type\b)(?:[^;]*?\sfrom\s*)?"(\.{1,2}\/[^"]+)"/gm;
      for (const [, specifier] of text.matchAll(local)) {
        const resolved = path.posix.join(path.posix.dirname(source), specifier);
        const file = resolved.endsWith(".ts") ? resolved : `${resolved}.ts`;
        assert.ok(
          WORKSPACE_ACCESS_PROVIDER_SOURCES.includes(file),
          `${source} imports ${specifier}: add ${file} to WORKSPACE_ACCESS_PROVIDER_SOURCES`,
        );
      }
    }
  });
});

/** Drives check, create, read (present, then revoked out of band), delete and a failing create in the host. */
async function exerciseInProviderHost(serializedProvider: string): Promise<void> {
  const emulator = await SmartspaceEmulator.start({ workspaces: [{ id: WORKSPACE, name: "Claims" }] });
  const host = await startProviderHost({
    [ADMIN_TOKEN_ENV]: emulator.token,
    [ADMIN_TIME_SCALE_ENV]: TIME_SCALE,
  });
  try {
    const principalId = randomUUID();
    const props = {
      ...inputs({ adminApiUrl: `${emulator.url}/`, principalId }),
      __provider: serializedProvider,
    };

    const checked = await host.call("check", (r) => {
      r.setUrn(
        "urn:pulumi:test::smartspace-integration::pulumi-nodejs:dynamic/smartspace:WorkspaceAccess::g",
      );
      r.setOlds(host.struct({}));
      r.setNews(host.struct({ ...props, workspaceId: WORKSPACE.toUpperCase() }));
    });
    assert.equal(checked.getFailuresList().length, 0);
    const news = checked.getInputs().toJavaScript();
    assert.equal(news.adminApiUrl, emulator.url, "check normalized the URL in the host");
    assert.equal(news.workspaceId, WORKSPACE);

    const created = await host.call("create", (r) => r.setProperties(host.struct(news)));
    const id = created.getId();
    assert.equal(id, `${WORKSPACE}/${principalId}`);
    const state = created.getProperties().toJavaScript();
    assert.equal(state.workspaceName, "Claims");
    assert.ok(emulator.store.getAccess(WORKSPACE, principalId), "granted through the host");

    const present = await host.call("read", (r) => {
      r.setId(id);
      r.setProperties(host.struct(state));
    });
    assert.equal(present.getId(), id);

    emulator.store.deleteAccess(WORKSPACE, principalId);
    const gone = await host.call("read", (r) => {
      r.setId(id);
      r.setProperties(host.struct(state));
    });
    assert.equal(gone.getId(), "", "an empty ID tells the engine the grant was deleted");

    await host.call("delete", (r) => {
      r.setId(id);
      r.setProperties(host.struct(state));
    });
    assert.deepEqual(
      emulator.requestsMatching({ method: "DELETE" }).map((r) => r.status),
      [404],
    );

    const missing = randomUUID();
    const failure = await rejection(
      host.call("create", (r) => r.setProperties(host.struct({ ...news, workspaceId: missing }))),
    );
    assert.match(failure.message, new RegExp(`workspace ${missing} not found at ${emulator.url}`));
    assert.ok(!visible(failure).includes(emulator.token));
    assert.ok(!host.output().includes(emulator.token), "the host printed the token");
  } finally {
    await host.stop();
    await emulator.close();
  }
}

type Rpc = "check" | "create" | "read" | "delete";

interface ProviderHost {
  // The generated protobuf classes are untyped JavaScript here.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  call(method: Rpc, fill: (request: any) => void): Promise<any>;
  struct(value: Record<string, unknown>): any;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `@pulumi/pulumi/cmd/dynamic-provider` the way the engine does (plain node, cwd = the project, no
 * ts-node) and talks gRPC to it, so the test exercises the same deserialization the real host performs.
 */
async function startProviderHost(env: Record<string, string>, cwd = PROJECT_ROOT): Promise<ProviderHost> {
  const pulumiRoot = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  // The host's own gRPC and protobuf modules, resolved from @pulumi/pulumi (they are its dependencies,
  // not this project's), loaded at run time because they ship no type declarations we rely on.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = (name: string) => require(require.resolve(name, { paths: [pulumiRoot] }));
  const grpc = load("@grpc/grpc-js");
  const structproto = load("google-protobuf/google/protobuf/struct_pb");
  const provproto = load("@pulumi/pulumi/proto/provider_pb");
  const provrpc = load("@pulumi/pulumi/proto/provider_grpc_pb");

  const child: ChildProcess = spawn(
    process.execPath,
    [path.join(pulumiRoot, "cmd", "dynamic-provider", "index.js"), "127.0.0.1:1"],
    { cwd, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const port = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error(`provider host did not start: ${output}`)), 15_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /^(\d+)\s*$/m.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`provider host exited with ${code}: ${output}`)));
  });
  const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const requestTypes: Record<Rpc, new () => unknown> = {
    check: provproto.CheckRequest,
    create: provproto.CreateRequest,
    read: provproto.ReadRequest,
    delete: provproto.DeleteRequest,
  };
  return {
    call(method, fill) {
      const request = new requestTypes[method]();
      fill(request);
      return new Promise((resolve, reject) => {
        client[method](request, (error: Error | null, response: unknown) =>
          error ? reject(error) : resolve(response),
        );
      });
    },
    struct: (value) => structproto.Struct.fromJavaScript(value),
    output: () => output,
    async stop() {
      client.close();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill();
        await exited;
      }
    },
  };
}
