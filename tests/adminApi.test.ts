import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as https from "node:https";
import * as net from "node:net";
import { inspect } from "node:util";

import {
  ADMIN_API_DEFAULTS,
  ADMIN_TIME_SCALE_ENV,
  ADMIN_TOKEN_ENV,
  AdminApiClient,
  AdminApiClientOptions,
  adminApiScope,
  adminApiTimings,
  createTokenResolver,
  TokenCredentialLike,
} from "../clients/adminApi";
import {
  HttpClient,
  HttpClientOptions,
  HttpError,
  backoffDelay,
  encodePath,
  excerpt,
  isTransientError,
  parseRetryAfter,
  redact,
} from "../clients/http";
import { generate } from "selfsigned";

import {
  RouteContext,
  SmartspaceEmulator,
  SmartspaceEmulatorOptions,
} from "../tools/emulators/smartspaceEmulator";

const WORKSPACE = "4f0c8a52-3a51-4e0e-9a7e-0a5b7a1c2d3e";
const SCOPE = adminApiScope("11111111-2222-3333-4444-555555555555");

/** Every text a failure can surface through: message, stack, fields, util.inspect. */
function everythingVisible(error: unknown): string {
  return [
    String(error),
    error instanceof Error ? error.stack : "",
    JSON.stringify(error),
    inspect(error, { depth: 5 }),
  ].join("\n");
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the call to fail");
}

/** A port on 127.0.0.1 with nothing listening. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("lib/http", () => {
  let emulator: SmartspaceEmulator;

  before(async () => {
    emulator = await SmartspaceEmulator.start({ workspaces: [{ id: WORKSPACE, name: "Claims" }] });
  });
  after(() => emulator.close());
  beforeEach(() => emulator.reset());

  function client(overrides: Partial<HttpClientOptions> = {}): HttpClient {
    return new HttpClient({
      baseUrl: emulator.url,
      getToken: async () => emulator.token,
      timeoutMs: 2_000,
      deadlineMs: 5_000,
      backoffBaseMs: 5,
      backoffMaxMs: 20,
      ...overrides,
    });
  }

  describe("helpers", () => {
    it("parses Retry-After as delta-seconds and as an HTTP date", () => {
      const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
      assert.equal(parseRetryAfter("120", now), 120_000);
      assert.equal(parseRetryAfter(" 0 ", now), 0);
      assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:03 GMT", now), 3_000);
      assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0, "a past date means now");
      assert.equal(parseRetryAfter("soon", now), undefined);
      assert.equal(parseRetryAfter("-5", now), undefined);
      assert.equal(parseRetryAfter(null, now), undefined);
    });

    it("backs off exponentially with jitter, capped at the maximum", () => {
      const at = (retry: number, random: number) =>
        backoffDelay(retry, { baseMs: 100, maxMs: 1_000, random: () => random });
      assert.deepEqual(
        [1, 2, 3, 4].map((r) => at(r, 0)),
        [50, 100, 200, 400],
      );
      assert.deepEqual(
        [1, 2, 3, 4].map((r) => at(r, 0.999)),
        [100, 200, 400, 800],
      );
      assert.equal(at(10, 0.999), 1_000);
      assert.equal(at(10, 0), 500);
    });

    it("percent-encodes each path segment and refuses segments that would change the path", () => {
      assert.equal(encodePath(["workspaces", "a/b c?#%", "access"]), "/workspaces/a%2Fb%20c%3F%23%25/access");
      for (const bad of ["", ".", ".."]) {
        assert.throws(() => encodePath(["workspaces", bad]), /invalid URL path segment/);
      }
    });

    it("redacts the given secrets, bearer values and JWTs from any text", () => {
      const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly94In0.c2lnbmF0dXJl";
      const text = `token=s3cr3t-value; Authorization: Bearer abc.def-ghi_0123456789; id_token ${jwt}`;
      const clean = redact(text, ["s3cr3t-value"]);
      assert.ok(
        !clean.includes("s3cr3t-value") && !clean.includes("abc.def-ghi_0123456789") && !clean.includes(jwt),
        clean,
      );
      assert.match(clean, /Bearer \[REDACTED\]/);
      assert.equal(excerpt("x".repeat(1_000)).length, 300);
      assert.equal(excerpt("  a \n\n b  "), "a b");
    });

    it("classifies 408, 429, 5xx, timeouts and network errors as transient, other statuses not", () => {
      const err = (status?: number, kind: HttpError["kind"] = "status") =>
        new HttpError({ kind, method: "GET", url: "http://x", status });
      assert.deepEqual(
        [408, 429, 500, 503, 400, 401, 403, 404, 409].map((s) => isTransientError(err(s))),
        [true, true, true, true, false, false, false, false, false],
      );
      assert.equal(isTransientError(err(undefined, "timeout")), true);
      assert.equal(isTransientError(err(undefined, "network")), true);
      assert.equal(isTransientError(err(undefined, "token")), false);
    });
  });

  describe("requests against the emulator", () => {
    it("keeps the base URL's path prefix and encodes segments on the wire", async () => {
      const prefixed = client({ baseUrl: `${emulator.url}/prefix/` });
      assert.equal(prefixed.url(["workspaces", "a/b"]), `${emulator.url}/prefix/workspaces/a%2Fb`);
      const error = await rejection(client().request("GET", ["workspaces", "x/y"]));
      assert.ok(error instanceof HttpError && error.status === 404, String(error));
      assert.match(
        error.bodyExcerpt ?? "",
        /Workspace x\/y was not found/,
        "the slash stayed inside one segment",
      );
    });

    it("retries 503 for GET and succeeds", async () => {
      emulator.faults.unavailable({ times: 2 });
      const response = await client().request<{ name: string }>("GET", ["workspaces", WORKSPACE]);
      assert.equal(response.body.name, "Claims");
      assert.deepEqual(
        emulator.requests.map((r) => r.status),
        [503, 503, 200],
      );
    });

    it("never retries a non-idempotent POST on its own, but does when retryOn allows it", async () => {
      emulator.faults.unavailable({ times: 1 });
      const error = await rejection(client().request("POST", ["workspaces"], { body: {} }));
      assert.ok(error instanceof HttpError && error.status === 503 && error.attempts === 1, String(error));
      assert.equal(emulator.count(), 1);

      emulator.reset();
      emulator.faults.throttle({ retryAfter: 0 });
      const again = await rejection(
        client().request("POST", ["workspaces"], { body: {}, retryOn: (e) => e.status === 429 }),
      );
      assert.ok(again instanceof HttpError && again.status === 404, "the retry reached the router");
      assert.deepEqual(
        emulator.requests.map((r) => r.status),
        [429, 404],
      );
    });

    it("gives up after maxRetries with the attempt count in the message", async () => {
      emulator.faults.unavailable({ times: 10 });
      const error = await rejection(client({ maxRetries: 2 }).request("GET", ["workspaces", WORKSPACE]));
      assert.ok(error instanceof HttpError);
      assert.equal(error.attempts, 3);
      assert.match(error.message, /returned HTTP 503 after 3 attempts \(giving up after 2 retries\)/);
      assert.equal(emulator.count(), 3);
    });

    it("honours Retry-After in seconds", async () => {
      const waits: number[] = [];
      emulator.faults.throttle({ retryAfter: 2 });
      const response = await client({ sleep: async (ms) => void waits.push(ms) }).request("GET", [
        "workspaces",
        WORKSPACE,
      ]);
      assert.equal(response.status, 200);
      assert.deepEqual(waits, [2_000]);
    });

    it("honours Retry-After as an HTTP date, and really waits for it", async () => {
      const started = Date.now();
      emulator.faults.throttle({ retryAfter: new Date(Date.now() + 1_500) });
      const response = await client().request("GET", ["workspaces", WORKSPACE]);
      const elapsed = Date.now() - started;
      assert.equal(response.status, 200);
      // HTTP dates have one-second resolution, so the wait is between 0.5 and 1.5 s.
      assert.ok(elapsed >= 450 && elapsed < 2_000, `waited ${elapsed} ms`);
      assert.deepEqual(
        emulator.requests.map((r) => r.status),
        [429, 200],
      );
    });

    it("fails at once when Retry-After points beyond the deadline", async () => {
      emulator.faults.throttle({ retryAfter: 3_600 });
      const started = Date.now();
      const error = await rejection(client().request("GET", ["workspaces", WORKSPACE]));
      assert.ok(Date.now() - started < 1_000);
      assert.ok(error instanceof HttpError && error.status === 429);
      assert.match(error.message, /asked to retry after 3600 s, beyond the 5000 ms deadline/);
      assert.equal(emulator.count(), 1);
    });

    it("times out a slow response and retries it", async () => {
      emulator.faults.slow({ delayMs: 1_000 });
      const started = Date.now();
      const response = await client({ timeoutMs: 150 }).request("GET", ["workspaces", WORKSPACE]);
      assert.equal(response.status, 200);
      assert.ok(Date.now() - started < 900, "did not wait for the slow response");
      assert.equal(emulator.requests.length, 1, "the slow request is still pending on the server");
      assert.equal(emulator.requests[0].status, 200);
    });

    it("stops at the overall deadline when every attempt is slow", async () => {
      emulator.faults.slow({ delayMs: 2_000, times: 50 });
      const started = Date.now();
      const error = await rejection(
        client({ timeoutMs: 100, deadlineMs: 400, maxRetries: 50 }).request("GET", ["workspaces", WORKSPACE]),
      );
      const elapsed = Date.now() - started;
      assert.ok(error instanceof HttpError && error.kind === "timeout", String(error));
      assert.ok(elapsed >= 350 && elapsed < 1_200, `took ${elapsed} ms`);
      assert.match(error.message, /timed out after \d+ attempts/);
    });

    it("retries a dropped connection", async () => {
      emulator.faults.drop({ times: 2 });
      const response = await client().request("GET", ["workspaces", WORKSPACE]);
      assert.equal(response.status, 200);
      assert.deepEqual(
        emulator.requests.map((r) => r.status),
        ["dropped", "dropped", 200],
      );
    });

    it("reports a refused connection as a network error after retrying", async () => {
      const port = await closedPort();
      const error = await rejection(
        client({ baseUrl: `http://127.0.0.1:${port}`, maxRetries: 2 }).request("GET", [
          "workspaces",
          WORKSPACE,
        ]),
      );
      assert.ok(error instanceof HttpError && error.kind === "network", String(error));
      assert.equal(error.attempts, 3);
      assert.match(error.message, /ECONNREFUSED/);
    });

    it("keeps the token out of errors even when the server echoes it", async () => {
      emulator.faults.status({
        status: 500,
        times: 10,
        bodyFrom: (request) => ({
          error: "Boom",
          echoed: request.headers.authorization,
          raw: emulator.token,
        }),
      });
      const error = await rejection(client({ maxRetries: 1 }).request("GET", ["workspaces", WORKSPACE]));
      assert.ok(error instanceof HttpError && error.status === 500);
      assert.match(error.bodyExcerpt ?? "", /Bearer \[REDACTED\]/);
      assert.ok(!everythingVisible(error).includes(emulator.token));
    });

    it("returns undefined for an empty success body and rejects a non-JSON one", async () => {
      emulator.faults.status({ status: 200, body: "<html>not json</html>" });
      const error = await rejection(client().request("GET", ["workspaces", WORKSPACE]));
      assert.ok(error instanceof HttpError && error.kind === "invalid-response", String(error));
      assert.equal(emulator.count(), 1, "a malformed success is not retried");
      emulator.faults.status({ status: 204 });
      const empty = await client().request("GET", ["workspaces", WORKSPACE], { expect: [204] });
      assert.equal(empty.body, undefined);
    });
  });
});

describe("lib/adminApi", () => {
  let emulator: SmartspaceEmulator;
  const NON_ADMIN = "token-of-a-user-without-admin-rights";

  before(async () => {
    emulator = await SmartspaceEmulator.start({
      workspaces: [{ id: WORKSPACE, name: "Claims" }],
      nonAdminTokens: [NON_ADMIN],
    });
  });
  after(() => emulator.close());
  beforeEach(() => {
    emulator.reset();
    emulator.store.replicationDelayMs = 0;
  });

  function admin(overrides: Partial<AdminApiClientOptions> = {}): AdminApiClient {
    return new AdminApiClient({
      adminApiUrl: emulator.url,
      tokenScope: SCOPE,
      getToken: async () => emulator.token,
      timeoutMs: 1_000,
      deadlineMs: 3_000,
      backoffBaseMs: 5,
      backoffMaxMs: 20,
      principalNotFoundWindowMs: 1_000,
      principalNotFoundBackoffBaseMs: 20,
      principalNotFoundBackoffMaxMs: 100,
      ...overrides,
    });
  }

  describe("the contract", () => {
    it("reads a workspace", async () => {
      assert.deepEqual(await admin().getWorkspace(WORKSPACE), { id: WORKSPACE, name: "Claims" });
    });

    it("grants, re-grants idempotently, reads, lists and revokes", async () => {
      const principal = randomUUID();
      const api = admin();
      const first = await api.grantAccess(WORKSPACE, principal, {
        principalType: "ServicePrincipal",
        displayName: "claims-bot",
      });
      assert.deepEqual(first, {
        created: true,
        entry: { principalId: principal, principalType: "ServicePrincipal", displayName: "claims-bot" },
      });
      const second = await api.grantAccess(WORKSPACE, principal, {
        principalType: "ServicePrincipal",
        displayName: "claims-bot (renamed)",
      });
      assert.equal(second.created, false);
      assert.equal(
        emulator.store.listAccess(WORKSPACE)?.filter((e) => e.principalId === principal).length,
        1,
      );

      assert.deepEqual(await api.getAccess(WORKSPACE, principal), {
        principalId: principal,
        principalType: "ServicePrincipal",
        displayName: "claims-bot (renamed)",
      });
      assert.ok((await api.listAccess(WORKSPACE)).some((e) => e.principalId === principal));

      assert.equal(await api.revokeAccess(WORKSPACE, principal), true);
      assert.equal(await api.getAccess(WORKSPACE, principal), undefined);
      assert.equal(await api.revokeAccess(WORKSPACE, principal), false, "revoking an absent grant succeeds");
      assert.deepEqual(
        emulator.requests.map((r) => `${r.method} ${r.status}`),
        ["PUT 201", "PUT 200", "GET 200", "GET 200", "DELETE 204", "GET 404", "DELETE 404"],
      );
    });

    it("sees a grant removed out of band as absent", async () => {
      const principal = randomUUID();
      await admin().grantAccess(WORKSPACE, principal, {
        principalType: "ServicePrincipal",
        displayName: "x",
      });
      emulator.store.deleteAccess(WORKSPACE, principal);
      assert.equal(await admin().getAccess(WORKSPACE, principal), undefined);
    });

    it("uses SMARTSPACE_ADMIN_TOKEN when no token source is given", async () => {
      const saved = process.env[ADMIN_TOKEN_ENV];
      process.env[ADMIN_TOKEN_ENV] = emulator.token;
      try {
        const api = new AdminApiClient({ adminApiUrl: emulator.url, tokenScope: SCOPE });
        assert.equal((await api.getWorkspace(WORKSPACE)).name, "Claims");
      } finally {
        if (saved === undefined) {
          delete process.env[ADMIN_TOKEN_ENV];
        } else {
          process.env[ADMIN_TOKEN_ENV] = saved;
        }
      }
    });
  });

  describe("failures that must not be retried", () => {
    it("404 on a workspace says which workspace and where, after one request", async () => {
      const missing = randomUUID();
      const error = await rejection(admin().getWorkspace(missing));
      assert.ok(error instanceof HttpError);
      assert.match(error.message, new RegExp(`^workspace ${missing} not found at ${emulator.url}\\. GET `));
      assert.equal(emulator.count(), 1);
    });

    it("401 names a missing or expired token, after one request", async () => {
      const error = await rejection(
        admin({ getToken: async () => "expired-token-value" }).getWorkspace(WORKSPACE),
      );
      assert.ok(error instanceof HttpError && error.status === 401);
      assert.match(error.message, /rejected the bearer token \(401 Unauthorized\): it is missing or expired/);
      assert.match(error.message, new RegExp(SCOPE.replace(/[./]/g, "\\$&")));
      assert.ok(!everythingVisible(error).includes("expired-token-value"));
      assert.equal(emulator.count(), 1);
    });

    it("403 says the deployer lacks Smartspace admin rights, after one request", async () => {
      const error = await rejection(
        admin({ getToken: async () => NON_ADMIN }).grantAccess(WORKSPACE, randomUUID(), {
          principalType: "ServicePrincipal",
          displayName: "x",
        }),
      );
      assert.ok(error instanceof HttpError && error.status === 403);
      assert.match(error.message, /lacks Smartspace admin rights \(403 Forbidden\)/);
      assert.ok(!everythingVisible(error).includes(NON_ADMIN));
      assert.equal(emulator.count(), 1);
    });

    it("400 fails at once with the server's explanation", async () => {
      const error = await rejection(
        admin().grantAccess(WORKSPACE, "not-a-guid", { principalType: "ServicePrincipal", displayName: "x" }),
      );
      assert.ok(error instanceof HttpError && error.status === 400);
      assert.match(error.message, /malformed.*principalId must be an object ID/);
      assert.equal(emulator.count(), 1);
    });

    it("a token that cannot be obtained fails without sending anything", async () => {
      const error = await rejection(
        admin({
          getToken: async () => {
            throw new Error("AADSTS700016: application not found");
          },
        }).getWorkspace(WORKSPACE),
      );
      assert.ok(error instanceof HttpError && error.kind === "token");
      assert.match(error.message, /Could not authenticate.*AADSTS700016/);
      assert.equal(emulator.count(), 0);
    });
  });

  describe("faults that recover within their bounds", () => {
    const grant = { principalType: "ServicePrincipal", displayName: "x" } as const;

    it("429 (seconds), 503, a slow response and a dropped connection on one grant", async () => {
      const principal = randomUUID();
      emulator.faults.throttle({ retryAfter: 0 }).unavailable().slow({ delayMs: 1_500 }).drop();
      const started = Date.now();
      const result = await admin({ timeoutMs: 200 }).grantAccess(WORKSPACE, principal, grant);
      assert.equal(result.created, true);
      assert.ok(Date.now() - started < 1_400);
      assert.deepEqual(
        emulator.requests.map((r) => r.fault ?? r.status),
        ["throttle", "unavailable", "drop", 201],
        "the slow attempt is still pending on the server when the retry succeeds",
      );
      assert.equal(emulator.store.getAccess(WORKSPACE, principal)?.displayName, "x");
    });

    it("409 PrincipalNotFound for the first calls is retried until the grant succeeds", async () => {
      const principal = randomUUID();
      emulator.faults.principalNotFound({ times: 3 });
      const retries: number[] = [];
      const result = await admin({ onRetry: (e) => retries.push(e.error.status ?? 0) }).grantAccess(
        WORKSPACE,
        principal,
        grant,
      );
      assert.equal(result.created, true);
      assert.deepEqual(retries, [409, 409, 409]);
      assert.equal(emulator.count({ method: "PUT" }), 4);
    });

    it("a principal that replicates after a delay is granted once visible", async () => {
      emulator.store.replicationDelayMs = 150;
      const result = await admin().grantAccess(WORKSPACE, randomUUID(), grant);
      assert.equal(result.created, true);
      assert.ok(emulator.count({ status: 409 }) >= 1);
    });

    it("409 PrincipalNotFound beyond the window fails with an explanation of replication", async () => {
      emulator.store.replicationDelayMs = 60_000;
      const started = Date.now();
      const principal = randomUUID();
      const error = await rejection(
        admin({ principalNotFoundWindowMs: 400 }).grantAccess(WORKSPACE, principal, grant),
      );
      const elapsed = Date.now() - started;
      assert.ok(error instanceof HttpError && error.status === 409);
      assert.match(error.message, new RegExp(`Smartspace cannot see principal ${principal} yet`));
      assert.match(error.message, /replicate through the Entra ID directory/);
      assert.match(error.message, /object ID \(not its client ID/);
      assert.ok(elapsed < 900, `gave up after ${elapsed} ms`);
      assert.ok(emulator.count({ status: 409 }) >= 3);
    });

    it("409 other than PrincipalNotFound is not retried", async () => {
      emulator.faults.status({ status: 409, body: { error: "Conflict" }, method: "PUT" });
      const error = await rejection(admin().grantAccess(WORKSPACE, randomUUID(), grant));
      assert.ok(error instanceof HttpError && error.status === 409);
      assert.equal(emulator.count(), 1);
    });

    it("no failure ever shows the token", async () => {
      const token = emulator.token;
      const errors: unknown[] = [];
      errors.push(await rejection(admin().getWorkspace(randomUUID())));
      errors.push(await rejection(admin().grantAccess(WORKSPACE, "bad", grant)));
      emulator.faults.status({
        status: 503,
        bodyFrom: (request) => `upstream said ${request.headers.authorization}`,
      });
      errors.push(await rejection(admin({ maxRetries: 0 }).getWorkspace(WORKSPACE)));
      emulator.faults.slow({ delayMs: 1_000 });
      errors.push(await rejection(admin({ maxRetries: 0, timeoutMs: 50 }).getWorkspace(WORKSPACE)));
      emulator.faults.principalNotFound({ times: 100 });
      errors.push(
        await rejection(admin({ principalNotFoundWindowMs: 50 }).grantAccess(WORKSPACE, randomUUID(), grant)),
      );
      assert.equal(errors.length, 5);
      for (const error of errors) {
        assert.ok(!everythingVisible(error).includes(token), everythingVisible(error));
      }
    });
  });

  describe("timings", () => {
    it("scales every default duration with SMARTSPACE_ADMIN_TIME_SCALE, not the retry count", () => {
      const scaled = adminApiTimings({ [ADMIN_TIME_SCALE_ENV]: "0.01" });
      assert.equal(scaled.timeoutMs, 300);
      assert.equal(scaled.deadlineMs, 1_200);
      assert.equal(scaled.principalNotFoundWindowMs, 1_200);
      assert.equal(scaled.maxRetries, ADMIN_API_DEFAULTS.maxRetries);
      assert.deepEqual(adminApiTimings({}), { ...ADMIN_API_DEFAULTS });
      assert.throws(
        () => adminApiTimings({ [ADMIN_TIME_SCALE_ENV]: "fast" }),
        /must be a number greater than 0/,
      );
    });
  });
});

describe("lib/adminApi token resolution", () => {
  function fakeCredential(lifetimeMs: number, now: () => number) {
    const calls: string[] = [];
    let issued = 0;
    const credential: TokenCredentialLike = {
      async getToken(scope) {
        calls.push(scope);
        issued++;
        return { token: `token-${issued}`, expiresOnTimestamp: now() + lifetimeMs };
      },
    };
    return { credential, calls };
  }

  it("prefers SMARTSPACE_ADMIN_TOKEN and never asks the credential", async () => {
    const { credential, calls } = fakeCredential(3_600_000, Date.now);
    const resolve = createTokenResolver({ credential, env: { [ADMIN_TOKEN_ENV]: " from-env \n" } });
    assert.equal(await resolve(SCOPE), "from-env");
    assert.equal(calls.length, 0);
  });

  it("caches one token per scope until five minutes before it expires", async () => {
    let clock = 1_000_000;
    const now = () => clock;
    const { credential, calls } = fakeCredential(60 * 60_000, now);
    const resolve = createTokenResolver({ credential, now, env: {} });
    assert.equal(await resolve(SCOPE), "token-1");
    clock += 50 * 60_000;
    assert.equal(await resolve(SCOPE), "token-1", "54+ minutes left: reused");
    assert.equal(await resolve("api://other/.default"), "token-2", "another scope gets its own token");
    clock += 5 * 60_000 + 1;
    assert.equal(await resolve(SCOPE), "token-3", "within five minutes of expiry: renewed");
    assert.deepEqual(calls, [SCOPE, "api://other/.default", SCOPE]);
  });

  it("shares one acquisition among concurrent callers", async () => {
    const { credential, calls } = fakeCredential(3_600_000, Date.now);
    const resolve = createTokenResolver({ credential, env: {} });
    const tokens = await Promise.all(Array.from({ length: 20 }, () => resolve(SCOPE)));
    assert.deepEqual(new Set(tokens), new Set(["token-1"]));
    assert.equal(calls.length, 1);
  });

  it("explains a credential failure and does not cache it", async () => {
    let fail = true;
    const resolve = createTokenResolver({
      env: {},
      credential: {
        async getToken() {
          if (fail) {
            throw new Error("CredentialUnavailableError: Azure CLI not logged in");
          }
          return { token: "late", expiresOnTimestamp: Date.now() + 3_600_000 };
        },
      },
    });
    await assert.rejects(resolve(SCOPE), (error: Error) => {
      assert.match(error.message, /could not get a token for api:\/\/.*DefaultAzureCredential/);
      assert.match(error.message, /az login/);
      assert.match(error.message, /SMARTSPACE_ADMIN_TOKEN/);
      assert.match(error.message, /Azure CLI not logged in/);
      return true;
    });
    fail = false;
    assert.equal(await resolve(SCOPE), "late");
  });

  it("does not load @azure/identity until a credential is needed", () => {
    const script = [
      'require("./lib/adminApi");',
      "const loaded = Object.keys(require.cache).some((p) => p.includes('@azure' + require('path').sep + 'identity'));",
      "process.stdout.write(String(loaded));",
    ].join("\n");
    const output = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
      cwd: `${__dirname}/..`,
      encoding: "utf8",
    });
    assert.equal(output, "false");
  });
});

describe("tests/support/smartspaceEmulator extension points", () => {
  /** What issue 5 will do: a subclass adding a public form-encoded route and a route with its own auth. */
  class ExtendedEmulator extends SmartspaceEmulator {
    constructor(options: SmartspaceEmulatorOptions) {
      super(options);
      this.router
        .add(
          "POST",
          "/:tenant/oauth2/v2.0/token",
          (ctx: RouteContext) => ({
            status: 200,
            body: { tenant: ctx.params.tenant, form: ctx.body },
          }),
          { auth: "none" },
        )
        .add("POST", "/messages", (ctx) => ({ status: 200, body: { echo: ctx.body } }), {
          auth: (ctx) =>
            ctx.token === "integration-token" ? undefined : { status: 401, body: { error: "nope" } },
        });
    }
  }

  it("start() returns the subclass, whose routes sit beside the admin routes with their own auth", async () => {
    const emulator = await ExtendedEmulator.start({ workspaces: [{ id: WORKSPACE }] });
    try {
      assert.ok(emulator instanceof ExtendedEmulator);
      const form = await fetch(`${emulator.url}/contoso/oauth2/v2.0/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=client_credentials&scope=api%3A%2F%2Fx%2F.default",
      });
      assert.deepEqual(await form.json(), {
        tenant: "contoso",
        form: { grant_type: "client_credentials", scope: "api://x/.default" },
      });
      const denied = await fetch(`${emulator.url}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${emulator.token}` },
      });
      assert.equal(denied.status, 401, "the route's own authorizer, not the admin token, decides");
      const chat = await fetch(`${emulator.url}/messages`, {
        method: "POST",
        headers: { authorization: "Bearer integration-token", "content-type": "application/json" },
        body: JSON.stringify({ workSpaceId: WORKSPACE }),
      });
      assert.deepEqual(await chat.json(), { echo: { workSpaceId: WORKSPACE } });
      const wrongMethod = await fetch(`${emulator.url}/workspaces/${WORKSPACE}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${emulator.token}` },
      });
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get("allow"), "GET");
      assert.deepEqual(
        emulator.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
        [
          "POST /contoso/oauth2/v2.0/token 200",
          "POST /messages 401",
          "POST /messages 200",
          `DELETE /workspaces/${WORKSPACE} 405`,
        ],
      );
    } finally {
      await emulator.close();
    }
  });

  it("reset() drops requests still held by a slow fault, so they never land in a later test's log", async () => {
    const emulator = await SmartspaceEmulator.start({ workspaces: [{ id: WORKSPACE }] });
    try {
      emulator.faults.slow({ delayMs: 300 });
      const pending = fetch(`${emulator.url}/workspaces/${WORKSPACE}`, {
        headers: { authorization: `Bearer ${emulator.token}` },
      }).then(
        () => "answered",
        () => "dropped",
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      emulator.reset();
      assert.equal(await pending, "dropped");
      await new Promise((resolve) => setTimeout(resolve, 350));
      assert.deepEqual(emulator.requests, []);
    } finally {
      await emulator.close();
    }
  });

  it("serves HTTPS when given a key and certificate", async () => {
    const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], {
      keySize: 2048,
      algorithm: "sha256",
      extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
    });
    const emulator = await SmartspaceEmulator.start({
      tls: { key: pems.private, cert: pems.cert },
      workspaces: [{ id: WORKSPACE, name: "Claims" }],
    });
    try {
      assert.match(emulator.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(
            `${emulator.url}/workspaces/${WORKSPACE}`,
            { ca: pems.cert, headers: { authorization: `Bearer ${emulator.token}` } },
            (res) => {
              let text = "";
              res.on("data", (chunk: Buffer) => (text += chunk.toString()));
              res.on("end", () => resolve(text));
            },
          )
          .on("error", reject);
      });
      assert.deepEqual(JSON.parse(body), { id: WORKSPACE, name: "Claims" });
    } finally {
      await emulator.close();
    }
  });
});
