/**
 * Typed client for the parts of the Smartspace chat API that a non-user integration uses (see
 * shared/smartspace-api.md): sending a message to a workspace, and reading message threads, which is how a
 * caller finds out about a flow that outlived its HTTP request.
 */
import { z } from "zod";
import type { TokenCredential } from "@azure/core-auth";
import { HttpClient, type HttpClientOptions } from "./http";

/** Value `type`s that mark a flow's outputs (the API uses either the enum name or its number). */
const OUTPUT_TYPES: readonly (string | number)[] = ["Output", 2];

const chatValueSchema = z.looseObject({
  name: z.string(),
  type: z.union([z.string(), z.number()]),
  value: z.unknown(),
});

const chatMessageSchema = z.looseObject({
  id: z.string(),
  messageThreadId: z.string(),
  values: z.array(chatValueSchema).default([]),
  createdAt: z.string().optional(),
});

const threadSchema = z.looseObject({
  id: z.string(),
  name: z.string().optional(),
  createdAt: z.string().optional(),
  isFlowRunning: z.boolean().optional(),
});

const threadListSchema = z.looseObject({ data: z.array(threadSchema) });

// A thread's message as listed: the same as the one `POST /messages` answers, with the thread implied.
const threadMessageSchema = chatMessageSchema.extend({ messageThreadId: z.string().optional() });

const messageListSchema = z.looseObject({ data: z.array(threadMessageSchema) });

export type ChatValue = z.output<typeof chatValueSchema>;
export type ChatMessage = z.output<typeof chatMessageSchema>;
export type MessageThread = z.output<typeof threadSchema>;
export type ThreadMessage = z.output<typeof threadMessageSchema>;

export function isOutputValue(value: ChatValue): boolean {
  return OUTPUT_TYPES.includes(value.type);
}

export interface ChatApiClientOptions extends Pick<
  HttpClientOptions,
  "timeoutMs" | "deadlineMs" | "maxRetries" | "backoffBaseMs" | "backoffMaxMs" | "agent" | "transport" | "now"
> {
  /** The chat API base URL shown in the Smartspace admin portal. */
  readonly baseUrl: string;
  /** Source of bearer tokens for `scope`. */
  readonly credential: TokenCredential;
  /** `api://<Smartspace app client id>/.default`. */
  readonly scope: string;
  /** Largest reply read. Default 4 MiB: a flow's outputs can be sizeable. */
  readonly maxResponseBytes?: number;
}

export interface CallOptions {
  /** Bound on the whole call, retries included. Default: the client's deadline. */
  readonly timeoutMs?: number;
}

export interface PostMessageInput {
  readonly workspaceId: string;
  /** Sent as the `prompt` input. */
  readonly text: string;
  /** Continue this thread instead of starting a new one. */
  readonly messageThreadId?: string;
}

export class ChatApiClient {
  private readonly http: HttpClient;

  constructor(options: ChatApiClientOptions) {
    this.http = new HttpClient({ maxRetries: 2, maxResponseBytes: 4 * 1024 * 1024, ...options });
  }

  /** Tokens the client has sent, for callers that print what it returns. */
  get secrets(): readonly string[] {
    return this.http.secrets;
  }

  /**
   * `POST /messages`. Not idempotent (each call runs the workspace's flow again), so it is retried only on
   * 429, which says the request was not processed.
   */
  async postMessage(input: PostMessageInput, options: CallOptions = {}): Promise<ChatMessage> {
    const body = {
      workSpaceId: input.workspaceId,
      inputs: [{ name: "prompt", value: [{ text: input.text }] }],
      ...(input.messageThreadId !== undefined ? { messageThreadId: input.messageThreadId } : {}),
    };
    const response = await this.http.request("POST", ["messages"], {
      body,
      expect: [200, 201],
      timeoutMs: options.timeoutMs,
      deadlineMs: options.timeoutMs,
    });
    return this.http.parse(response, chatMessageSchema, "a message ({id, messageThreadId, values})");
  }

  /** `GET /workspaces/{id}/messagethreads?take=N`: the workspace's most recent threads. */
  async listMessageThreads(
    workspaceId: string,
    options: CallOptions & { readonly take?: number } = {},
  ): Promise<MessageThread[]> {
    const response = await this.http.request("GET", ["workspaces", workspaceId, "messagethreads"], {
      query: { take: options.take ?? 20 },
      deadlineMs: options.timeoutMs,
      timeoutMs: options.timeoutMs,
    });
    return this.http.parse(response, threadListSchema, "a thread list ({data: [thread]})").data;
  }

  /** `GET /messagethreads/{id}`: one thread, including whether its flow is still running. */
  async getMessageThread(threadId: string, options: CallOptions = {}): Promise<MessageThread> {
    const response = await this.http.request("GET", ["messagethreads", threadId], {
      deadlineMs: options.timeoutMs,
      timeoutMs: options.timeoutMs,
    });
    return this.http.parse(response, threadSchema, "a thread ({id, isFlowRunning})");
  }

  /** `GET /messagethreads/{id}/messages?take=N&skip=M`: a page of the thread's messages, newest first. */
  async listMessages(
    threadId: string,
    options: CallOptions & { readonly take?: number; readonly skip?: number } = {},
  ): Promise<ThreadMessage[]> {
    const response = await this.http.request("GET", ["messagethreads", threadId, "messages"], {
      query: { take: options.take ?? 20, skip: options.skip },
      deadlineMs: options.timeoutMs,
      timeoutMs: options.timeoutMs,
    });
    return this.http.parse(response, messageListSchema, "a message page ({data: [message]})").data;
  }
}
