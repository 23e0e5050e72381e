/**
 * Runs the pinned Pulumi CLI (the `pulumi` npm devDependency) for a stack, so that every machine and pipeline
 * uses the same CLI version and nobody installs it by hand.
 *
 *   npm run up -- dev [pulumi up flags]        # creates the stack on first use, then deploys it
 *   npm run preview -- dev [flags]
 *   npm run refresh -- dev [flags]
 *   npm run destroy -- dev [flags]
 *   npm run pulumi -- <any pulumi command>     # e.g. npm run pulumi -- stack output --stack dev
 *
 * State goes to Pulumi's local file backend in .pulumi-state/ unless PULUMI_BACKEND_URL names another one
 * (azblob://<container>?storage_account=<account>, https://api.pulumi.com, ...). The local backend
 * encrypts secrets with a passphrase: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), or
 * the CLI asks for it.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = path.resolve(__dirname, "..");
const STACK_COMMANDS = new Set(["up", "preview", "refresh", "destroy"]);
const STACK_NAME = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/;

export interface PulumiInvocation {
  readonly env: Record<string, string>;
  /** Commands to run in order; each is the CLI's argument list. */
  readonly commands: string[][];
}

/** Works out what to run, without running it (unit-tested). */
export function plan(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): PulumiInvocation {
  const extraEnv: Record<string, string> = {};
  if (!env.PULUMI_BACKEND_URL) {
    // pathToFileURL gives file:///abs/path, which the CLI accepts as a DIY backend URL.
    extraEnv.PULUMI_BACKEND_URL = pathToFileURL(path.join(ROOT, ".pulumi-state")).href;
  }
  const [command, ...rest] = argv;
  if (command === undefined) {
    throw new UsageError("name a pulumi command, e.g. `npm run up -- dev` or `npm run pulumi -- stack ls`");
  }
  if (!STACK_COMMANDS.has(command)) {
    return { env: extraEnv, commands: [[command, ...rest]] };
  }
  const [stack, ...flags] = rest;
  if (stack === undefined || stack.startsWith("-") || !STACK_NAME.test(stack)) {
    throw new UsageError(
      `\`npm run ${command}\` needs a stack name first, e.g. \`npm run ${command} -- dev\`; got ${JSON.stringify(stack ?? "")}`,
    );
  }
  const commands: string[][] = [];
  if (command === "up" || command === "preview") {
    // First use of a stack on this backend: create it, with the passphrase secrets provider for local state.
    commands.push(["stack", "select", stack, "--create"]);
  }
  commands.push([command, "--stack", stack, ...flags]);
  return { env: extraEnv, commands };
}

export class UsageError extends Error {}

/** The npm `pulumi` package's launcher script, which downloads and caches the matching CLI release. */
export function pinnedCliLauncher(): string {
  return require.resolve("pulumi/run.js", { paths: [ROOT] });
}

function main(): number {
  let invocation: PulumiInvocation;
  try {
    invocation = plan(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const env = { ...process.env, ...invocation.env };
  if (invocation.env.PULUMI_BACKEND_URL) {
    mkdirSync(path.join(ROOT, ".pulumi-state"), { recursive: true });
    console.error(
      "Using local state in .pulumi-state/ (set PULUMI_BACKEND_URL for Azure Blob Storage or Pulumi Cloud).",
    );
  }
  let cli: string;
  try {
    cli = pinnedCliLauncher();
  } catch {
    console.error("error: the pinned Pulumi CLI (npm package `pulumi`) is not installed; run npm ci first.");
    return 1;
  }
  for (const args of invocation.commands) {
    // Through node rather than node_modules/.bin: spawning a .cmd shim without a shell fails on Windows.
    const result = spawnSync(process.execPath, [cli, ...args], { cwd: ROOT, env, stdio: "inherit" });
    if (result.error) {
      console.error(`error: could not run the pinned Pulumi CLI (${cli}): ${result.error.message}`);
      return 1;
    }
    if (result.status !== 0) {
      return result.status ?? 1;
    }
  }
  return 0;
}

if (require.main === module) {
  process.exitCode = main();
}
