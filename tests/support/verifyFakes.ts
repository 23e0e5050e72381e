/**
 * Fakes for testing `npm run verify` in-process: a credential factory that records what it was asked for, a
 * transport that routes to handlers, output sinks, and unsigned JWTs (verify only decodes tokens).
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/identity";
import {
  createHttpHeaders,
  type HttpClient as SdkHttpClient,
  type PipelineRequest,
  type PipelineResponse,
  RestError,
} from "@azure/core-rest-pipeline";
import type {
  CredentialFactory,
  CredentialOptions,
  TextSink,
  VerifyCredential,
} from "../../cli/verify/engine";

export const TENANT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
export const CLIENT_ID = "11111111-2222-4333-8444-555555555555";
export const APP_CLIENT_ID = "99999999-8888-4777-8666-555555555555";
export const WORKSPACE_ID = "3f1c2b7a-9d4e-4b8a-a1c3-5e6f7a8b9c0d";
export const CHAT_API_URL = "https://chat.smartspace.example.com/api";
/** Shaped like a real Entra client secret, so the pattern-based redaction is exercised too. */
export const SECRET = "Abc8Q~s3cr3tValueThatMustNeverBePrinted12";

/** An unsigned compact JWS with the given claims (signature part is junk; verify does not check it). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT", kid: "k1" })}.${part(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk`;
}

export function tokenWithRoles(roles: readonly string[] | undefined): string {
  return fakeJwt({
    aud: `api://${APP_CLIENT_ID}`,
    appid: CLIENT_ID,
    tid: TENANT_ID,
    ...(roles ? { roles } : {}),
  });
}

export class Sink implements TextSink {
  text = "";
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

export interface CredentialCall {
  readonly tenantId: string;
  readonly clientId: string;
  /** What verify would have built the @azure/identity credential from: its kind, description, secrets. */
  readonly credential: VerifyCredential;
  readonly options: CredentialOptions;
  readonly scopes: string | string[];
}

export type TokenBehaviour = (signal?: GetTokenOptions["abortSignal"]) => Promise<AccessToken | null>;

/** A credential factory whose `getToken` runs `behaviour`; every call is recorded. */
export function fakeCredentials(behaviour: TokenBehaviour) {
  const calls: CredentialCall[] = [];
  const factory: CredentialFactory = (target, options) => {
    const { tenantId, clientId } = options;
    const credential: TokenCredential = {
      getToken: (scopes, getTokenOptions) => {
        calls.push({ tenantId, clientId, credential: target, options, scopes });
        return behaviour(getTokenOptions?.abortSignal);
      },
    };
    return credential;
  };
  return { factory, calls };
}

export function issuing(token: string): TokenBehaviour {
  return async () => ({ token, expiresOnTimestamp: Date.parse("2030-01-01T00:00:00Z") });
}

export interface FetchCall {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

/** Answers a call with a web `Response`, or throws as a failed connection would (an error with a `code`). */
export type FetchHandler = (call: FetchCall, signal: AbortSignal) => Response | Promise<Response>;

/**
 * A transport for the Azure SDK pipeline (what `HttpClient` sends through) that records each call and
 * answers with the first handler whose `METHOD path` key matches the end of the path. It behaves like the
 * SDK's Node.js transport where the clients depend on it: the attempt's timeout and the call's abort signal
 * end a pending answer with an AbortError, and a thrown connection error becomes a RestError with its code.
 */
export function fakeTransport(routes: Record<string, FetchHandler>) {
  const calls: FetchCall[] = [];
  const transport: SdkHttpClient = {
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      const method = request.method.toUpperCase();
      const headers = request.headers.toJSON();
      const body = typeof request.body === "string" ? JSON.parse(request.body) : undefined;
      const call = { method, url: request.url, headers, body };
      calls.push(call);
      const pathname = new URL(request.url).pathname;
      const handler = Object.entries(routes).find(([key]) => {
        const [routeMethod, routePath] = key.split(" ");
        return routeMethod === method && pathname.endsWith(routePath);
      })?.[1];
      const signal = AbortSignal.any([
        ...(request.abortSignal ? [request.abortSignal as AbortSignal] : []),
        ...(request.timeout > 0 ? [AbortSignal.timeout(request.timeout)] : []),
      ]);
      let response: Response;
      try {
        response = await new Promise<Response>((resolve, reject) => {
          signal.addEventListener("abort", () => reject(abortError()));
          Promise.resolve(handler ? handler(call, signal) : json(404, { error: "NotFound" })).then(
            resolve,
            reject,
          );
        });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        throw typeof code === "string" ? new RestError((error as Error).message, { code, request }) : error;
      }
      return {
        request,
        status: response.status,
        headers: createHttpHeaders(Object.fromEntries(response.headers.entries())),
        bodyAsText: await response.text(),
      };
    },
  };
  return { transport, calls };
}

function abortError(): Error {
  const error = new Error("The operation was aborted.");
  error.name = "AbortError";
  return error;
}

/** A failed connection, as the Node.js transport reports it. */
export function connectionError(code: "ECONNREFUSED" | "ECONNRESET"): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:443`), { code });
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A response that never comes (the transport ends it when the attempt times out). */
export function never(): Promise<Response> {
  return new Promise(() => undefined);
}

export function chatReply(
  threadId = "7d0e3a52-0c1b-4f7e-9a55-1b2c3d4e5f60",
  output: unknown = "pong",
): Response {
  return json(200, {
    id: "a8f0c1d2-3b4c-4d5e-8f90-123456789abc",
    messageThreadId: threadId,
    values: [
      { name: "prompt", type: "Input", value: [{ text: "ping" }] },
      { name: "Response", type: "Output", value: output },
    ],
  });
}
