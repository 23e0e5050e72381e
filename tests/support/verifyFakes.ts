/**
 * Fakes for testing `npm run verify` in-process: a credential factory that records what it was asked for, a
 * `fetch` that routes to handlers, output sinks, and unsigned JWTs (verify only decodes tokens).
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/identity";
import type { CredentialFactory, TextSink } from "../../cli/verify/engine";

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
  readonly clientSecret: string;
  readonly options: Parameters<CredentialFactory>[3];
  readonly scopes: string | string[];
}

export type TokenBehaviour = (signal?: GetTokenOptions["abortSignal"]) => Promise<AccessToken | null>;

/** A credential factory whose `getToken` runs `behaviour`; every call is recorded. */
export function fakeCredentials(behaviour: TokenBehaviour) {
  const calls: CredentialCall[] = [];
  const factory: CredentialFactory = (tenantId, clientId, clientSecret, options) => {
    const credential: TokenCredential = {
      getToken: (scopes, getTokenOptions) => {
        calls.push({ tenantId, clientId, clientSecret, options, scopes });
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

export type FetchHandler = (call: FetchCall, signal?: AbortSignal) => Response | Promise<Response>;

/** A `fetch` that records each call and answers with the first handler whose `METHOD path` key matches. */
export function fakeFetch(routes: Record<string, FetchHandler>) {
  const calls: FetchCall[] = [];
  const impl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const method = (init?.method ?? "GET").toUpperCase();
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    const call = { method, url, headers, body };
    calls.push(call);
    const pathname = new URL(url).pathname;
    const handler = Object.entries(routes).find(([key]) => {
      const [routeMethod, routePath] = key.split(" ");
      return routeMethod === method && pathname.endsWith(routePath);
    })?.[1];
    if (!handler) {
      return json(404, { error: "NotFound" });
    }
    return handler(call, init?.signal ?? undefined);
  };
  return { fetch: impl as typeof fetch, calls };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A response that never comes, until the request is aborted (as fetch does on timeout). */
export function never(_call: FetchCall, signal?: AbortSignal): Promise<Response> {
  return new Promise((_, reject) => {
    signal?.addEventListener("abort", () =>
      reject(signal.reason ?? new DOMException("aborted", "AbortError")),
    );
  });
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
