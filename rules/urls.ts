/**
 * The one rule for the endpoints the stack and its tools call (the Smartspace admin and chat APIs, an
 * authority host), shared by config validation, the WorkspaceAccess provider and `verify`, so that a URL
 * accepted in one place is never refused in another.
 */

export const ENDPOINT_EXPECTED = "use an absolute https:// URL without credentials, query or fragment";

/** What is wrong with `value` as an API endpoint, or undefined when it is a usable one. */
export function endpointProblem(value: unknown): string | undefined {
  if (typeof value !== "string") {
    return ENDPOINT_EXPECTED;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return ENDPOINT_EXPECTED;
  }
  // https everywhere, the local emulators included: bearer tokens are never sent in the clear (the Azure
  // SDK's bearer-token policy refuses to).
  if (url.protocol !== "https:" || url.hostname === "") {
    return ENDPOINT_EXPECTED;
  }
  if (url.username !== "" || url.password !== "") {
    return "must not contain credentials; tokens are acquired at run time";
  }
  if (url.search !== "" || url.hash !== "") {
    return ENDPOINT_EXPECTED;
  }
  return undefined;
}

export function isEndpoint(value: unknown): value is string {
  return endpointProblem(value) === undefined;
}

/**
 * The canonical form of an endpoint, so that spellings of the same endpoint compare equal: the WHATWG URL
 * serialization (lower-case scheme and host, default port dropped, path percent-encoding normalized)
 * without a trailing dot on the host and without trailing slashes. The path keeps its case: servers may
 * treat it case-sensitively. Throws for a value {@link endpointProblem} refuses.
 */
export function normalizeEndpoint(value: string): string {
  const problem = endpointProblem(value);
  if (problem !== undefined) {
    throw new TypeError(`${JSON.stringify(value)}: ${problem}`);
  }
  const url = new URL(value);
  if (url.hostname.endsWith(".")) {
    url.hostname = url.hostname.replace(/\.+$/, "");
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}
