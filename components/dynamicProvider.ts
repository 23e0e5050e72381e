/**
 * What this project's dynamic resources store in state as their provider, and how their provider version is
 * derived.
 *
 * Pulumi serializes a dynamic resource's provider into the inputs and outputs of every such resource and
 * runs it in a separate host process (plain node, working directory = the project). Here that text is only a
 * shim: each method loads the project's provider entry module (providers/index.ts) at run time and calls the
 * provider registered there under the resource's kind. The real providers are therefore ordinary modules,
 * and an operation always runs the provider code of the checkout running it, also for state written by an
 * older version. The entry path and the kinds are part of that stored contract (providers/index.ts).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import type * as Providers from "../providers/index";

const PROJECT_ROOT = path.join(__dirname, "..");
/** This file, relative to the project: its shim is part of every provider's code. */
const SHIM_SOURCE = path.relative(PROJECT_ROOT, __filename).split(path.sep).join("/");

/** The exports of providers/index.ts, one provider per kind: the entry module is the one list of kinds. */
export type ProviderKind = keyof typeof Providers;

/**
 * A provider whose methods delegate to `providers/index.ts`'s `kind` export in the host. Its serialized
 * text is about 1.5 KB (measured in tests/workspaceAccess.test.ts), stored twice per resource.
 */
export function providerShim<Inputs, Outputs>(
  kind: ProviderKind,
): pulumi.dynamic.ResourceProvider<Inputs, Outputs> {
  // Runs in the host, whose working directory is the project: the engine's launcher for it
  // (@pulumi/pulumi/pulumi-resource-pulumi-nodejs) finds the host script by resolving @pulumi/pulumi from
  // there. `require` stays a plain require in the serialized text (the serializer never captures it); tsx, a
  // dependency of the project, compiles the entry and caches it for the host's lifetime. Forward slashes
  // work on Windows too.
  const call = (method: string, args: unknown[]) => {
    const entry = `${process.cwd()}/providers/index.ts`;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const providers = require("tsx/cjs/api").require(entry, entry);
    return providers[kind][method](...args);
  };
  return {
    check: (...args) => call("check", args),
    diff: (...args) => call("diff", args),
    create: (...args) => call("create", args),
    read: (...args) => call("read", args),
    update: (...args) => call("update", args),
    delete: (...args) => call("delete", args),
  };
}

/**
 * A short hash of the code a provider runs: `entry` (a project-relative path such as
 * `providers/workspaceAccess.ts`), every project module it imports, directly or not, and this shim. The host
 * never diffs provider code, so each resource carries this as an input: a change to the provider's behaviour
 * shows in `pulumi preview` as an update of each resource, which re-applies it with the new code. Code
 * outside that closure, comment lines and line endings do not count.
 */
export function providerVersion(entry: string, root = PROJECT_ROOT): string {
  const hash = createHash("sha256");
  for (const file of providerSources(entry, root)) {
    hash.update(`${file}\0${codeOf(readFileSync(path.join(root, file), "utf8"))}\0`);
  }
  return hash.digest("hex").slice(0, 16);
}

/** `entry`, the project modules it imports (transitively, value imports only) and this shim, sorted. */
export function providerSources(entry: string, root = PROJECT_ROOT): string[] {
  const seen = new Set<string>([SHIM_SOURCE]);
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) {
      continue;
    }
    seen.add(file);
    const text = readFileSync(path.join(root, file), "utf8");
    for (const [, specifier] of text.matchAll(LOCAL_VALUE_IMPORT)) {
      const resolved = path.posix.join(path.posix.dirname(file), specifier);
      pending.push(resolved.endsWith(".ts") ? resolved : `${resolved}.ts`);
    }
  }
  return [...seen].sort();
}

/** `import ... from "./x"` and `export ... from "../x"`, but not `import type`, which runs nothing. */
const LOCAL_VALUE_IMPORT = /^\s*(?:import|export)\s+(?!type\b)(?:[^;]*?\sfrom\s*)?"(\.{1,2}\/[^"]+)"/gm;

/** Source without a byte-order mark, carriage returns, comment-only lines and trailing blanks. */
function codeOf(source: string): string {
  return source
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/)
    .map((line) => line.trimEnd())
    .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line) && line !== "")
    .join("\n");
}
