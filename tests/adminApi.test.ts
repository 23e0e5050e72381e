/**
 * The admin-API client (clients/adminApi.ts): the contract against the emulator, the failures a deployer
 * can act on, and answers that break the contract.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import {
  ADMIN_API_DEFAULTS,
  ADMIN_TIME_SCALE_ENV,
  ADMIN_TOKEN_ENV,
  AdminApiClient,
  type AdminApiClientOptions,
  adminApiTimings,
  AdminTokenCredential,
} from "../clients/adminApi";
import { HttpError } from "../clients/http";
import { smartspaceScope } from "../rules/scopes";
import { SmartspaceEmulator } from "../tools/emulators/smartspaceEmulator";
import { HostileServer } from "./support/hostileServer";
import { everythingVisible, rejection, staticCredential } from "./support/httpHelpers";

const WORKSPACE = "4f0c8a52-3a51-4e0e-9a7e-0a5b7a1c2d3e";
const SCOPE = smartspaceScope("11111111-2222-3333-4444-555555555555");
const GRANT = { principalType: "ServicePrincipal", displayName: "x" } as const;

const FAST = {
  timeoutMs: 1_000,
  deadlineMs: 3_000,
  backoffBaseMs: 5,
  backoffMaxMs: 20,
  principalNotFoundWindowMs: 1_000,
  principalNotFoundBackoffBaseMs: 20,
  principalNotFoundBackoffMaxMs: 100,
};

describe("admin API client", () => {
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

  function admin(overrides: Partial<AdminApiClientOptions> & { token?: string } = {}): AdminApiClient {
    const { token, ...rest } = overrides;
    return new AdminApiClient({
      adminApiUrl: emulator.url,
      tokenScope: SCOPE,
      credential: staticCredential(token ?? emulator.token),
      agent: emulator.agent(),
      ...FAST,
      ...rest,
    });
  }

  describe("the contract", () => {
    it("reads a workspace", async () => {
      assert.deepEqual(await admin().getWorkspace(WORKSPACE), { id: WORKSPACE, name: "Claims" });
    });

    it("grants, re-grants idempotently, reads, lists and revokes", async () => {
      const principal = randomUUID();
      const api = admin();
      const first = await api.grantAccess(WORKSPACE, principal, { ...GRANT, displayName: "claims-bot" });
      assert.deepEqual(first, {
        created: true,
        entry: { principalId: principal, principalType: "ServicePrincipal", displayName: "claims-bot" },
      });
      const second = await api.grantAccess(WORKSPACE, principal, {
        ...GRANT,
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

    it("normalizes the base URL, so host case, a default port or a trailing dot address the same API", () => {
      const port = new URL(emulator.url).port;
      assert.equal(
        new AdminApiClient({ adminApiUrl: `https://LOCALHOST.:${port}/api/`, tokenScope: SCOPE }).adminApiUrl,
        `https://localhost:${port}/api`,
      );
      assert.equal(
        new AdminApiClient({ adminApiUrl: "https://Admin.Example.com:443/", tokenScope: SCOPE }).adminApiUrl,
        "https://admin.example.com",
      );
    });
  });

  describe("failures that must not be retried", () => {
    it("404 on a workspace says which workspace and where, after one request", async () => {
      const missing = randomUUID();
      const error = await rejection(admin().getWorkspace(missing));
      assert.match(error.message, new RegExp(`^workspace ${missing} not found at ${emulator.url}\\. GET `));
      assert.equal(emulator.count(), 1);
    });

    it("401 names a missing or expired token, after one request, without showing it", async () => {
      const error = await rejection(admin({ token: "expired-token-value" }).getWorkspace(WORKSPACE));
      assert.equal(error.status, 401);
      assert.match(error.message, /rejected the bearer token \(401 Unauthorized\): it is missing or expired/);
      assert.ok(error.message.includes(SCOPE));
      assert.ok(!everythingVisible(error).includes("expired-token-value"));
      assert.equal(emulator.count(), 1);
    });

    it("403 says the deployer lacks Smartspace admin rights, after one request", async () => {
      const error = await rejection(admin({ token: NON_ADMIN }).grantAccess(WORKSPACE, randomUUID(), GRANT));
      assert.equal(error.status, 403);
      assert.match(error.message, /lacks Smartspace admin rights \(403 Forbidden\)/);
      assert.ok(!everythingVisible(error).includes(NON_ADMIN));
      assert.equal(emulator.count(), 1);
    });

    it("400 fails at once with the server's explanation", async () => {
      const error = await rejection(admin().grantAccess(WORKSPACE, "not-a-guid", GRANT));
      assert.equal(error.status, 400);
      assert.match(error.message, /malformed.*principalId must be an object ID/);
      assert.equal(emulator.count(), 1);
    });

    it("a token that cannot be obtained fails without sending anything, naming the scope", async () => {
      const error = await rejection(
        admin({
          credential: {
            getToken: async () => {
              throw new Error("AADSTS700016: application not found");
            },
          },
        }).getWorkspace(WORKSPACE),
      );
      assert.equal(error.kind, "token");
      assert.match(
        error.message,
        /Could not authenticate to the Smartspace admin API \(token scope api:.*AADSTS700016/,
      );
      assert.equal(emulator.count(), 0);
    });
  });

  describe("faults that recover within their bounds", () => {
    it("429 (seconds), 503, a slow response and a dropped connection on one grant", async () => {
      const principal = randomUUID();
      emulator.faults.throttle({ retryAfter: 0 }).unavailable().slow({ delayMs: 1_500 }).drop();
      const started = Date.now();
      const result = await admin({ timeoutMs: 200 }).grantAccess(WORKSPACE, principal, GRANT);
      assert.equal(result.created, true);
      assert.ok(Date.now() - started < 1_400);
      assert.equal(emulator.store.getAccess(WORKSPACE, principal)?.displayName, "x");
    });

    it("409 PrincipalNotFound is retried until the new service principal has replicated", async () => {
      emulator.faults.principalNotFound({ times: 3 });
      const result = await admin().grantAccess(WORKSPACE, randomUUID(), GRANT);
      assert.equal(result.created, true);
      assert.deepEqual(
        emulator.requestsMatching({ method: "PUT" }).map((r) => r.status),
        [409, 409, 409, 201],
      );
    });

    it("409 PrincipalNotFound beyond the window fails with an explanation of replication", async () => {
      emulator.store.replicationDelayMs = 60_000;
      const started = Date.now();
      const principal = randomUUID();
      const error = await rejection(
        admin({ principalNotFoundWindowMs: 400 }).grantAccess(WORKSPACE, principal, GRANT),
      );
      const elapsed = Date.now() - started;
      assert.equal(error.status, 409);
      assert.match(error.message, new RegExp(`Smartspace cannot see principal ${principal} yet`));
      assert.match(error.message, /replicate through the Entra ID directory/);
      assert.match(error.message, /object ID \(not its client ID/);
      assert.ok(elapsed < 900, `gave up after ${elapsed} ms`);
      assert.ok(emulator.count({ status: 409 }) >= 3);
    });

    it("409 other than PrincipalNotFound is not retried", async () => {
      emulator.faults.status({ status: 409, body: { error: "Conflict" }, method: "PUT" });
      const error = await rejection(admin().grantAccess(WORKSPACE, randomUUID(), GRANT));
      assert.equal(error.status, 409);
      assert.equal(emulator.count(), 1);
    });

    it("no failure ever shows the token", async () => {
      const errors: HttpError[] = [];
      errors.push(await rejection(admin().getWorkspace(randomUUID())));
      errors.push(await rejection(admin().grantAccess(WORKSPACE, "bad", GRANT)));
      emulator.faults.status({
        status: 503,
        bodyFrom: (request) => `upstream said ${request.headers.authorization}`,
      });
      errors.push(await rejection(admin({ maxRetries: 0 }).getWorkspace(WORKSPACE)));
      emulator.faults.slow({ delayMs: 1_000 });
      errors.push(await rejection(admin({ maxRetries: 0, timeoutMs: 50 }).getWorkspace(WORKSPACE)));
      emulator.faults.principalNotFound({ times: 100 });
      errors.push(
        await rejection(admin({ principalNotFoundWindowMs: 50 }).grantAccess(WORKSPACE, randomUUID(), GRANT)),
      );
      for (const error of errors) {
        assert.ok(!everythingVisible(error).includes(emulator.token), everythingVisible(error));
      }
    });
  });

  describe("answers that break the contract", () => {
    let hostile: HostileServer;
    const principal = "0b6f5b2c-1d3e-4f5a-9b8c-7d6e5f4a3b2c";

    before(async () => (hostile = await HostileServer.start()));
    after(() => hostile.close());
    beforeEach(() => hostile.reset());

    const api = () =>
      new AdminApiClient({
        adminApiUrl: hostile.url,
        tokenScope: SCOPE,
        credential: staticCredential("hostile-admin-token-0123"),
        agent: hostile.agent,
        ...FAST,
      });

    for (const [what, status, body] of [
      [
        "a grant for another principal",
        200,
        { principalId: randomUUID(), principalType: "ServicePrincipal", displayName: "x" },
      ],
      [
        "a principal type outside the contract",
        201,
        { principalId: principal, principalType: "Robot", displayName: "x" },
      ],
      [
        "a grant as another principal type",
        200,
        { principalId: principal, principalType: "User", displayName: "x" },
      ],
      ["null", 200, null],
      ["an empty body", 201, undefined],
    ] as const) {
      it(`a grant answered with ${what} is an error, never a success`, async () => {
        hostile.handler = (_request, response) =>
          response
            .writeHead(status, { "content-type": "application/json" })
            .end(body === undefined ? "" : JSON.stringify(body));
        const error = await rejection(api().grantAccess(WORKSPACE, principal, GRANT));
        assert.equal(error.kind, "invalid-response");
        assert.ok(AdminApiClient.mayHaveApplied(error), "the PUT may have taken effect");
      });
    }

    it("a read answered with another principal's grant is an error, not a missing grant", async () => {
      hostile.json(200, { principalId: randomUUID(), principalType: "ServicePrincipal", displayName: "x" });
      const error = await rejection(api().getAccess(WORKSPACE, principal));
      assert.match(error.message, new RegExp(`expected the grant of principal ${principal}, got one for`));
    });

    it("a workspace answered with another ID is an error", async () => {
      hostile.json(200, { id: randomUUID(), name: "Other" });
      const error = await rejection(api().getWorkspace(WORKSPACE));
      assert.match(error.message, new RegExp(`expected a workspace with id ${WORKSPACE}`));
    });
  });

  describe("timings and tokens", () => {
    it("scales every default duration with SMARTSPACE_ADMIN_TIME_SCALE, not the retry count or size cap", () => {
      const scaled = adminApiTimings({ [ADMIN_TIME_SCALE_ENV]: "0.01" });
      assert.equal(scaled.timeoutMs, 300);
      assert.equal(scaled.deadlineMs, 1_200);
      assert.equal(scaled.principalNotFoundWindowMs, 1_200);
      assert.equal(scaled.maxRetries, ADMIN_API_DEFAULTS.maxRetries);
      assert.equal(scaled.maxResponseBytes, ADMIN_API_DEFAULTS.maxResponseBytes);
      assert.deepEqual(adminApiTimings({}), { ...ADMIN_API_DEFAULTS });
      assert.throws(
        () => adminApiTimings({ [ADMIN_TIME_SCALE_ENV]: "fast" }),
        /must be a number greater than 0/,
      );
    });

    it("prefers SMARTSPACE_ADMIN_TOKEN, read at each request, over the deployer's credential", async () => {
      let asked = 0;
      const env: Record<string, string | undefined> = { [ADMIN_TOKEN_ENV]: " from-env \n" };
      const credential = new AdminTokenCredential(env, {
        getToken: async () => {
          asked++;
          return { token: "from-credential", expiresOnTimestamp: Date.now() + 3_600_000 };
        },
      });
      assert.equal((await credential.getToken(SCOPE)).token, "from-env");
      delete env[ADMIN_TOKEN_ENV];
      assert.equal((await credential.getToken(SCOPE)).token, "from-credential");
      assert.equal(asked, 1);
    });

    it("explains a credential failure: which scope, how to sign in, the variable to set", async () => {
      const credential = new AdminTokenCredential(
        {},
        {
          getToken: async () => {
            throw new Error("CredentialUnavailableError: Azure CLI not logged in");
          },
        },
      );
      await assert.rejects(credential.getToken(SCOPE), (error: Error) => {
        assert.match(error.message, /could not get a token for api:\/\/.*DefaultAzureCredential/);
        assert.match(error.message, /az login/);
        assert.match(error.message, /SMARTSPACE_ADMIN_TOKEN/);
        assert.match(error.message, /Azure CLI not logged in/);
        return true;
      });
    });

    it("loading the providers does not load @azure/identity (slow) until a credential is needed", () => {
      const script = [
        'require("./providers/index.ts");',
        "const loaded = Object.keys(require.cache).some((p) => p.includes('@azure' + require('path').sep + 'identity'));",
        "process.stdout.write(String(loaded));",
      ].join("\n");
      const output = execFileSync(process.execPath, ["--import", "tsx", "-e", script], {
        cwd: path.join(__dirname, ".."),
        encoding: "utf8",
      });
      assert.equal(output, "false");
    });
  });
});
