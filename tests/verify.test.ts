import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { HttpError, redact } from "../clients/http";
import {
  decodeJwtClaims,
  ExitCode,
  firstLine,
  messageMarker,
  Redactor,
  resolveAuthority,
  verify,
  type VerifyTarget,
} from "../cli/verify/engine";
import { secretCredential } from "../cli/verify/credentials";
import {
  APP_CLIENT_ID,
  CHAT_API_URL,
  chatReply,
  CLIENT_ID,
  fakeCredentials,
  fakeTransport,
  type FetchHandler,
  issuing,
  json,
  never,
  SECRET,
  Sink,
  TENANT_ID,
  tokenWithRoles,
  WORKSPACE_ID,
} from "./support/verifyFakes";

const TOKEN = tokenWithRoles(["Integrations"]);
const NONCE = "0a1b2c3d";
const MARKER = messageMarker(NONCE);

const TARGET: VerifyTarget = {
  tenantId: TENANT_ID,
  clientId: CLIENT_ID,
  credential: secretCredential(SECRET, "$CRM_SECRET"),
  smartspaceAppClientId: APP_CLIENT_ID,
  chatApiUrl: CHAT_API_URL,
  workspaceId: WORKSPACE_ID,
  message: "ping",
};

interface RunOptions {
  target?: Partial<VerifyTarget>;
  token?: string;
  getToken?: Parameters<typeof fakeCredentials>[0];
  routes?: Record<string, FetchHandler>;
  json?: boolean;
  env?: Record<string, string | undefined>;
  timeouts?: { tokenMs?: number; chatMs?: number; lookupMs?: number };
  redactor?: Redactor;
}

async function run(options: RunOptions = {}) {
  const stdout = new Sink();
  const stderr = new Sink();
  const credentials = fakeCredentials(options.getToken ?? issuing(options.token ?? TOKEN));
  const http = fakeTransport(options.routes ?? { "POST /messages": () => chatReply() });
  const code = await verify(
    { ...TARGET, ...options.target },
    {
      stdout,
      stderr,
      json: options.json,
      env: options.env ?? {},
      createCredential: credentials.factory,
      transport: http.transport,
      timeouts: options.timeouts,
      nonce: () => NONCE,
      redactor: options.redactor,
    },
  );
  const all = stdout.text + stderr.text;
  // Whatever happened, neither the secret nor the token may have been written anywhere.
  assert.ok(!all.includes(SECRET), `the secret was printed:\n${all}`);
  assert.ok(!all.includes(options.token ?? TOKEN), `the token was printed:\n${all}`);
  return { code, stdout: stdout.text, stderr: stderr.text, credentials, http };
}

describe("verify", () => {
  describe("success", () => {
    it("acquires a token for the Smartspace app, checks the role, messages the workspace and exits 0", async () => {
      const result = await run();
      assert.equal(result.code, ExitCode.Ok);
      assert.match(result.stdout, /\[1\/3\] ok {4}token: acquired an app-only token for api:\/\/9{8}-/);
      assert.match(result.stdout, /\[2\/3\] ok {4}role: the token's roles claim holds "Integrations"/);
      assert.match(result.stdout, /\[3\/3\] ok {4}chat: .*thread 7d0e3a52-0c1b-4f7e-9a55-1b2c3d4e5f60/);
      assert.match(result.stdout, /Response: pong/);
      assert.equal(result.stderr, "");

      const [call] = result.credentials.calls;
      assert.equal(call.tenantId, TENANT_ID);
      assert.equal(call.clientId, CLIENT_ID);
      assert.equal(call.credential.kind, "secret");
      assert.deepEqual(call.credential.secrets, [SECRET]);
      assert.equal(call.scopes, `api://${APP_CLIENT_ID}/.default`);
      assert.equal(call.options.authorityHost, "https://login.microsoftonline.com");
      assert.equal(call.options.disableInstanceDiscovery, false);

      assert.equal(result.http.calls.length, 1);
      const post = result.http.calls[0];
      assert.equal(post.method, "POST");
      assert.equal(post.url, `${CHAT_API_URL}/messages`);
      assert.equal(post.headers.authorization, `Bearer ${TOKEN}`);
      assert.deepEqual(post.body, {
        workSpaceId: WORKSPACE_ID,
        inputs: [{ name: "prompt", value: [{ text: `ping ${MARKER}` }] }],
      });
    });

    it("marks each run's prompt with a marker of its own", async () => {
      const prompts: string[] = [];
      for (let i = 0; i < 2; i++) {
        const http = fakeTransport({ "POST /messages": () => chatReply() });
        const code = await verify(TARGET, {
          stdout: new Sink(),
          stderr: new Sink(),
          env: {},
          createCredential: fakeCredentials(issuing(TOKEN)).factory,
          transport: http.transport,
        });
        assert.equal(code, ExitCode.Ok);
        prompts.push(
          (http.calls[0].body as { inputs: { value: { text: string }[] }[] }).inputs[0].value[0].text,
        );
      }
      for (const prompt of prompts) {
        assert.match(prompt, /^ping \[verify [0-9a-f]{8}\]$/);
      }
      assert.notEqual(prompts[0], prompts[1]);
    });

    it("prints only values typed Output (or 2), including structured ones", async () => {
      const result = await run({
        routes: {
          "POST /messages": () =>
            json(200, {
              id: "m1",
              messageThreadId: "t1",
              values: [
                { name: "prompt", type: 1, value: [{ text: "echoed input" }] },
                { name: "Summary", type: 2, value: { lines: 3 } },
              ],
            }),
        },
      });
      assert.equal(result.code, ExitCode.Ok);
      assert.match(result.stdout, /Summary: \{"lines":3\}/);
      assert.doesNotMatch(result.stdout, /echoed input/);
    });

    it("accepts a role value other than the display name when told to", async () => {
      const result = await run({
        token: tokenWithRoles(["Smartspace.Integrations"]),
        target: { roleValue: "Smartspace.Integrations" },
      });
      assert.equal(result.code, ExitCode.Ok);
    });
  });

  describe("authority", () => {
    it("disables instance discovery for a non-Microsoft AZURE_AUTHORITY_HOST and uses it", async () => {
      const result = await run({ env: { AZURE_AUTHORITY_HOST: "https://127.0.0.1:8443/" } });
      assert.equal(result.code, ExitCode.Ok);
      assert.equal(result.credentials.calls[0].options.authorityHost, "https://127.0.0.1:8443");
      assert.equal(result.credentials.calls[0].options.disableInstanceDiscovery, true);
      assert.match(result.stdout, /authority https:\/\/127\.0\.0\.1:8443/);
    });

    it("keeps instance discovery for sovereign Microsoft clouds", () => {
      assert.deepEqual(resolveAuthority({ AZURE_AUTHORITY_HOST: "https://login.microsoftonline.us" }), {
        authorityHost: "https://login.microsoftonline.us",
        disableInstanceDiscovery: false,
      });
    });

    it("exits 2 for an AZURE_AUTHORITY_HOST that is not https", async () => {
      const result = await run({ env: { AZURE_AUTHORITY_HOST: "http://127.0.0.1:8080" } });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(
        result.stderr,
        /AZURE_AUTHORITY_HOST "http:\/\/127\.0\.0\.1:8080" is not an https:\/\/ URL/,
      );
      assert.equal(result.credentials.calls.length, 0);
    });
  });

  describe("exit 2: usage", () => {
    it("reports every bad field at once and contacts nothing", async () => {
      const result = await run({
        target: { tenantId: "not a tenant", workspaceId: "ws-1", chatApiUrl: "http://chat" },
      });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /tenant ID "not a tenant"/);
      assert.match(result.stderr, /workspace ID "ws-1"/);
      assert.match(result.stderr, /chat API URL "http:\/\/chat"/);
      assert.equal(result.credentials.calls.length, 0);
      assert.equal(result.http.calls.length, 0);
    });
  });

  describe("exit 3: token", () => {
    it("explains a wrong or expired secret, with the fix, without contacting the chat API", async () => {
      const result = await run({
        getToken: async () => {
          // What Entra ID says, with the secret echoed back for good measure: it must still not be printed.
          throw Object.assign(
            new Error(
              `invalid_client: AADSTS7000215: Invalid client secret provided (got ${SECRET}). Trace ID: 1\nmore`,
            ),
            { name: "AuthenticationError" },
          );
        },
      });
      assert.equal(result.code, ExitCode.Authentication);
      assert.match(
        result.stderr,
        /\[1\/3\] FAIL {2}token: authentication failed: the client secret is wrong or expired/,
      );
      assert.match(result.stderr, /fix: check secretExpiresOn/);
      assert.match(result.stderr, /Verification failed at step 1 \(token\): exit 3/);
      assert.equal(result.http.calls.length, 0);
    });

    it("names an unknown client or tenant", async () => {
      const unknownClient = await run({
        getToken: async () => {
          throw new Error("unauthorized_client: AADSTS700016: Application with identifier 'x' was not found");
        },
      });
      assert.equal(unknownClient.code, ExitCode.Authentication);
      assert.match(
        unknownClient.stderr,
        new RegExp(`client ${CLIENT_ID} is not an application in tenant ${TENANT_ID}`),
      );

      const unknownTenant = await run({
        getToken: async () => {
          throw Object.assign(new Error("endpoints_resolution_error: See https://aka.ms/msal.js.errors"), {
            name: "CredentialUnavailableError",
          });
        },
      });
      assert.equal(unknownTenant.code, ExitCode.Authentication);
      assert.match(unknownTenant.stderr, /could not read tenant .*OpenID configuration/);
    });

    it("gives up after the token timeout and aborts the request", async () => {
      let aborted = false;
      const started = Date.now();
      const result = await run({
        timeouts: { tokenMs: 50 },
        getToken: (signal) =>
          new Promise(() => {
            signal?.addEventListener("abort", () => (aborted = true));
          }),
      });
      assert.equal(result.code, ExitCode.Authentication);
      assert.match(result.stderr, /no token from https:\/\/login\.microsoftonline\.com within 50 ms/);
      assert.ok(aborted, "the token request was not aborted");
      assert.ok(Date.now() - started < 2000);
    });
  });

  describe("exit 4: role", () => {
    it("fails when the token has no roles claim", async () => {
      const token = tokenWithRoles(undefined);
      const result = await run({ token });
      assert.equal(result.code, ExitCode.RoleMissing);
      assert.match(
        result.stderr,
        /\[2\/3\] FAIL {2}role: the Integrations app role is not assigned to this service principal: the token's roles claim is empty, expected "Integrations"/,
      );
      assert.equal(result.http.calls.length, 0);
    });

    it("lists the roles the token does hold", async () => {
      const result = await run({ token: tokenWithRoles(["Reader", "Admin"]) });
      assert.equal(result.code, ExitCode.RoleMissing);
      assert.match(
        result.stderr,
        /role: the token holds the app roles "Reader", "Admin", but not "Integrations", the value asked for by default/,
      );
    });

    it("says a different role value was asked for, rather than that no role is assigned", async () => {
      const result = await run({ token: tokenWithRoles(["Integrations"]), target: { roleValue: "Admin" } });
      assert.equal(result.code, ExitCode.RoleMissing);
      assert.match(
        result.stderr,
        /\[2\/3\] FAIL {2}role: the token holds the app role "Integrations", but not "Admin", the value asked for\n/,
      );
      assert.match(result.stderr, /fix: if "Admin" is not the Integrations role's value, pass --role-value/);
      assert.doesNotMatch(result.stderr, /not assigned to this service principal/);
    });
  });

  describe("exit 5: workspace", () => {
    it("exits 5 on 403 and points at the WorkspaceAccess grant", async () => {
      const result = await run({ routes: { "POST /messages": () => json(403, { error: "Forbidden" }) } });
      assert.equal(result.code, ExitCode.WorkspaceAccess);
      assert.match(result.stderr, new RegExp(`no access to workspace ${WORKSPACE_ID}`));
      assert.match(result.stderr, /check the WorkspaceAccess grant/);
    });

    it("exits 5 on 404 (unknown workspace)", async () => {
      const result = await run({
        routes: { "POST /messages": () => json(404, { error: "WorkspaceNotFound" }) },
      });
      assert.equal(result.code, ExitCode.WorkspaceAccess);
      assert.match(result.stderr, new RegExp(`workspace ${WORKSPACE_ID} not found`));
    });
  });

  describe("exit 6: other", () => {
    it("does not retry a failed POST (it is not idempotent) and exits 6", async () => {
      // The body echoes the bearer token, as some servers do: it must not reach the output.
      const result = await run({
        routes: {
          "POST /messages": (call) => json(500, { error: "boom", echo: call.headers.authorization }),
        },
      });
      assert.equal(result.code, ExitCode.Other);
      assert.equal(result.http.calls.length, 1);
      assert.match(result.stderr, /Smartspace reported a server error/);
    });

    it("explains a 401 from the chat API as a token the API does not accept", async () => {
      const result = await run({ routes: { "POST /messages": () => json(401, { error: "Unauthorized" }) } });
      assert.equal(result.code, ExitCode.Other);
      assert.match(result.stderr, /the chat API rejected the token \(401\)/);
    });

    it("exits 6 when the chat API is unreachable", async () => {
      const result = await run({
        routes: {
          "POST /messages": () => {
            throw Object.assign(new Error("getaddrinfo ENOTFOUND chat.smartspace.example.com"), {
              code: "ENOTFOUND",
            });
          },
        },
      });
      assert.equal(result.code, ExitCode.Other);
      assert.match(result.stderr, /could not reach the chat API/);
    });

    it("exits 6 on a redirect, which it never follows, naming where it pointed", async () => {
      const result = await run({
        routes: {
          "POST /messages": () =>
            new Response(null, { status: 307, headers: { location: "https://elsewhere.example/messages" } }),
        },
      });
      assert.equal(result.code, ExitCode.Other);
      assert.match(
        result.stderr,
        /answered 307, redirecting to https:\/\/elsewhere\.example\/messages: verify never follows/,
      );
      assert.equal(result.http.calls.length, 1, "nothing was sent to the redirect's target");
      assert.doesNotMatch(result.stdout, /Verified/);
    });

    it("exits 6 when the reply does not have the documented shape", async () => {
      const result = await run({ routes: { "POST /messages": () => json(200, { unexpected: true }) } });
      assert.equal(result.code, ExitCode.Other);
      assert.match(result.stderr, /not what the Smartspace contract describes.*id: Invalid input/);
    });
  });

  describe("slow flow", () => {
    const threadId = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716";
    const foreignThreadId = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

    /** A thread as listed by `GET /workspaces/{id}/messagethreads`. */
    const listed = (id: string, createdAt: Date, isFlowRunning = true) => ({
      id,
      createdAt: createdAt.toISOString(),
      isFlowRunning,
    });

    /** `GET /messagethreads/{id}/messages`: one message holding `prompt`, as when a thread has just started. */
    const firstMessage = (id: string, prompt: string) => () =>
      json(200, {
        data: [
          {
            id: `${id}-m1`,
            messageThreadId: id,
            values: [{ name: "prompt", type: "Input", value: [{ text: prompt }] }],
          },
        ],
      });

    it("finds the thread carrying the run's marker, reports that the flow is still running, and exits 0", async () => {
      const result = await run({
        timeouts: { chatMs: 100 },
        routes: {
          "POST /messages": never,
          "GET /messagethreads": () => json(200, { data: [listed(threadId, new Date())] }),
          [`GET /messagethreads/${threadId}/messages`]: firstMessage(threadId, `ping ${MARKER}`),
          [`GET /messagethreads/${threadId}`]: () => json(200, { id: threadId, isFlowRunning: true }),
        },
      });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.match(
        result.stdout,
        new RegExp(`thread ${threadId} in workspace ${WORKSPACE_ID}; the flow is still running`),
      );
      const lookups = result.http.calls.filter((c) => c.method === "GET").map((c) => new URL(c.url).pathname);
      assert.deepEqual(lookups, [
        `/api/workspaces/${WORKSPACE_ID}/messagethreads`,
        `/api/messagethreads/${threadId}/messages`,
        `/api/messagethreads/${threadId}`,
      ]);
    });

    it("credits the run with its own thread, not a newer one another run started in the same workspace", async () => {
      const result = await run({
        routes: {
          // A gateway gave up on the flow: the thread exists all the same.
          "POST /messages": () => json(504, { error: "GatewayTimeout" }),
          "GET /messagethreads": () =>
            json(200, {
              data: [
                listed(foreignThreadId, new Date(Date.now() + 2_000)),
                listed(threadId, new Date(Date.now() - 1_000)),
              ],
            }),
          [`GET /messagethreads/${foreignThreadId}/messages`]: firstMessage(
            foreignThreadId,
            `ping ${messageMarker("ffffffff")}`,
          ),
          [`GET /messagethreads/${threadId}/messages`]: firstMessage(threadId, `ping ${MARKER}`),
          [`GET /messagethreads/${threadId}`]: () => json(200, { id: threadId, isFlowRunning: true }),
        },
      });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.match(result.stdout, new RegExp(`the message was accepted: thread ${threadId}`));
      assert.ok(!result.stdout.includes(foreignThreadId), result.stdout);
    });

    it("exits 6 rather than claim another run's thread when its own never appeared", async () => {
      const result = await run({
        timeouts: { chatMs: 100 },
        routes: {
          "POST /messages": never,
          "GET /messagethreads": () => json(200, { data: [listed(foreignThreadId, new Date())] }),
          [`GET /messagethreads/${foreignThreadId}/messages`]: firstMessage(
            foreignThreadId,
            `Hello from the Smartspace integration check. Please reply briefly. ${messageMarker("ffffffff")}`,
          ),
        },
      });
      assert.equal(result.code, ExitCode.Other);
      assert.match(
        result.stderr,
        /no message thread carrying this run's marker \[verify 0a1b2c3d\] appeared in workspace .*; 1 recent thread\(s\) examined, none of them this run's/,
      );
      assert.ok(!(result.stdout + result.stderr).includes(foreignThreadId));
    });

    it("does not credit a thread whose first message is out of sight (a conversation, not this run's message)", async () => {
      const messages = Array.from({ length: 10 }, (_, i) => ({
        id: `m${i}`,
        values: [{ name: "prompt", type: "Input", value: [{ text: `ping ${MARKER}` }] }],
      }));
      const result = await run({
        timeouts: { chatMs: 100 },
        routes: {
          "POST /messages": never,
          "GET /messagethreads": () => json(200, { data: [listed(threadId, new Date())] }),
          [`GET /messagethreads/${threadId}/messages`]: () => json(200, { data: messages }),
        },
      });
      assert.equal(result.code, ExitCode.Other);
      const read = result.http.calls.find((c) => c.url.includes("/messages?"));
      assert.equal(new URL(read!.url).searchParams.get("take"), "10");
    });

    it("examines only threads created at most 30 s before the request", async () => {
      const result = await run({
        timeouts: { chatMs: 100 },
        routes: {
          "POST /messages": never,
          "GET /messagethreads": () =>
            json(200, { data: [listed(threadId, new Date(Date.now() - 60_000), false)] }),
          [`GET /messagethreads/${threadId}/messages`]: firstMessage(threadId, `ping ${MARKER}`),
        },
      });
      assert.equal(result.code, ExitCode.Other);
      assert.match(result.stderr, /messages gave no answer within \d+ ms and no message thread carrying/);
      assert.equal(result.http.calls.filter((c) => c.url.includes(`/messagethreads/${threadId}`)).length, 0);
    });

    it("says which threads could not be read when none is confirmed", async () => {
      const result = await run({
        timeouts: { chatMs: 100 },
        routes: {
          "POST /messages": never,
          "GET /messagethreads": () => json(200, { data: [listed(threadId, new Date())] }),
          [`GET /messagethreads/${threadId}/messages`]: () => json(400, { error: "BadRequest" }),
        },
      });
      assert.equal(result.code, ExitCode.Other);
      assert.match(result.stderr, /1 recent thread\(s\) examined, 1 of them unreadable/);
    });

    it("says so when the reply came before the flow produced output", async () => {
      const result = await run({
        routes: {
          "POST /messages": () => json(200, { id: "m1", messageThreadId: threadId, values: [] }),
          [`GET /messagethreads/${threadId}`]: () => json(200, { id: threadId, isFlowRunning: true }),
        },
      });
      assert.equal(result.code, ExitCode.Ok);
      assert.match(result.stdout, /No output yet: the flow is still running/);
    });
  });

  describe("--json", () => {
    it("writes one JSON document with every step, and nothing else", async () => {
      const result = await run({ json: true });
      assert.equal(result.code, ExitCode.Ok);
      assert.equal(result.stderr, "");
      const report = JSON.parse(result.stdout);
      assert.equal(report.ok, true);
      assert.equal(report.exitCode, 0);
      assert.deepEqual(
        report.steps.map((s: { step: string; status: string }) => [s.step, s.status]),
        [
          ["token", "passed"],
          ["role", "passed"],
          ["chat", "passed"],
        ],
      );
      assert.equal(report.steps[2].details.threadId, "7d0e3a52-0c1b-4f7e-9a55-1b2c3d4e5f60");
      assert.deepEqual(report.steps[2].details.outputs, [{ name: "Response", value: "pong" }]);
      assert.equal(report.target.workspaceId, WORKSPACE_ID);
    });

    it("reports the failing step, its cause and fix, and the skipped steps", async () => {
      const result = await run({ json: true, token: tokenWithRoles([]) });
      assert.equal(result.code, ExitCode.RoleMissing);
      const report = JSON.parse(result.stdout);
      assert.equal(report.ok, false);
      assert.equal(report.exitCode, 4);
      assert.equal(report.error.step, "role");
      assert.match(report.error.fix, /assign the Smartspace app's Integrations role/);
      assert.deepEqual(
        report.steps.map((s: { step: string; status: string }) => s.status),
        ["passed", "failed", "skipped"],
      );
    });
  });

  describe("redaction", () => {
    it("never prints the token even when the flow's output contains it", async () => {
      const result = await run({
        routes: { "POST /messages": () => chatReply(undefined, `you sent ${TOKEN}`) },
      });
      assert.equal(result.code, ExitCode.Ok);
      assert.match(result.stdout, /you sent \[REDACTED\]/);
    });

    // Everything either of the two former implementations (lib/verify.ts's Redactor and lib/http.ts's
    // redact) removed; both entry points now share one routine and must remove all of it.
    const sensitive: readonly (readonly [string, string])[] = [
      ["a registered value", 'pa"ss/word'],
      ["its JSON-escaped form", 'pa\\"ss/word'],
      ["its URL-encoded form", "pa%22ss%2Fword"],
      ["a JWT", tokenWithRoles([])],
      ["a JWT with short segments", "eyJhb.cd.ef"],
      ["a JWT with 4-character segments", "eyJhbGci.abcd.wxyz"],
      ["a bearer value of 8 characters", "Bearer abc.defg"],
      ["a bearer value of 16 characters or more", "bearer abcdefghijklmnop0123=="],
      ["a bearer value right after a word character", "x_Bearer abcdefghij"],
      ["an Entra client secret", "Xyz9Q~abcdefghijklmnopqrstuvwxyz0123456"],
    ];

    for (const [what, text] of sensitive) {
      it(`removes ${what}, in verify's output and in HTTP errors alike`, () => {
        const line = `before ${text} after`;
        for (const redacted of [new Redactor(['pa"ss/word']).redact(line), redact(line, ['pa"ss/word'])]) {
          assert.match(redacted, /^before .*\[REDACTED\] after$/);
          const value = text.replace(/^[a-z_]*bearer /i, "");
          assert.ok(!redacted.includes(value), `${what} survived: ${redacted}`);
        }
      });
    }

    it("keeps prose about bearer tokens readable", () => {
      const prose = "the bearer token was rejected; use Bearer auth";
      assert.equal(new Redactor().redact(prose), prose);
      assert.equal(redact(prose), prose);
    });

    it("HTTP errors redact the same shapes, so what verify quotes from them is already clean", () => {
      const error = new HttpError({
        kind: "status",
        method: "POST",
        url: "https://chat.example.com/messages",
        status: 500,
        body: "echo: Bearer abc.defg secret Xyz9Q~abcdefghijklmnopqrstuvwxyz0123456",
      });
      assert.equal(error.bodyExcerpt, "echo: Bearer [REDACTED] secret [REDACTED]");
    });

    it("adds the secret and the token to the caller's redactor, for whatever the caller prints later", async () => {
      const redactor = new Redactor();
      // Opaque (not JWT-shaped), so only knowing the value can hide it.
      const token = "opaque-access-token-value";
      const result = await run({ token, redactor });
      assert.equal(result.code, ExitCode.Other);
      assert.equal(redactor.redact(`${token} ${SECRET}`), "[REDACTED] [REDACTED]");
    });
  });

  describe("firstLine", () => {
    it("keeps the first non-blank line of a message, clipped to 300 characters", () => {
      assert.equal(firstLine(new Error("\n  first line  \nsecond")), "first line");
      assert.equal(firstLine("plain"), "plain");
      assert.equal(firstLine("x".repeat(400)).length, 300);
    });
  });

  describe("decodeJwtClaims", () => {
    it("decodes the payload without verifying, and rejects non-JWTs", () => {
      assert.deepEqual(decodeJwtClaims(tokenWithRoles(["Integrations"]))?.roles, ["Integrations"]);
      assert.equal(decodeJwtClaims("opaque-token"), undefined);
      assert.equal(decodeJwtClaims("a.bm90IGpzb24.c"), undefined);
    });
  });
});
