/**
 * The HTTP core of the Smartspace clients (clients/http.ts) against real HTTPS servers on 127.0.0.1: the
 * admin-API emulator with injected faults, and scripted hostile servers.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { createHttpHeaders } from "@azure/core-rest-pipeline";
import { z } from "zod";
import {
  encodePath,
  excerpt,
  HttpClient,
  type HttpClientOptions,
  redact,
  retryAfterMs,
} from "../clients/http";
import { SmartspaceEmulator } from "../tools/emulators/smartspaceEmulator";
import { HostileServer } from "./support/hostileServer";
import { everythingVisible, rejection, staticCredential } from "./support/httpHelpers";

const WORKSPACE = "4f0c8a52-3a51-4e0e-9a7e-0a5b7a1c2d3e";
const SCOPE = "api://11111111-2222-3333-4444-555555555555/.default";
const workspace = z.looseObject({ id: z.string(), name: z.string() });

describe("HTTP core", () => {
  describe("helpers", () => {
    it("reads Retry-After as delta-seconds, as an HTTP date and in Azure's millisecond headers", () => {
      const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
      const wait = (headers: Record<string, string>, status = 429) =>
        retryAfterMs({ status, headers: createHttpHeaders(headers) }, now);
      assert.equal(wait({ "retry-after": "120" }), 120_000);
      assert.equal(wait({ "retry-after": " 0 " }), 0);
      assert.equal(wait({ "retry-after": "Wed, 21 Oct 2015 07:28:03 GMT" }, 503), 3_000);
      assert.equal(wait({ "retry-after": "Wed, 21 Oct 2015 07:27:00 GMT" }), 0, "a past date means now");
      assert.equal(wait({ "retry-after-ms": "250", "retry-after": "9" }), 250);
      assert.equal(wait({ "retry-after": "soon" }), undefined);
      assert.equal(wait({ "retry-after": "-5" }), undefined);
      assert.equal(wait({ "retry-after": "5" }, 500), undefined, "only 429 and 503 ask to come back later");
    });

    it("percent-encodes each path segment and refuses segments that would change the path", () => {
      assert.equal(encodePath(["workspaces", "a/b c?#%", "access"]), "/workspaces/a%2Fb%20c%3F%23%25/access");
      for (const bad of ["", ".", ".."]) {
        assert.throws(() => encodePath(["workspaces", bad]), /invalid URL path segment/);
      }
    });

    it("refuses to send a bearer token anywhere but https", () => {
      assert.throws(
        () =>
          new HttpClient({ baseUrl: "http://127.0.0.1:1", credential: staticCredential("t"), scope: SCOPE }),
        /only ever sent over https/,
      );
    });
  });

  describe("redaction", () => {
    const secret = "Abc8Q~s3cr3t value/with+odd&chars~and=more";

    it("removes a secret in every spelling a server might echo, and anything shaped like a credential", () => {
      const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly94In0.c2lnbmF0dXJl";
      const spellings = [
        secret,
        JSON.stringify(secret).slice(1, -1),
        encodeURIComponent(secret),
        encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
        new URLSearchParams({ s: secret }).toString().slice(2),
      ];
      const text = `${spellings.join(" | ")} | Authorization: Bearer abc.def-ghi_0123456789 | id_token ${jwt}`;
      const clean = redact(text, [secret]);
      for (const spelling of [...spellings, "abc.def-ghi_0123456789", jwt, "eyJ"]) {
        assert.ok(!clean.includes(spelling), `${spelling} survived: ${clean}`);
      }
      assert.match(clean, /Bearer \[REDACTED\]/);
      assert.equal(redact("prose about the bearer token stays"), "prose about the bearer token stays");
    });

    it("never leaves a prefix of a secret or token behind when a message is shortened", () => {
      const token = `eyJ${"a".repeat(40)}.eyJ${"b".repeat(400)}.${"c".repeat(300)}`;
      for (let at = 250; at < 310; at += 3) {
        const body = `${"x".repeat(at)}${secret} Bearer ${token} ${encodeURIComponent(secret)}`;
        const short = excerpt(body, [secret], 300);
        assert.ok(short.length <= 300);
        for (const fragment of [
          secret.slice(0, 8),
          "Abc8Q~",
          "eyJ",
          "aaaa",
          encodeURIComponent(secret).slice(0, 8),
        ]) {
          assert.ok(!short.includes(fragment), `"${fragment}" survived at offset ${at}: ${short.slice(-60)}`);
        }
      }
    });

    it("takes linear time on a huge body of credential-like prefixes", () => {
      for (const unit of ["eyJ", "eyJa.", "Bearer ", "abc1Q~"]) {
        const body = unit.repeat(Math.ceil(120_000 / unit.length));
        const started = process.hrtime.bigint();
        redact(body, ["some-secret"]);
        excerpt(body, ["some-secret"]);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        assert.ok(ms < 200, `${JSON.stringify(unit)} x 120 KB took ${ms.toFixed(0)} ms`);
      }
    });
  });

  describe("against the emulator", () => {
    let emulator: SmartspaceEmulator;

    before(async () => {
      emulator = await SmartspaceEmulator.start({ workspaces: [{ id: WORKSPACE, name: "Claims" }] });
    });
    after(() => emulator.close());
    beforeEach(() => emulator.reset());

    function client(overrides: Partial<HttpClientOptions> = {}): HttpClient {
      return new HttpClient({
        baseUrl: emulator.url,
        credential: staticCredential(emulator.token),
        scope: SCOPE,
        agent: emulator.agent(),
        timeoutMs: 2_000,
        deadlineMs: 5_000,
        backoffBaseMs: 5,
        backoffMaxMs: 20,
        ...overrides,
      });
    }

    it("keeps the base URL's path prefix and encodes segments on the wire", async () => {
      const prefixed = client({ baseUrl: `${emulator.url}/prefix/` });
      assert.equal(prefixed.url(["workspaces", "a/b"]), `${emulator.url}/prefix/workspaces/a%2Fb`);
      const error = await rejection(client().request("GET", ["workspaces", "x/y"]));
      assert.equal(error.status, 404);
      assert.match(
        error.bodyExcerpt ?? "",
        /Workspace x\/y was not found/,
        "the slash stayed inside one segment",
      );
    });

    it("retries 503 and a dropped connection for GET, and succeeds", async () => {
      emulator.faults.unavailable({ times: 2 }).drop();
      const http = client();
      const response = await http.request("GET", ["workspaces", WORKSPACE]);
      assert.equal(http.parse(response, workspace, "a workspace").name, "Claims");
      assert.deepEqual(
        emulator.requests.map((r) => r.status),
        [503, 503, "dropped", 200],
      );
    });

    it("never retries a POST on 503 or a dropped connection, but does on 429 (not processed)", async () => {
      emulator.faults.unavailable({ times: 1 });
      const error = await rejection(client().request("POST", ["workspaces"], { body: {} }));
      assert.ok(error.status === 503 && error.attempts === 1, String(error));
      emulator.reset();
      emulator.faults.drop();
      assert.equal((await rejection(client().request("POST", ["workspaces"], { body: {} }))).kind, "network");
      assert.equal(emulator.count(), 1);

      emulator.reset();
      emulator.faults.throttle({ retryAfter: 0 });
      const again = await rejection(client().request("POST", ["workspaces"], { body: {} }));
      assert.equal(again.status, 404, "the retry reached the router");
      assert.deepEqual(
        emulator.requests.map((r) => r.status),
        [429, 404],
      );
    });

    it("gives up after maxRetries with the attempt count in the message", async () => {
      emulator.faults.unavailable({ times: 10 });
      const error = await rejection(client({ maxRetries: 2 }).request("GET", ["workspaces", WORKSPACE]));
      assert.equal(error.attempts, 3);
      assert.match(error.message, /returned HTTP 503 after 3 attempts/);
      assert.equal(emulator.count(), 3);
    });

    it("honours Retry-After as an HTTP date, and really waits for it", async () => {
      const started = Date.now();
      emulator.faults.throttle({ retryAfter: new Date(Date.now() + 1_500) });
      await client().request("GET", ["workspaces", WORKSPACE]);
      const elapsed = Date.now() - started;
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
      assert.equal(error.status, 429);
      assert.match(error.message, /asked to retry after 3600 s, beyond the deadline/);
      assert.equal(emulator.count(), 1);
    });

    it("times out a slow response and retries it", async () => {
      emulator.faults.slow({ delayMs: 1_000 });
      const started = Date.now();
      const response = await client({ timeoutMs: 150 }).request("GET", ["workspaces", WORKSPACE]);
      assert.equal(response.status, 200);
      assert.ok(Date.now() - started < 900, "did not wait for the slow response");
    });

    it("stops at the overall deadline when every attempt is slow", async () => {
      emulator.faults.slow({ delayMs: 2_000, times: 50 });
      const started = Date.now();
      const error = await rejection(
        client({ timeoutMs: 100, deadlineMs: 400, maxRetries: 50 }).request("GET", ["workspaces", WORKSPACE]),
      );
      const elapsed = Date.now() - started;
      assert.equal(error.kind, "timeout", String(error));
      assert.ok(elapsed >= 350 && elapsed < 1_200, `took ${elapsed} ms`);
      assert.match(error.message, /timed out after \d+ attempts/);
    });

    it("reports a refused connection as a network error after retrying", async () => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as net.AddressInfo;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const error = await rejection(
        client({ baseUrl: `https://127.0.0.1:${port}`, maxRetries: 2 }).request("GET", [
          "workspaces",
          WORKSPACE,
        ]),
      );
      assert.equal(error.kind, "network");
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
      assert.equal(error.status, 500);
      assert.match(error.bodyExcerpt ?? "", /Bearer \[REDACTED\]/);
      assert.ok(!everythingVisible(error).includes(emulator.token));
    });

    it("fails without sending anything when no token can be obtained", async () => {
      const error = await rejection(
        client({
          credential: {
            getToken: async () => {
              throw new Error("AADSTS700016: application not found");
            },
          },
        }).request("GET", ["workspaces", WORKSPACE]),
      );
      assert.equal(error.kind, "token");
      assert.match(error.message, /no bearer token could be obtained \(AADSTS700016/);
      assert.equal(emulator.count(), 0);
    });
  });

  describe("against hostile servers", () => {
    let hostile: HostileServer;
    let elsewhere: HostileServer;

    before(async () => {
      [hostile, elsewhere] = await Promise.all([HostileServer.start(), HostileServer.start()]);
    });
    after(() => Promise.all([hostile.close(), elsewhere.close()]));
    beforeEach(() => {
      hostile.reset();
      elsewhere.reset();
      elsewhere.json(200, { id: WORKSPACE, name: "Not the real API" });
    });

    const client = (overrides: Partial<HttpClientOptions> = {}) =>
      new HttpClient({
        baseUrl: hostile.url,
        credential: staticCredential("hostile-test-token-0123456789"),
        scope: SCOPE,
        agent: hostile.agent,
        timeoutMs: 1_000,
        deadlineMs: 3_000,
        backoffBaseMs: 5,
        backoffMaxMs: 10,
        ...overrides,
      });

    it("follows no redirect, for any method: each is an error naming where it pointed", async () => {
      for (const [method, status] of [
        ["GET", 302],
        ["GET", 301],
        ["PUT", 303],
        ["DELETE", 303],
        ["PUT", 307],
        ["POST", 308],
      ] as const) {
        hostile.handler = (_request, response) =>
          response.writeHead(status, { location: `${elsewhere.url}/workspaces/${WORKSPACE}` }).end();
        const error = await rejection(client().request(method, ["workspaces", WORKSPACE], { body: {} }));
        assert.equal(error.kind, "redirect");
        assert.match(
          error.message,
          new RegExp(
            `answered HTTP ${status}, redirecting to ${elsewhere.url}/workspaces/${WORKSPACE}, which is not followed`,
          ),
        );
      }
      assert.equal(elsewhere.requests.length, 0, "nothing reached the other origin");
      assert.equal(hostile.requests.length, 6, "and a redirect is never retried");
    });

    it("caps a success body instead of buffering it, and does not retry the failure", async () => {
      hostile.handler = (_request, response) => {
        response.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(64 * 1024, "a");
        let sent = 0;
        const pump = () => {
          while (sent < 64 && response.write(chunk)) sent++;
          if (sent < 64) response.once("drain", pump);
          else response.end();
        };
        pump();
      };
      const started = Date.now();
      const error = await rejection(
        client({ maxResponseBytes: 256 * 1024 }).request("GET", ["workspaces", WORKSPACE]),
      );
      assert.equal(error.kind, "too-large");
      assert.match(error.message, /body over the size limit \(more than 262144 bytes\)/);
      assert.equal(hostile.requests.length, 1);
      assert.ok(Date.now() - started < 1_000);
    });

    it("quotes only the start of a huge error body, quickly", async () => {
      const body = `{"error":"Boom","detail":"${"eyJ".repeat(40_000)}"}`;
      hostile.handler = (_request, response) => response.writeHead(400).end(body);
      const started = Date.now();
      const error = await rejection(client().request("GET", ["workspaces", WORKSPACE]));
      assert.ok(Date.now() - started < 500, `took ${Date.now() - started} ms`);
      assert.ok((error.bodyExcerpt ?? "").length <= 600);
      assert.match(error.message, /returned HTTP 400: \{"error":"Boom","detail":"\[REDACTED\]/);
    });

    it("times out a body that stalls after the headers, and retries it", async () => {
      hostile.handler = (request, response) => {
        response.writeHead(200, { "content-type": "application/json" });
        if (hostile.requests.length === 1) {
          response.write('{"id":');
          return; // never ends
        }
        response.end(JSON.stringify({ id: WORKSPACE, name: "Claims" }));
        void request;
      };
      const http = client({ timeoutMs: 200 });
      const response = await http.request("GET", ["workspaces", WORKSPACE]);
      assert.equal(http.parse(response, workspace, "a workspace").name, "Claims");
      assert.equal(hostile.requests.length, 2);
    });

    it("refuses a paging link outside its base URL, so the token never leaves it", async () => {
      const http = client();
      for (const link of [`${elsewhere.url}/workspaces`, `${hostile.url}-evil/x`, "not a url"]) {
        const error = await rejection(http.requestUrl("GET", link));
        assert.match(error.message, /is never followed/);
      }
      assert.equal(elsewhere.requests.length + hostile.requests.length, 0);
    });

    it("rejects empty, null and non-JSON success bodies against a schema", async () => {
      const http = client();
      for (const body of ["", "null", "<html>", '{"id": 5}']) {
        hostile.handler = (_request, response) => response.writeHead(200).end(body);
        const response = await http.request("GET", ["workspaces", WORKSPACE]);
        const error = await rejection(
          Promise.resolve().then(() => http.parse(response, workspace, "a workspace")),
        );
        assert.equal(error.kind, "invalid-response", body);
        assert.match(error.message, /expected a workspace/);
      }
    });
  });
});
