import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { ChatApiClient, isOutputValue } from "../clients/chatApi";
import { HttpError } from "../clients/http";
import {
  APP_CLIENT_ID,
  CHAT_API_URL,
  chatReply,
  connectionError,
  fakeTransport,
  type FetchHandler,
  json,
  WORKSPACE_ID,
} from "./support/verifyFakes";

const TOKEN = "chat-test-token";

function client(routes: Record<string, FetchHandler>) {
  const http = fakeTransport(routes);
  const chat = new ChatApiClient({
    baseUrl: CHAT_API_URL,
    credential: { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) },
    scope: `api://${APP_CLIENT_ID}/.default`,
    transport: http.transport,
    backoffBaseMs: 5,
    backoffMaxMs: 10,
  });
  return { chat, calls: http.calls };
}

describe("ChatApiClient", () => {
  it("posts the documented message body with the bearer token, continuing a thread when asked", async () => {
    const { chat, calls } = client({ "POST /messages": () => chatReply("t-1") });
    const reply = await chat.postMessage({ workspaceId: WORKSPACE_ID, text: "hi", messageThreadId: "t-1" });
    assert.equal(reply.messageThreadId, "t-1");
    assert.deepEqual(calls[0].body, {
      workSpaceId: WORKSPACE_ID,
      inputs: [{ name: "prompt", value: [{ text: "hi" }] }],
      messageThreadId: "t-1",
    });
    assert.equal(calls[0].headers.authorization, `Bearer ${TOKEN}`);
  });

  it("retries a POST answered 429 (not processed), honouring Retry-After", async () => {
    let attempts = 0;
    const { chat, calls } = client({
      "POST /messages": () => (++attempts === 1 ? json(429, {}, { "retry-after": "1" }) : chatReply()),
    });
    const started = Date.now();
    await chat.postMessage({ workspaceId: WORKSPACE_ID, text: "hi" });
    assert.equal(calls.length, 2);
    assert.ok(Date.now() - started >= 950, "waited for Retry-After");
  });

  it("never retries a POST after a 503, a dropped or a refused connection: the flow may already run", async () => {
    for (const handler of [
      () => json(503, { error: "Unavailable" }, { "retry-after": "0" }),
      () => Promise.reject(connectionError("ECONNRESET")),
      () => Promise.reject(connectionError("ECONNREFUSED")),
    ]) {
      const { chat, calls } = client({ "POST /messages": handler });
      await assert.rejects(chat.postMessage({ workspaceId: WORKSPACE_ID, text: "hi" }), HttpError);
      assert.equal(calls.length, 1);
    }
  });

  it("retries thread reads (idempotent) on 503 and a dropped connection", async () => {
    let attempts = 0;
    const { chat, calls } = client({
      "GET /messagethreads": () =>
        ++attempts === 1
          ? json(503, {})
          : attempts === 2
            ? Promise.reject(connectionError("ECONNRESET"))
            : json(200, { data: [{ id: "t-1", createdAt: "2026-01-01T00:00:00Z" }] }),
    });
    const threads = await chat.listMessageThreads(WORKSPACE_ID, { take: 5 });
    assert.deepEqual(
      threads.map((t) => t.id),
      ["t-1"],
    );
    assert.equal(calls.length, 3);
    assert.equal(calls[2].url, `${CHAT_API_URL}/workspaces/${WORKSPACE_ID}/messagethreads?take=5`);
  });

  it("reads a page of a thread's messages, in the API's newest-first order", async () => {
    const { chat, calls } = client({
      "GET /messagethreads/t-1/messages": () =>
        json(200, {
          data: [
            { id: "m-2", values: [{ name: "Response", type: "Output", value: "pong" }] },
            { id: "m-1", messageThreadId: "t-1", values: [{ name: "prompt", type: "Input", value: [] }] },
          ],
        }),
    });
    const messages = await chat.listMessages("t-1", { take: 5, skip: 10 });
    assert.deepEqual(
      messages.map((m) => m.id),
      ["m-2", "m-1"],
    );
    assert.equal(calls[0].url, `${CHAT_API_URL}/messagethreads/t-1/messages?take=5&skip=10`);
  });

  it("rejects success bodies without the documented shape, naming the call and the missing field", async () => {
    const { chat } = client({
      "GET /messagethreads/t-1/messages": () => json(200, { data: [{ values: [] }] }),
      "GET /messagethreads/t-9": () => json(200, { name: "no id" }),
      "POST /messages": () => new Response("null", { status: 200 }),
    });
    await assert.rejects(chat.listMessages("t-1"), (error: unknown) => {
      assert.ok(error instanceof HttpError && error.kind === "invalid-response");
      return true;
    });
    await assert.rejects(chat.getMessageThread("t-9"), (error: unknown) => {
      assert.ok(error instanceof HttpError && error.kind === "invalid-response");
      assert.match(
        error.message,
        /GET https:\/\/chat\.smartspace\.example\.com\/api\/messagethreads\/t-9 .*id:/,
      );
      return true;
    });
    await assert.rejects(
      chat.postMessage({ workspaceId: WORKSPACE_ID, text: "hi" }),
      /contract does not allow/,
    );
  });

  it("recognises output values by enum name or number", () => {
    assert.ok(isOutputValue({ name: "a", type: "Output", value: 1 }));
    assert.ok(isOutputValue({ name: "a", type: 2, value: 1 }));
    assert.ok(!isOutputValue({ name: "a", type: "Input", value: 1 }));
    assert.ok(!isOutputValue({ name: "a", type: 1, value: 1 }));
  });
});
