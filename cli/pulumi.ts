/**
 * Runs the pinned Pulumi CLI (the `pulumi` npm devDependency) for a stack, so that every machine and pipeline
 * uses the same CLI version and nobody installs it by hand. `npm run pulumi -- --help` lists the commands.
 *
 * State goes to Pulumi's local file backend in .pulumi-state/ unless PULUMI_BACKEND_URL names another one.
 * The npm package's launcher (pulumi/run.js) downloads the CLI from get.pulumi.com on first use and caches
 * it in $PULUMI_HOME/versions/<version> (default ~/.pulumi); when that fails, the wrapper says what it
 * tried, the likely cause and the way out, e.g. SMARTSPACE_PULUMI_CLI pointing at an installed CLI.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { stackFilePath } from "./stackFile";

const ROOT = path.resolve(__dirname, "..");
const STACK_COMMANDS = new Set(["up", "preview", "refresh", "destroy"]);
/** The commands that run the program, and so would send the stack's configuration to Azure. */
const PROGRAM_COMMANDS = new Set(["up", "preview"]);
const STACK_NAME = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/;

/** Environment variable naming an installed Pulumi CLI to use instead of downloading the pinned one. */
export const CLI_OVERRIDE = "SMARTSPACE_PULUMI_CLI";
const DOWNLOAD_SITE = "get.pulumi.com";

export const USAGE = `Usage:
  npm run up -- <stack> [pulumi up flags]         create the stack on first use, then deploy it
  npm run preview -- <stack> [flags]              what up would change (creates the stack on first use)
  npm run refresh -- <stack> [flags]              refresh state from Azure and Smartspace
  npm run destroy -- <stack> [flags]              remove everything the stack created
  npm run pulumi -- <any pulumi arguments>        e.g. npm run pulumi -- stack output --stack dev --json

Runs the pinned Pulumi CLI (the pulumi devDependency, downloaded from ${DOWNLOAD_SITE} on first use).
up and preview first refuse a Pulumi.<stack>.yaml that still holds the example's <...> placeholders.
The CLI's own flags: npm run pulumi -- up --help.

Environment:
  PULUMI_BACKEND_URL         state backend; default: local state in .pulumi-state/
  PULUMI_CONFIG_PASSPHRASE   passphrase of the local backend's secrets (or PULUMI_CONFIG_PASSPHRASE_FILE)
  ${CLI_OVERRIDE}      path of an installed pulumi executable to use instead of downloading one
  PULUMI_HOME                where the downloaded CLI is cached (default ~/.pulumi)
`;

export interface PulumiInvocation {
  readonly env: Record<string, string>;
  /** Commands to run in order; each is the CLI's argument list. */
  readonly commands: string[][];
  /** The stack named by up/preview/refresh/destroy. */
  readonly stack?: string;
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
  return { env: extraEnv, commands, stack };
}

export class UsageError extends Error {}

/**
 * Refuses, before the CLI starts, a stack whose file still holds the example's placeholders: one line per
 * key, from the program's own validation. Returns the lines (empty when there is nothing to refuse).
 */
export function placeholderGate(argv: readonly string[], invocation: PulumiInvocation): string[] {
  if (
    invocation.stack === undefined ||
    !PROGRAM_COMMANDS.has(argv[0]) ||
    !existsSync(stackFilePath(invocation.stack))
  ) {
    return [];
  }
  // Loaded only here: the program's validation brings in the Pulumi SDK, which other commands do not need.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { findPlaceholders } = require("../program/config") as typeof import("../program/config");
  const { readStackConfig } = require("./stackFile") as typeof import("./stackFile");
  /* eslint-enable @typescript-eslint/no-require-imports */
  return findPlaceholders(readStackConfig(invocation.stack).raw).map((problem) => `  - ${problem}`);
}

/** How to start the CLI: the pinned package's launcher through node, or an installed executable. */
export interface PulumiCli {
  readonly command: string;
  readonly args: readonly string[];
  /** Environment the CLI needs on top of the caller's. */
  readonly env: Record<string, string>;
  /** The version package.json pins. */
  readonly pinnedVersion: string;
  /** Where the launcher caches that version (PULUMI_HOME/versions/<version>). */
  readonly cacheDir: string;
  /** The executable named by SMARTSPACE_PULUMI_CLI, when set. */
  readonly override?: string;
}

/** The CLI version package.json pins (an exact version: the launcher runs the version of its package). */
export function pinnedVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    devDependencies: Record<string, string>;
  };
  return manifest.devDependencies.pulumi;
}

/**
 * How to start the CLI, and where the launcher caches the pinned version (as pulumi/lib/cache.js computes
 * it). `launcher` replaces the npm package's run.js (tests).
 */
export function locateCli(env: Readonly<Record<string, string | undefined>>, launcher?: string): PulumiCli {
  const pinned = pinnedVersion();
  const cacheDir = path.join(env.PULUMI_HOME || path.join(homedir(), ".pulumi"), "versions", pinned);
  const override = env[CLI_OVERRIDE];
  if (override) {
    // As the launcher does: the language hosts installed beside the CLI must be found on PATH.
    const PATH = `${path.dirname(override)}${path.delimiter}${env.PATH ?? ""}`;
    return { command: override, args: [], env: { PATH }, pinnedVersion: pinned, cacheDir, override };
  }
  // The launcher honours PULUMI_VERSION; the pin must win, so that every machine runs the same CLI.
  const pin = { PULUMI_VERSION: pinned };
  let script = launcher;
  if (script === undefined) {
    try {
      script = require.resolve("pulumi/run.js", { paths: [ROOT] });
    } catch {
      throw new CliUnavailableError({
        summary: "the pinned Pulumi CLI (npm package pulumi) is not installed",
        tried: [`require.resolve("pulumi/run.js") from ${ROOT}`],
        cause: "npm ci has not run in this checkout, or ran with --omit=dev",
        fixes: ["run npm ci"],
      });
    }
  }
  // Through node rather than node_modules/.bin: spawning a .cmd shim without a shell fails on Windows.
  return { command: process.execPath, args: [script], env: pin, pinnedVersion: pinned, cacheDir };
}

interface Explanation {
  readonly summary: string;
  readonly tried: readonly string[];
  readonly said?: string;
  readonly cause: string;
  readonly fixes: readonly string[];
}

/** The CLI could not be fetched or started: what was tried, what it said, the likely cause, the way out. */
export class CliUnavailableError extends Error {
  readonly explanation: Explanation;
  constructor(explanation: Explanation) {
    const lines = [
      `${explanation.summary}.`,
      ...explanation.tried.map((line, index) => `  ${index === 0 ? "tried:  " : "        "}${line}`),
      ...(explanation.said ? [`  said:   ${explanation.said}`] : []),
      `  likely: ${explanation.cause}`,
      "  way out:",
      ...explanation.fixes.map((fix, index) => `    - ${index === 0 ? "" : "or "}${fix}`),
    ];
    super(lines.join("\n"));
    this.name = "CliUnavailableError";
    this.explanation = explanation;
  }
  /** One line for the verify CLI's "error:" ... */
  get problem(): string {
    const { summary, said, cause } = this.explanation;
    return `${summary}${said ? ` (${said})` : ""}; likely ${cause}`;
  }
  /** ... and its "fix:". */
  get fix(): string {
    return this.explanation.fixes.join("; or ");
  }
}

/** SMARTSPACE_PULUMI_CLI names something that does not run as the Pulumi CLI. */
export function overrideUnusable(cli: PulumiCli, said: string): CliUnavailableError {
  return new CliUnavailableError({
    summary: `${CLI_OVERRIDE}=${cli.override} could not be run as the Pulumi CLI`,
    tried: [`${cli.override} version`],
    said,
    cause: "the path does not name an executable pulumi (it should be the pulumi binary itself)",
    fixes: [
      `set ${CLI_OVERRIDE} to the pulumi executable of v${cli.pinnedVersion}`,
      "unset it to use the pinned download",
    ],
  });
}

/** The release archive of the pinned version for this machine, as get.pulumi.com names it. */
function releaseArchive(version: string): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  return `pulumi-v${version}-${os}-${arch}.${os === "windows" ? "zip" : "tar.gz"}`;
}

/** The ways out of a CLI that cannot be downloaded. */
function offlineFixes(cli: PulumiCli): string[] {
  const archive = releaseArchive(cli.pinnedVersion);
  return [
    `allow HTTPS to ${DOWNLOAD_SITE} and run this again (only the first run downloads)`,
    `download https://${DOWNLOAD_SITE}/releases/sdk/${archive} where you can, then: mkdir -p ${cli.cacheDir} && ` +
      `tar -xzf ${archive} -C ${cli.cacheDir} && mv ${path.join(cli.cacheDir, "pulumi")} ${path.join(cli.cacheDir, "bin")}`,
    `install pulumi v${cli.pinnedVersion} another way and set ${CLI_OVERRIDE}=/path/to/pulumi`,
  ];
}

/**
 * Recognises the launcher's own failure in what it printed (pulumi/run.js prints "pulumi: <message>" when
 * it cannot download or start the CLI; the CLI's own errors start with "error:"), and explains it. Returns
 * undefined for anything else, such as an error of the CLI itself.
 */
export function explainLauncherFailure(
  stderr: string,
  cli: PulumiCli,
  env: Readonly<Record<string, string | undefined>>,
): CliUnavailableError | undefined {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const said = [...lines].reverse().find((line) => line.startsWith("pulumi: "));
  if (cli.override !== undefined || said === undefined) {
    return undefined;
  }
  const binary = path.join(cli.cacheDir, "bin", process.platform === "win32" ? "pulumi.exe" : "pulumi");
  const started = /^pulumi: failed to start: (.*)$/.exec(said);
  if (started) {
    return new CliUnavailableError({
      summary: `the pinned Pulumi CLI v${cli.pinnedVersion} could not be started`,
      tried: [`${binary}, downloaded earlier by the pulumi npm package's launcher`],
      said,
      cause:
        "the cached download is damaged or not executable here (a mount with noexec, another architecture)",
      fixes: [
        `delete ${cli.cacheDir} so that the next run downloads it again`,
        `install pulumi v${cli.pinnedVersion} another way and set ${CLI_OVERRIDE}=/path/to/pulumi`,
      ],
    });
  }
  if (!lines.some((line) => line.startsWith(`Downloading pulumi v`))) {
    return undefined;
  }
  const proxy = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"].find((name) => env[name]);
  const proxyNote = proxy
    ? `; ${proxy} is set, but the launcher fetches the install script with Node's fetch, which ignores proxy ` +
      `variables on Node ${process.versions.node.split(".")[0]}`
    : "";
  const status = /^pulumi: HTTP (\d+) fetching (\S+)/.exec(said);
  const cause = status
    ? `${DOWNLOAD_SITE} answered ${status[1]}: a proxy or firewall refusing it${proxyNote}`
    : said.startsWith("pulumi: Command failed:")
      ? `the install script ran but could not fetch the release archive from ${DOWNLOAD_SITE} (its output is above ` +
        `"said"), or lacks curl and tar${proxyNote}`
      : `this machine cannot reach ${DOWNLOAD_SITE}: no internet access, a firewall, or DNS${proxyNote}`;
  return new CliUnavailableError({
    summary: `the pinned Pulumi CLI v${cli.pinnedVersion} could not be downloaded`,
    tried: [
      `the pulumi npm package's launcher, installing v${cli.pinnedVersion} from https://${DOWNLOAD_SITE}`,
      `into ${cli.cacheDir} (PULUMI_HOME/versions/<version>)`,
    ],
    said: lines
      .filter((line) => !line.startsWith("Downloading pulumi v"))
      .slice(-3)
      .join(" / "),
    cause,
    fixes: offlineFixes(cli),
  });
}

export interface EnsuredCli {
  /** Said once before the CLI runs, e.g. that an overriding CLI is another version than the pin. */
  readonly warnings: readonly string[];
}

/**
 * Makes sure the CLI can run, by running `pulumi version` (which makes the launcher download it on first
 * use). Throws a {@link CliUnavailableError} that explains a failure; warns when an overriding CLI is
 * another version than the pin.
 */
export function ensureCli(
  cli: PulumiCli,
  env: Readonly<Record<string, string | undefined>>,
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): EnsuredCli {
  const cached = existsSync(path.join(cli.cacheDir, "bin"));
  if (cli.override === undefined && !cached) {
    say(`Downloading the pinned Pulumi CLI v${cli.pinnedVersion} into ${cli.cacheDir} (first use only)...`);
  }
  const result = spawnSync(cli.command, [...cli.args, "version"], {
    cwd: ROOT,
    env: { ...env, ...cli.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
    encoding: "utf8",
    timeout: cli.override === undefined && !cached ? 600_000 : 60_000,
    maxBuffer: 16 * 1024 * 1024,
    windowsHide: true,
  });
  const version = /^v?(\d+\.\d+\.\d+\S*)\s*$/.exec(result.stdout ?? "")?.[1];
  if (result.error === undefined && result.status === 0 && version !== undefined) {
    if (cli.override !== undefined && version !== cli.pinnedVersion) {
      return {
        warnings: [
          `warning: ${CLI_OVERRIDE} is pulumi v${version}, but this project pins v${cli.pinnedVersion} ` +
            "(package.json); continuing with it. Another CLI version can show other previews and write state " +
            `older CLIs cannot read: install v${cli.pinnedVersion} when you can.`,
        ],
      };
    }
    return { warnings: [] };
  }
  const stderr = result.stderr ?? "";
  if (cli.override !== undefined) {
    const last = (stderr || result.stdout || "").trim().split("\n").at(-1) ?? "";
    throw overrideUnusable(
      cli,
      result.error ? result.error.message : `exit ${result.status ?? result.signal}: ${JSON.stringify(last)}`,
    );
  }
  const explained = explainLauncherFailure(stderr, cli, env);
  if (explained) {
    throw explained;
  }
  const timedOut = (result.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT";
  throw new CliUnavailableError({
    summary: `the pinned Pulumi CLI v${cli.pinnedVersion} did not run`,
    tried: [`${[cli.command, ...cli.args].join(" ")} version`, `(the CLI is cached in ${cli.cacheDir})`],
    said: timedOut
      ? "no answer within the time limit"
      : stderr.trim().split("\n").slice(-3).join(" / ") || `exit ${result.status ?? result.signal}`,
    cause: timedOut
      ? `a download from ${DOWNLOAD_SITE} that stalls (a proxy holding the connection)`
      : "a damaged download, or a CLI that cannot run on this machine",
    fixes: [`delete ${cli.cacheDir} and run this again`, ...offlineFixes(cli).slice(1)],
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || (argv.length === 1 && ["-h", "--help"].includes(argv[0]))) {
    process.stdout.write(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  if (STACK_COMMANDS.has(argv[0]) && ["-h", "--help"].includes(argv[1] ?? "")) {
    process.stdout.write(USAGE);
    return 0;
  }
  let invocation: PulumiInvocation;
  try {
    invocation = plan(argv, process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const placeholders = placeholderGate(argv, invocation);
  if (placeholders.length > 0) {
    process.stderr.write(
      `error: ${path.basename(stackFilePath(invocation.stack!))} still holds placeholders from the example; ` +
        "the Pulumi CLI was not started and nothing reached Azure:\n" +
        `${placeholders.join("\n")}\n` +
        `Fill them in, then check the stack offline with: npm run check -- ${invocation.stack}\n`,
    );
    return 2;
  }
  let cli: PulumiCli;
  try {
    cli = locateCli(process.env);
    for (const warning of ensureCli(cli, process.env).warnings) process.stderr.write(`${warning}\n`);
  } catch (error) {
    if (error instanceof CliUnavailableError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const env = { ...process.env, ...invocation.env, ...cli.env };
  if (invocation.env.PULUMI_BACKEND_URL) {
    mkdirSync(path.join(ROOT, ".pulumi-state"), { recursive: true });
    process.stderr.write(
      "Using local state in .pulumi-state/ (set PULUMI_BACKEND_URL for Azure Blob Storage or Pulumi Cloud).\n",
    );
  }
  for (const args of invocation.commands) {
    const result = spawnSync(cli.command, [...cli.args, ...args], { cwd: ROOT, env, stdio: "inherit" });
    if (result.error) {
      process.stderr.write(`error: could not run the Pulumi CLI (${cli.command}): ${result.error.message}\n`);
      return 1;
    }
    if (result.status !== 0) {
      return result.status ?? 1;
    }
  }
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
