/**
 * The WorkspaceAccess dynamic resource: its provider's checks and diffs, its CRUD against the emulator and
 * hostile servers, the shim stored in state (size, contents, and behaviour in Pulumi's real provider host),
 * and the provider version.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { providerSources, providerVersion } from "../components/dynamicProvider";
import {
  WORKSPACE_ACCESS_PROVIDER_VERSION,
  WorkspaceAccess,
  type WorkspaceAccessInputs,
  type WorkspaceAccessOutputs,
  WorkspaceAccessProvider,
} from "../components/workspaceAccess";
import { ADMIN_TIME_SCALE_ENV, ADMIN_TOKEN_ENV } from "../clients/adminApi";
import { SmartspaceEmulator } from "../tools/emulators/smartspaceEmulator";
import { HostileServer } from "./support/hostileServer";
import { everythingVisible, staticCredential } from "./support/httpHelpers";
import { GRANT_URN, PROJECT_ROOT, serializedShim, startProviderHost } from "./support/providerHost";

const WORKSPACE = "9d2f6c1e-7b3a-4c5d-8e9f-0a1b2c3d4e5f";
const SCOPE = "api://11111111-2222-3333-4444-555555555555/.default";
const UNKNOWN = pulumi.runtime.unknownValue as string;
/** Scales the provider's default timings: 30 s timeout -> 300 ms, 2 min replication window -> 1.2 s. */
const TIME_SCALE = "0.01";
/** The budget for the provider text stored (twice) with every grant. */
const SHIM_BUDGET_BYTES = 2048;

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

async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error as Error & Record<string, unknown>;
  }
  assert.fail("expected the call to fail");
}

describe("WorkspaceAccessProvider.check", () => {
  const provider = new WorkspaceAccessProvider();

  it("accepts valid inputs and normalizes them, so spelling alone never replaces a grant", async () => {
    const result = await provider.check(
      inputs(),
      inputs({
        adminApiUrl: "https://ADMIN.smartspace.example.:443/api//",
        workspaceId: WORKSPACE.toUpperCase(),
        principalId: "0B6F5B2C-1D3E-4F5A-9B8C-7D6E5F4A3B2C",
        displayName: "  claims-bot ",
      }),
    );
    assert.deepEqual(result.failures, []);
    assert.deepEqual(result.inputs, inputs());
  });

  it("defaults principalType to ServicePrincipal", async () => {
    const { principalType: _type, ...bare } = inputs();
    const result = await provider.check(inputs(), bare as WorkspaceAccessInputs);
    assert.deepEqual(result.failures, []);
    assert.equal(result.inputs?.principalType, "ServicePrincipal");
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
        providerVersion: "",
      }),
    );
    const failures = result.failures ?? [];
    assert.deepEqual(
      failures.map((f) => f.property),
      [
        "adminApiUrl",
        "workspaceId",
        "principalId",
        "principalType",
        "displayName",
        "tokenScope",
        "providerVersion",
      ],
    );
    assert.match(
      failures[0].reason,
      /adminApiUrl use an absolute https:\/\/ URL.*"http:\/\/admin.smartspace.example"/,
    );
    assert.match(failures[1].reason, /workspaceId must be a Smartspace workspace ID \(a GUID.*"claims"/);
    assert.match(failures[2].reason, /principalId must be the service principal's object ID/);
    assert.match(failures[3].reason, /ServicePrincipal, User, Group/);
    assert.match(failures[5].reason, /ending in \/\.default/);
  });

  it("refuses plain http (the emulators included) and credentials in the URL", async () => {
    for (const url of [
      "http://127.0.0.1:8080",
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

  it("reports no change when only the spelling of an ID or the admin API's address differs", async () => {
    for (const change of [
      { workspaceId: WORKSPACE.toUpperCase() },
      { adminApiUrl: "https://admin.smartspace.example/api/" },
      { adminApiUrl: "https://Admin.SmartSpace.Example/api" },
      { adminApiUrl: "https://admin.smartspace.example:443/api" },
      { adminApiUrl: "https://admin.smartspace.example./api" },
    ]) {
      assert.equal((await provider.diff(id, olds, inputs(change))).changes, false, JSON.stringify(change));
    }
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

  it("replaces, deleting first, when the workspace, principal or API endpoint changes", async () => {
    for (const [property, value] of [
      ["workspaceId", randomUUID()],
      ["principalId", randomUUID()],
      ["adminApiUrl", "https://admin.other.example"],
      ["adminApiUrl", "https://admin.smartspace.example:8443/api"],
      ["adminApiUrl", "https://admin.smartspace.example/API"],
      ["principalId", UNKNOWN],
    ] as const) {
      const result = await provider.diff(id, olds, inputs({ [property]: value }));
      assert.deepEqual(
        result,
        { changes: true, replaces: [property], deleteBeforeReplace: true },
        `${property} ${value}`,
      );
    }
  });
});

describe("WorkspaceAccessProvider against the emulator", () => {
  let emulator: SmartspaceEmulator;
  let provider: WorkspaceAccessProvider;
  let tokensAsked = 0;
  const saved = process.env[ADMIN_TIME_SCALE_ENV];

  before(async () => {
    process.env[ADMIN_TIME_SCALE_ENV] = TIME_SCALE;
    emulator = await SmartspaceEmulator.start({ workspaces: [{ id: WORKSPACE, name: "Claims" }] });
  });
  after(async () => {
    await emulator.close();
    if (saved === undefined) delete process.env[ADMIN_TIME_SCALE_ENV];
    else process.env[ADMIN_TIME_SCALE_ENV] = saved;
  });
  beforeEach(() => {
    emulator.reset();
    emulator.store.replicationDelayMs = 0;
    tokensAsked = 0;
    const credential = staticCredential(emulator.token);
    provider = new WorkspaceAccessProvider({
      clientOptions: {
        agent: emulator.agent(),
        credential: { getToken: async () => (tokensAsked++, credential.getToken()) },
      },
    });
  });

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
    const error = await failure(provider.create(grantInputs({ workspaceId: missing })));
    assert.match(error.message, new RegExp(`^workspace ${missing} not found at ${emulator.url}`));
    assert.equal(emulator.count({ method: "PUT" }), 0);
  });

  it("asks for the admin token once for many grants, however many run at once", async () => {
    await Promise.all(Array.from({ length: 10 }, () => provider.create(grantInputs())));
    assert.equal(tokensAsked, 1);
  });

  it("read reports a present grant, and a grant revoked out of band as gone (no ID)", async () => {
    const news = grantInputs();
    const { id, outs } = await provider.create(news);
    assert.deepEqual(await provider.read(id, outs), { id, props: outs });
    emulator.store.deleteAccess(WORKSPACE, news.principalId);
    assert.deepEqual(await provider.read(id, outs), {}, "no ID: the engine treats the resource as deleted");
  });

  it("read after an out-of-band rename surfaces the drift, which diff turns into an update", async () => {
    const news = grantInputs();
    const { id, outs } = await provider.create(news);
    emulator.store.putAccess(WORKSPACE, {
      principalId: news.principalId,
      principalType: "ServicePrincipal",
      displayName: "renamed",
    });
    const result = await provider.read(id, outs);
    assert.equal(result.props?.displayName, "renamed");
    assert.deepEqual(await provider.diff(id, result.props!, news), {
      changes: true,
      replaces: [],
      deleteBeforeReplace: false,
    });
  });

  it("update re-grants with the new display name; delete revokes, also when already revoked", async () => {
    const news = grantInputs();
    const { id, outs } = await provider.create(news);
    const updated = await provider.update(id, outs!, { ...news, displayName: "claims-bot (prod)" });
    assert.equal(updated.outs?.displayName, "claims-bot (prod)");
    assert.equal(updated.outs?.workspaceName, "Claims");
    await provider.delete(id, outs!);
    await provider.delete(id, outs!);
    assert.equal(emulator.store.getAccess(WORKSPACE, news.principalId), undefined);
    assert.deepEqual(
      emulator.requestsMatching({ method: "DELETE" }).map((r) => r.status),
      [204, 404],
    );
  });

  it("create rides out throttling, 503, a slow response and a dropped connection", async () => {
    emulator.faults.throttle({ retryAfter: 0 }).unavailable().slow({ delayMs: 1_000 }).drop();
    const news = grantInputs();
    assert.equal((await provider.create(news)).id, `${WORKSPACE}/${news.principalId}`);
    assert.equal(emulator.faults.pending(), 0);
  });

  it("create waits for a new service principal to replicate, and gives up within the window with why", async () => {
    emulator.store.replicationDelayMs = 200;
    await provider.create(grantInputs());
    assert.ok(emulator.count({ status: 409 }) >= 1);

    emulator.store.replicationDelayMs = 3_600_000;
    const started = Date.now();
    const error = await failure(provider.create(grantInputs()));
    assert.match(error.message, /409 PrincipalNotFound.*replicate through the Entra ID directory/);
    assert.ok(Date.now() - started < 2_500, "within the scaled 1.2 s window");
    assert.equal(error.id, undefined, "a refusal is not an outcome in doubt");
  });
});

describe("WorkspaceAccessProvider against a broken admin API", () => {
  let hostile: HostileServer;
  let provider: WorkspaceAccessProvider;
  const principal = "0b6f5b2c-1d3e-4f5a-9b8c-7d6e5f4a3b2c";
  const workspace = { id: WORKSPACE, name: "Claims" };

  before(async () => {
    hostile = await HostileServer.start();
    provider = new WorkspaceAccessProvider({
      clientOptions: {
        agent: hostile.agent,
        credential: staticCredential("hostile-admin-token-0123456789"),
        maxRetries: 0,
      },
    });
  });
  after(() => hostile.close());
  beforeEach(() => hostile.reset());

  /** Answers the workspace GET with `workspaceAnswer`, and the grant PUT with `grantAnswer`. */
  function script(workspaceAnswer: [number, unknown], grantAnswer: [number, unknown]): void {
    hostile.handler = (request, response) => {
      const [status, body] = request.method === "GET" ? workspaceAnswer : grantAnswer;
      response
        .writeHead(status, { "content-type": "application/json" })
        .end(body === undefined ? "" : JSON.stringify(body));
    };
  }

  it("grants nothing when the workspace's answer breaks the contract", async () => {
    for (const answer of [{ id: randomUUID(), name: "Other" }, null, { name: "no id" }]) {
      hostile.reset();
      script(
        [200, answer],
        [201, { principalId: principal, principalType: "ServicePrincipal", displayName: "x" }],
      );
      await failure(provider.create(inputs({ adminApiUrl: hostile.url })));
      assert.deepEqual(
        hostile.requests.map((r) => r.method),
        ["GET"],
        `no PUT after ${JSON.stringify(answer)}`,
      );
    }
  });

  it("keeps a grant whose outcome is unknown in state (with its provider), instead of losing it", async () => {
    const props = { ...inputs({ adminApiUrl: hostile.url }), __provider: "the serialized shim" };
    for (const answer of [
      [200, { principalId: randomUUID(), principalType: "ServicePrincipal", displayName: "x" }],
      [201, null],
      [502, { error: "BadGateway" }],
    ] as [number, unknown][]) {
      script([200, workspace], answer);
      const error = await failure(provider.create(props));
      assert.equal(error.id, `${WORKSPACE}/${principal}`, JSON.stringify(answer));
      const properties = error.properties as Record<string, unknown>;
      assert.equal(
        properties.__provider,
        "the serialized shim",
        "later refresh and destroy can load the provider",
      );
      assert.equal(properties.principalId, principal);
      assert.match(error.message, /The grant may exist: it is kept in state/);
    }
  });

  it("fails plainly when the grant was refused, so nothing enters state", async () => {
    script([200, workspace], [403, { error: "Forbidden" }]);
    const error = await failure(provider.create(inputs({ adminApiUrl: hostile.url })));
    assert.equal(error.id, undefined);
    assert.match(error.message, /lacks Smartspace admin rights/);
  });

  it("a refresh that gets another principal's grant fails instead of dropping the live grant", async () => {
    hostile.json(200, { principalId: randomUUID(), principalType: "ServicePrincipal", displayName: "x" });
    const outs = { ...inputs({ adminApiUrl: hostile.url }), workspaceName: "Claims" };
    await failure(provider.read(`${WORKSPACE}/${principal}`, outs));
  });

  it("a redirect on revoke is an error, never a success, and is not followed", async () => {
    hostile.handler = (_request, response) =>
      response.writeHead(303, { location: "https://127.0.0.1:1/ok" }).end();
    const outs = { ...inputs({ adminApiUrl: hostile.url }), workspaceName: "Claims" };
    const error = await failure(provider.delete(`${WORKSPACE}/${principal}`, outs));
    assert.match(error.message, /redirecting to https:\/\/127\.0\.0\.1:1\/ok, which is not followed/);
    assert.ok(!everythingVisible(error).includes("hostile-admin-token-0123456789"));
  });
});

describe("WorkspaceAccess in state: the shim and its host", () => {
  const TOKEN = "env-token-that-must-not-be-serialized-1234";
  let serialized = "";
  let registered: pulumi.runtime.MockResourceArgs | undefined;

  before(async function () {
    this.timeout(30_000);
    // Exactly what `pulumi up` stores: serialized by the SDK under the program's own loader (Pulumi.yaml's
    // nodeargs), in a process holding an admin token.
    serialized = serializedShim({ [ADMIN_TOKEN_ENV]: TOKEN });
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          registered = args;
          return { id: `${args.inputs.workspaceId}/${args.inputs.principalId}`, state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "smartspace-integration",
      "test",
      false,
    );
    const grant = new WorkspaceAccess("claims-bot", {
      adminApiUrl: "https://admin.smartspace.example",
      workspaceId: WORKSPACE,
      principalId: pulumi.output("0b6f5b2c-1d3e-4f5a-9b8c-7d6e5f4a3b2c"),
      displayName: "claims-bot",
      tokenScope: SCOPE,
    });
    await new Promise<void>((resolve) => grant.id.apply(() => resolve()));
  });

  it("registers the resource type and inputs existing stacks have, and no credential", () => {
    assert.equal(registered?.type, "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess");
    const { __provider, ...rest } = registered!.inputs;
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
  });

  it(`stores a shim within ${SHIM_BUDGET_BYTES} bytes that loads the project's providers, and nothing else`, () => {
    const bytes = Buffer.byteLength(serialized);
    assert.ok(bytes <= SHIM_BUDGET_BYTES, `the serialized provider is ${bytes} bytes`);
    assert.match(serialized, /^exports\.handler = /);
    assert.deepEqual(
      [...new Set(serialized.match(/(?<![\w.])require\([^)]*\)/g))],
      ['require("tsx/cjs/api")'],
    );
    assert.ok(serialized.includes("/providers/index.ts"));
    for (const absent of [TOKEN, PROJECT_ROOT, "AdminApiClient", "HttpClient", "PrincipalNotFound"]) {
      assert.ok(!serialized.includes(absent), `${absent} is in the stored provider`);
    }
  });

  it("runs check, create, read, diff, update and delete in Pulumi's real provider host", async function () {
    this.timeout(30_000);
    const emulator = await SmartspaceEmulator.start({ workspaces: [{ id: WORKSPACE, name: "Claims" }] });
    const host = await startProviderHost({
      [ADMIN_TOKEN_ENV]: emulator.token,
      [ADMIN_TIME_SCALE_ENV]: TIME_SCALE,
      NODE_EXTRA_CA_CERTS: emulator.tls.caFile,
    });
    try {
      const principalId = randomUUID();
      const props = { ...inputs({ adminApiUrl: `${emulator.url}/`, principalId }), __provider: serialized };
      const checked = await host.call("check", (r) => {
        r.setUrn(GRANT_URN);
        r.setOlds(host.struct({}));
        r.setNews(host.struct({ ...props, workspaceId: WORKSPACE.toUpperCase() }));
      });
      assert.equal(checked.getFailuresList().length, 0);
      const news = checked.getInputs().toJavaScript();
      assert.equal(news.adminApiUrl, emulator.url, "check normalized the URL in the host");

      const created = await host.call("create", (r) => r.setProperties(host.struct(news)));
      const id = created.getId();
      const state = created.getProperties().toJavaScript();
      assert.equal(state.workspaceName, "Claims");
      assert.equal(state.__provider, serialized, "the host stores the shim with the outputs");
      assert.ok(emulator.store.getAccess(WORKSPACE, principalId), "granted through the host");

      const renamed = { ...news, displayName: "claims-bot (prod)" };
      const diff = await host.call("diff", (r) => {
        r.setId(id);
        r.setUrn(GRANT_URN);
        r.setOlds(host.struct(state));
        r.setNews(host.struct(renamed));
      });
      assert.equal(diff.getChanges(), 2 /* DIFF_SOME */);
      assert.deepEqual(diff.getReplacesList(), []);
      await host.call("update", (r) => {
        r.setId(id);
        r.setUrn(GRANT_URN);
        r.setOlds(host.struct(state));
        r.setNews(host.struct(renamed));
      });
      assert.equal(emulator.store.getAccess(WORKSPACE, principalId)?.displayName, "claims-bot (prod)");

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

      const missing = randomUUID();
      const error = await failure(
        host.call("create", (r) => r.setProperties(host.struct({ ...news, workspaceId: missing }))),
      );
      assert.match(error.message, new RegExp(`workspace ${missing} not found at ${emulator.url}`));
      assert.ok(
        !everythingVisible(error).includes(emulator.token) && !host.output().includes(emulator.token),
      );
    } finally {
      await host.stop();
      await emulator.close();
    }
  });
});

describe("WorkspaceAccess provider version", () => {
  let copy: string;
  const sources = providerSources("providers/workspaceAccess.ts");

  /** A copy of the project's sources with one file rewritten. */
  function withEdit(file: string, edit: (text: string) => string): string {
    const root = mkdtempSync(path.join(copy, "project-"));
    for (const dir of ["cli", "clients", "components", "providers", "rules"]) {
      cpSync(path.join(PROJECT_ROOT, dir), path.join(root, dir), { recursive: true });
    }
    writeFileSync(path.join(root, file), edit(readFileSync(path.join(PROJECT_ROOT, file), "utf8")));
    return root;
  }

  before(() => (copy = mkdtempSync(path.join(tmpdir(), "workspace-access-version-"))));
  after(() => rmSync(copy, { recursive: true, force: true }));

  it("covers the provider, the admin-API client with its imports, the shared rules and the shim", () => {
    for (const file of [
      "providers/workspaceAccess.ts",
      "clients/adminApi.ts",
      "clients/http.ts",
      "rules/urls.ts",
      "components/dynamicProvider.ts",
    ]) {
      assert.ok(sources.includes(file), `${file} is not in ${sources.join(", ")}`);
    }
    assert.ok(!sources.some((file) => file.startsWith("cli/")));
  });

  it("changes when code the provider runs changes, so preview shows an update of each grant", () => {
    const seen = new Set([WORKSPACE_ACCESS_PROVIDER_VERSION]);
    for (const file of sources) {
      const version = providerVersion(
        "providers/workspaceAccess.ts",
        withEdit(file, (text) => `${text}\nexport const changed = 1;\n`),
      );
      assert.ok(!seen.has(version), `a change to ${file} left the version at ${version}`);
      seen.add(version);
    }
  });

  it("stays the same for unrelated code, comment edits, and a CRLF checkout", () => {
    const same = (root: string) =>
      assert.equal(providerVersion("providers/workspaceAccess.ts", root), WORKSPACE_ACCESS_PROVIDER_VERSION);
    same(withEdit("cli/verify/engine.ts", (text) => `${text}\nexport const unrelated = 1;\n`));
    same(withEdit("clients/http.ts", (text) => text.replace("/**", "/**\n * A new line of documentation.")));
    same(withEdit("clients/adminApi.ts", (text) => `// a new comment\n${text.replace(/\n/g, "\r\n")}`));
  });
});
