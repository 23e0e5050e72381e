import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { ChatApiClient, ChatResponseError, isOutputValue } from "../clients/chatApi";
import { HttpError } from "../clients/http";
import {
  CHAT_API_URL,
  chatReply,
  fakeFetch,
  type FetchHandler,
  json,
  WORKSPACE_ID,
} from "./support/verifyFakes";

const TOKEN = "chat-test-token";

function client(routes: Record<string, FetchHandler>) {
  const http = fakeFetch(routes);
  const sleeps: number[] = [];
  const chat = new ChatApiClient({
    baseUrl: CHAT_API_URL,
    token: TOKEN,
    fetch: http.fetch,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0,
  });
  return { chat, calls: http.calls, sleeps };
}

describe("ChatApiClient", () => {
  it("posts the documented message body, continuing a thread when asked", async () => {
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
    const { chat, calls, sleeps } = client({
      "POST /messages": () => (++attempts === 1 ? json(429, {}, { "retry-after": "2" }) : chatReply()),
    });
    await chat.postMessage({ workspaceId: WORKSPACE_ID, text: "hi" });
    assert.equal(calls.length, 2);
    assert.deepEqual(sleeps, [2000]);
  });

  it("retries a POST whose connection was refused (nothing was sent)", async () => {
    let attempts = 0;
    const { chat, calls } = client({
      "POST /messages": () => {
        if (++attempts === 1) {
          const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:443"), {
            code: "ECONNREFUSED",
          });
          throw new TypeError("fetch failed", { cause: refused });
        }
        return chatReply();
      },
    });
    await chat.postMessage({ workspaceId: WORKSPACE_ID, text: "hi" });
    assert.equal(calls.length, 2);
  });

  it("does not retry a POST after a 503 or a dropped connection: the flow may already be running", async () => {
    for (const handler of [
      () => json(503, { error: "Unavailable" }),
      () => {
        throw new TypeError("fetch failed", {
          cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
        });
      },
    ]) {
      const { chat, calls } = client({ "POST /messages": handler });
      await assert.rejects(chat.postMessage({ workspaceId: WORKSPACE_ID, text: "hi" }), HttpError);
      assert.equal(calls.length, 1);
    }
  });

  it("retries thread reads (idempotent) on 503", async () => {
    let attempts = 0;
    const { chat, calls } = client({
      "GET /messagethreads": () =>
        ++attempts === 1
          ? json(503, {})
          : json(200, { data: [{ id: "t-1", createdAt: "2026-01-01T00:00:00Z" }] }),
    });
    const threads = await chat.listMessageThreads(WORKSPACE_ID, { take: 5 });
    assert.deepEqual(
      threads.map((t) => t.id),
      ["t-1"],
    );
    assert.equal(calls.length, 2);
    assert.equal(calls[1].url, `${CHAT_API_URL}/workspaces/${WORKSPACE_ID}/messagethreads?take=5`);
  });

  it("reads a page of a thread's messages (retrying a 503), in the API's newest-first order", async () => {
    let attempts = 0;
    const { chat, calls } = client({
      "GET /messagethreads/t-1/messages": () =>
        ++attempts === 1
          ? json(503, {})
          : json(200, {
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
    assert.equal(calls.length, 2);
    assert.equal(calls[1].url, `${CHAT_API_URL}/messagethreads/t-1/messages?take=5&skip=10`);
  });

  it("rejects a message page without the documented shape", async () => {
    const { chat } = client({
      "GET /messagethreads/t-1/messages": () => json(200, { data: [{ values: [] }] }),
    });
    await assert.rejects(chat.listMessages("t-1"), ChatResponseError);
  });

  it("rejects a success body without the documented fields", async () => {
    const { chat } = client({ "GET /messagethreads/t-9": () => json(200, { name: "no id" }) });
    await assert.rejects(chat.getMessageThread("t-9"), (error: unknown) => {
      assert.ok(error instanceof ChatResponseError);
      assert.match(
        error.message,
        /GET https:\/\/chat\.smartspace\.example\.com\/api\/messagethreads\/t-9 .*id:/,
      );
      return true;
    });
  });

  it("recognises output values by enum name or number", () => {
    assert.ok(isOutputValue({ name: "a", type: "Output", value: 1 }));
    assert.ok(isOutputValue({ name: "a", type: 2, value: 1 }));
    assert.ok(!isOutputValue({ name: "a", type: "Input", value: 1 }));
    assert.ok(!isOutputValue({ name: "a", type: 1, value: 1 }));
  });
});
