/** Small helpers shared by the tests of the HTTP clients. */
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { HttpError } from "../../clients/http";

/** Every text a failure can surface through: message, stack, fields, util.inspect. */
export function everythingVisible(error: unknown): string {
  return [
    String(error),
    error instanceof Error ? error.stack : "",
    JSON.stringify(error),
    inspect(error, { depth: 5 }),
  ].join("\n");
}

/** The HttpError `promise` rejects with; fails the test when it resolves or rejects otherwise. */
export async function rejection(promise: Promise<unknown>): Promise<HttpError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof HttpError, `expected an HttpError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

/** A credential that always hands out `token`. */
export function staticCredential(token: string) {
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}
