/**
 * The deploying identity's Azure credential, shared by the API clients: `@azure/identity`'s
 * DefaultAzureCredential (az login, environment variables, workload identity, managed identity), created
 * on first use. @azure/identity takes a noticeable time to load, and many runs never need it (a token in the
 * environment, a stack without workspaces), so it is required lazily.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";

let shared: TokenCredential | undefined;

/** One DefaultAzureCredential per process: its token caches then serve every client. */
export function deployerCredential(): TokenCredential {
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      if (!shared) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const identity = require("@azure/identity") as typeof import("@azure/identity");
        shared = new identity.DefaultAzureCredential();
      }
      return shared.getToken(scopes, options);
    },
  };
}
