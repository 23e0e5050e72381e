/**
 * Typed client for the parts of the Smartspace chat API that a non-user integration uses (see
 * shared/smartspace-api.md): sending a message to a workspace, and reading message threads, which is how a
 * caller finds out about a flow that outlived its HTTP request.
 */
import { z } from "zod";
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

/** A success status whose body does not have the documented shape. */
export class ChatResponseError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    problem: string,
  ) {
    super(`${method} ${url} answered with an unexpected body: ${problem}`);
    this.name = "ChatResponseError";
  }
}

export interface ChatApiClientOptions extends Omit<
  HttpClientOptions,
  "baseUrl" | "getToken" | "headers" | "onRetry"
> {
  /** The chat API base URL shown in the Smartspace admin portal. */
  readonly baseUrl: string;
  /** Bearer token for `api://<Smartspace app client id>/.default`, or a function returning one. */
  readonly token: string | (() => Promise<string>);
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
    const { token, ...rest } = options;
    this.http = new HttpClient({
      maxRetries: 2,
      ...rest,
      getToken: typeof token === "string" ? async () => token : token,
    });
  }

  /**
   * `POST /messages`. Not idempotent (each call runs the workspace's flow again), so it is retried only when
   * the request certainly was not processed: a 429, or a refused connection.
   */
  async postMessage(input: PostMessageInput, options: CallOptions = {}): Promise<ChatMessage> {
    const body = {
      workSpaceId: input.workspaceId,
      inputs: [{ name: "prompt", value: [{ text: input.text }] }],
      ...(input.messageThreadId !== undefined ? { messageThreadId: input.messageThreadId } : {}),
    };
    const response = await this.http.request<unknown>("POST", "/messages", {
      body,
      expect: [200, 201],
      retryOn: (error) =>
        (error.kind === "status" && error.status === 429) ||
        (error.kind === "network" && (error.detail ?? "").includes("[ECONNREFUSED]")),
      timeoutMs: options.timeoutMs,
      deadlineMs: options.timeoutMs,
    });
    return this.parse(chatMessageSchema, response.body, "POST", this.http.url("/messages"));
  }

  /** `GET /workspaces/{id}/messagethreads?take=N`: the workspace's most recent threads. */
  async listMessageThreads(
    workspaceId: string,
    options: CallOptions & { readonly take?: number } = {},
  ): Promise<MessageThread[]> {
    const path = ["workspaces", workspaceId, "messagethreads"];
    const response = await this.http.request<unknown>("GET", path, {
      query: { take: options.take ?? 20 },
      deadlineMs: options.timeoutMs,
      timeoutMs: options.timeoutMs,
    });
    return this.parse(threadListSchema, response.body, "GET", this.http.url(path)).data;
  }

  /** `GET /messagethreads/{id}`: one thread, including whether its flow is still running. */
  async getMessageThread(threadId: string, options: CallOptions = {}): Promise<MessageThread> {
    const path = ["messagethreads", threadId];
    const response = await this.http.request<unknown>("GET", path, {
      deadlineMs: options.timeoutMs,
      timeoutMs: options.timeoutMs,
    });
    return this.parse(threadSchema, response.body, "GET", this.http.url(path));
  }

  /** `GET /messagethreads/{id}/messages?take=N&skip=M`: a page of the thread's messages, newest first. */
  async listMessages(
    threadId: string,
    options: CallOptions & { readonly take?: number; readonly skip?: number } = {},
  ): Promise<ThreadMessage[]> {
    const path = ["messagethreads", threadId, "messages"];
    const response = await this.http.request<unknown>("GET", path, {
      query: { take: options.take ?? 20, skip: options.skip },
      deadlineMs: options.timeoutMs,
      timeoutMs: options.timeoutMs,
    });
    return this.parse(messageListSchema, response.body, "GET", this.http.url(path)).data;
  }

  private parse<T>(schema: z.ZodType<T>, body: unknown, method: string, url: string): T {
    const result = schema.safeParse(body);
    if (!result.success) {
      const problem = result.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`)
        .join("; ");
      throw new ChatResponseError(method, url, problem);
    }
    return result.data;
  }
}
