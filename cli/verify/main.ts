/**
 * `npm run verify`: proves that a deployed integration can authenticate and talk to its workspace.
 *
 * Two ways to say which integration: from a stack (outputs and config read through the pinned Pulumi CLI,
 * the credential chosen by the integration's credentialType, a secret or certificate read from Key Vault with
 * the caller's own Azure login), or explicitly (no Pulumi; one credential flag, never a secret on the command
 * line). The checks live in ./engine.ts and the credential modes in ./credentials.ts; this file only turns
 * arguments into a {@link VerifyTarget}.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { z } from "zod";
import {
  DEFAULT_ROLE_VALUE,
  DEFAULT_TIMEOUTS,
  ExitCode,
  firstLine,
  messageMarker,
  Redactor,
  Reporter,
  seconds,
  type VerifyDeps,
  type VerifyTarget,
  VerifyUsageError,
  verify,
} from "./engine";
import {
  CREDENTIAL_FLAGS,
  type CredentialFlags,
  credentialOutputPaths,
  explicitCredential,
  integrationCredentialSchema,
  type SecretReader,
  stackCredential,
} from "./credentialSources";
import {
  CliUnavailableError,
  explainLauncherFailure,
  locateCli,
  overrideUnusable,
  type PulumiCli,
  plan as planPulumi,
} from "../pulumi";

const PROJECT = "smartspace-integration";
const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const PULUMI_TIMEOUT_MS = 120_000;

/** Runs the Pulumi CLI with `args` and resolves with its stdout; rejects with a message on failure. */
export type PulumiRunner = (args: readonly string[]) => Promise<string>;

export type { KeyVaultSecret, SecretReader } from "./credentialSources";

export interface CliDeps extends Omit<VerifyDeps, "json"> {
  /** Default: the project's pinned CLI, the `pulumi` npm package (see {@link createPulumiRunner}). */
  readonly runPulumi?: PulumiRunner;
  /** Default: `@azure/keyvault-secrets` with `DefaultAzureCredential`. */
  readonly readSecret?: SecretReader;
  /**
   * Environment: the variable named by `--client-secret-env`, `AZURE_AUTHORITY_HOST`,
   * `AZURE_FEDERATED_TOKEN_FILE` (stack mode) and the managed identity endpoint's variables.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
}

interface CliOptions extends CredentialFlags {
  stack?: string;
  integration?: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  smartspaceAppClientId?: string;
  chatApiUrl?: string;
  workspace?: string;
  roleValue?: string;
  message?: string;
  timeout?: string;
  json?: boolean;
}

const EXPLICIT_REQUIRED = [
  ["tenantId", "--tenant-id"],
  ["smartspaceAppClientId", "--smartspace-app-client-id"],
  ["chatApiUrl", "--chat-api-url"],
  ["workspace", "--workspace"],
] as const;

function buildProgram(): Command {
  return (
    new Command("verify")
      .description(
        "Prove that a deployed Smartspace integration can authenticate and use its workspace: acquire a token " +
          "with its credential (client secret, certificate, federated token or managed identity), check the " +
          "token holds the Integrations role, and send a message.",
      )
      .addOption(new Option("--stack <stack>", "read the integration from this Pulumi stack (stack mode)"))
      .addOption(new Option("--integration <name>", "integration name in the stack (stack mode)"))
      .addOption(new Option("--tenant-id <id>", "tenant of the integration (explicit mode)"))
      .addOption(new Option("--client-id <id>", "client ID of the integration's app (explicit mode)"))
      .addOption(
        new Option(
          "--client-secret-env <VAR>",
          "credential: NAME of the environment variable holding the client secret",
        ),
      )
      .addOption(
        new Option(
          "--certificate-path <file>",
          "credential: PEM file with the private key and the certificate (Key Vault's secret of the certificate)",
        ),
      )
      .addOption(
        new Option(
          "--federated-token-file <file>",
          "credential: file holding the external token the app's federated credentials trust, as " +
            "AZURE_FEDERATED_TOKEN_FILE names in an AKS pod (stack mode reads that variable too)",
        ),
      )
      .addOption(
        new Option(
          "--managed-identity-client-id <id>",
          "credential: this user-assigned managed identity is the principal (run where it is assigned; " +
            "no --client-id)",
        ),
      )
      .addOption(
        new Option(
          "--assertion-managed-identity-client-id <id>",
          "credential: the app trusts this managed identity, whose token for api://AzureADTokenExchange is " +
            "the client assertion (run where it is assigned)",
        ),
      )
      // Accepted only to refuse it with a clear message: a secret on the command line ends up in process
      // lists and shell history. Hidden so that nobody is invited to use it.
      .addOption(new Option("--client-secret <value>").hideHelp())
      .addOption(
        new Option(
          "--smartspace-app-client-id <id>",
          "client ID of the Smartspace app (token audience); stack mode default: the stack's",
        ),
      )
      .addOption(
        new Option("--chat-api-url <url>", "Smartspace chat API base URL; stack mode default: the stack's"),
      )
      .addOption(
        new Option("--workspace <id>", "workspace to message; stack mode default: the integration's first"),
      )
      .addOption(
        new Option(
          "--role-value <value>",
          `value the token's roles claim must hold (default: the stack's smartspaceRoleValue output, else "${DEFAULT_ROLE_VALUE}")`,
        ),
      )
      .addOption(
        new Option(
          "--message <text>",
          `prompt to send (default: a short ping); a marker unique to the run, such as ${messageMarker("1a2b3c4d")}, is appended`,
        ),
      )
      .addOption(
        new Option(
          "--timeout <seconds>",
          "bound on the chat request, in seconds (more than 0, at most 3600); a flow still running then is " +
            "reported with its thread ID",
        ).default(String(DEFAULT_TIMEOUTS.chatMs / 1000), `${DEFAULT_TIMEOUTS.chatMs / 1000} s`),
      )
      .addOption(new Option("--json", "print one JSON document instead of progress lines"))
      .helpOption("-h, --help", "show this help")
      .addHelpText(
        "after",
        `
Credentials (exactly one per run):
  Stack mode picks the integration's credentialType: a client secret or certificate is read from Key Vault
  (you need Key Vault Secrets User on it), a federated integration needs the external token
  (--federated-token-file or AZURE_FEDERATED_TOKEN_FILE, or --assertion-managed-identity-client-id), and a
  managed identity is used where it is assigned. A credential flag that fits the type replaces Key Vault.
  Explicit mode needs --tenant-id, --smartspace-app-client-id, --chat-api-url, --workspace, --client-id
  (except with --managed-identity-client-id) and one of --client-secret-env, --certificate-path,
  --federated-token-file, --managed-identity-client-id, --assertion-managed-identity-client-id.

Examples:
  npm run verify -- --stack dev --integration crm-sync
  npm run verify -- --stack dev --integration ci-bot --federated-token-file /tmp/oidc-token
  CRM_SECRET=... npm run verify -- --tenant-id <id> --client-id <id> --client-secret-env CRM_SECRET \\
      --smartspace-app-client-id <id> --chat-api-url https://<chat api> --workspace <id>
  npm run verify -- --tenant-id <id> --client-id <id> --certificate-path ./onprem-agent.pem ...
  npm run verify -- --tenant-id <id> --managed-identity-client-id <id> ...   (in the Function App)
  npm run --silent verify -- --stack dev --integration crm-sync --json > report.json
      (--silent keeps npm's own banner off stdout, so that stdout is the JSON document alone)

Slow flows:
  The message sent ends with a marker unique to the run, such as ${messageMarker("1a2b3c4d")}. When the
  flow outlives --timeout (or a gateway answers 502/504), verify looks for the workspace thread whose first
  message carries that marker, so runs sharing a workspace are never credited with each other's threads.

Exit codes:
  0  verified (or the message was accepted and the flow is still running)
  2  usage or configuration error (nothing was attempted)
  3  step 1 failed: no token (credential refused or expired, federated subject/issuer/audience mismatch,
     certificate not registered, managed identity not assigned here, unknown client or tenant)
  4  step 2 failed: the token lacks the Integrations app role
  5  step 3 failed: 403/404 from the chat API (no access to the workspace, or unknown workspace)
  6  any other failure

Environment:
  AZURE_AUTHORITY_HOST        authority other than Microsoft Entra ID's public cloud (sovereign clouds, emulator)
  AZURE_FEDERATED_TOKEN_FILE  stack mode, federated integrations: the external token's file
  IDENTITY_ENDPOINT, IDENTITY_HEADER  set by App Service/Functions: where managed identities get tokens
  Stack mode reads a secret or certificate from Key Vault as you (DefaultAzureCredential: az login,
  environment, managed identity); you need the Key Vault Secrets User role on it.`,
      )
      .exitOverride()
      .allowExcessArguments(false)
  );
}

/** Runs the command line `argv` (without node and script) and resolves with the exit code. */
export async function main(argv: readonly string[], deps: CliDeps): Promise<number> {
  // Known before parsing, so that even a parse error is reported as JSON and never echoes a secret.
  const json = argv.includes("--json");
  // Shared with verify() and the caller, so that anything printed about a crash hides the secret and token.
  const redactor = deps.redactor ?? new Redactor();
  for (const value of valuesOf(argv, "--client-secret")) {
    redactor.add(value);
  }
  const reporter = new Reporter({ stdout: deps.stdout, stderr: deps.stderr, json }, redactor);

  const program = buildProgram();
  let parseError = "";
  program.configureOutput({
    writeOut: (text) => deps.stdout.write(text),
    writeErr: (text) => {
      parseError += text;
    },
    outputError: (text) => {
      parseError += text;
    },
  });
  try {
    program.parse([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.help") {
        return ExitCode.Ok;
      }
      return reporter.usage((parseError || error.message).replace(/^error:\s*/, "").trim(), "see --help");
    }
    throw error;
  }

  const options = program.opts<CliOptions>();
  try {
    const chatMs = parseTimeout(options.timeout);
    const target = await resolveTarget(options, deps, redactor);
    return await verify(target, {
      ...deps,
      json,
      redactor,
      timeouts: { ...deps.timeouts, chatMs },
    });
  } catch (error) {
    if (error instanceof VerifyUsageError) {
      return reporter.usage(error.message, error.fix);
    }
    return reporter.unexpected(error);
  }
}

async function resolveTarget(options: CliOptions, deps: CliDeps, redactor: Redactor): Promise<VerifyTarget> {
  if (options.clientSecret !== undefined) {
    throw new VerifyUsageError(
      "--client-secret is not accepted: a secret on the command line is visible in process lists and shell history",
      "put the secret in an environment variable and pass its name with --client-secret-env",
    );
  }
  if (options.stack !== undefined) {
    return resolveFromStack(options, deps, redactor);
  }
  if (options.integration !== undefined) {
    throw new VerifyUsageError(
      "--integration needs --stack",
      "add --stack <stack>, or use the explicit options",
    );
  }
  return resolveExplicit(options, deps, redactor);
}

async function resolveExplicit(
  options: CliOptions,
  deps: CliDeps,
  redactor: Redactor,
): Promise<VerifyTarget> {
  const missing: string[] = EXPLICIT_REQUIRED.filter(([key]) => options[key] === undefined).map(
    ([, flag]) => flag,
  );
  if (options.clientId === undefined && options.managedIdentityClientId === undefined) {
    missing.splice(1, 0, "--client-id");
  }
  if (missing.length > 0) {
    throw new VerifyUsageError(
      `missing ${missing.join(", ")}`,
      "either name a stack (--stack <stack> --integration <name>) or give --tenant-id, --client-id, " +
        "--smartspace-app-client-id, --chat-api-url, --workspace and one credential (see --help)",
    );
  }
  const { credential, clientId } = await explicitCredential(options, options.clientId, {
    env: deps.env,
    redactor,
  });
  return {
    tenantId: options.tenantId!,
    clientId: clientId!,
    credential,
    smartspaceAppClientId: options.smartspaceAppClientId!,
    chatApiUrl: options.chatApiUrl!,
    workspaceId: options.workspace!,
    roleValue: options.roleValue,
    message: options.message,
    source: "explicit options",
  };
}

const integrationOutputSchema = integrationCredentialSchema.extend({
  tenantId: z.string(),
  // Unread when --workspace names one, so its shape must not fail the run then (e.g. a secret output).
  workspaces: z.array(z.string()).optional().catch(undefined),
});

const stackOutputsSchema = z.looseObject({
  integrations: z.record(z.string(), z.unknown()).optional(),
  smartspaceAppClientId: z.string().optional(),
  smartspaceRoleValue: z.string().optional(),
});

const smartspaceConfigSchema = z.looseObject({
  appClientId: z.string().optional(),
  chatApiUrl: z.string().optional(),
});

async function resolveFromStack(
  options: CliOptions,
  deps: CliDeps,
  redactor: Redactor,
): Promise<VerifyTarget> {
  const stack = options.stack!;
  for (const [key, flag] of [
    ["tenantId", "--tenant-id"],
    ["clientId", "--client-id"],
  ] as const) {
    if (options[key] !== undefined) {
      throw new VerifyUsageError(
        `${flag} cannot be combined with --stack: the stack defines the integration's identity`,
        `drop ${flag}, or drop --stack and give every explicit option`,
      );
    }
  }
  if (options.integration === undefined) {
    throw new VerifyUsageError(
      "--stack needs --integration <name>",
      "add --integration with a name from the stack's integrations output",
    );
  }
  const runPulumi = deps.runPulumi ?? defaultPulumiRunner;
  const rawOutputs = tryParseJson(
    await runStackCommand(runPulumi, ["stack", "output", "--json", "--stack", stack], stack),
  );
  rejectSecretOutputs(rawOutputs, stack, options);
  const outputs = parseJson(rawOutputs, stackOutputsSchema, `pulumi stack output --json --stack ${stack}`);
  const rawConfig = parseJson(
    tryParseJson(await runStackCommand(runPulumi, ["config", "--json", "--stack", stack], stack)),
    z.record(
      z.string(),
      z.looseObject({
        value: z.string().optional(),
        objectValue: z.unknown().optional(),
        secret: z.boolean().optional(),
      }),
    ),
    `pulumi config --json --stack ${stack}`,
  );

  const integrations = outputs.integrations ?? {};
  const name = options.integration;
  if (!(name in integrations)) {
    const known = Object.keys(integrations);
    throw new VerifyUsageError(
      `stack ${stack} has no integration named "${name}"`,
      known.length > 0
        ? `use one of: ${known.join(", ")}`
        : "run pulumi up for this stack first (its integrations output is empty)",
    );
  }
  const integrationResult = integrationOutputSchema.safeParse(integrations[name]);
  if (!integrationResult.success) {
    throw new VerifyUsageError(
      `stack ${stack} output integrations.${name} lacks clientId or tenantId, or has an unexpected shape`,
      "run pulumi up with this version of the project so the outputs are current",
    );
  }
  const integration = integrationResult.data;
  const smartspaceEntry = rawConfig[`${PROJECT}:smartspace`];
  if (
    smartspaceEntry?.secret === true &&
    smartspaceEntry.value === undefined &&
    (options.chatApiUrl === undefined ||
      (options.smartspaceAppClientId === undefined && outputs.smartspaceAppClientId === undefined))
  ) {
    throw new VerifyUsageError(
      `stack ${stack}'s ${PROJECT}:smartspace config is secret, so pulumi config --json does not show it`,
      "store it as plain config (it holds IDs and URLs, not secrets), or pass --chat-api-url and " +
        "--smartspace-app-client-id",
    );
  }
  const smartspaceConfig = smartspaceConfigSchema.safeParse(
    smartspaceEntry?.objectValue ?? tryParseJson(smartspaceEntry?.value),
  );
  const config = smartspaceConfig.success ? smartspaceConfig.data : {};

  const smartspaceAppClientId =
    options.smartspaceAppClientId ?? outputs.smartspaceAppClientId ?? config.appClientId;
  if (smartspaceAppClientId === undefined) {
    throw new VerifyUsageError(
      `stack ${stack} does not say which Smartspace app to request a token for`,
      `pass --smartspace-app-client-id, or set ${PROJECT}:smartspace.appClientId`,
    );
  }
  const chatApiUrl = options.chatApiUrl ?? config.chatApiUrl;
  if (chatApiUrl === undefined) {
    throw new VerifyUsageError(
      `stack ${stack} has no ${PROJECT}:smartspace.chatApiUrl`,
      `set it (admin portal shows the Chat API URL) or pass --chat-api-url`,
    );
  }
  const workspaces = integration.workspaces ?? [];
  const workspaceId = options.workspace ?? workspaces[0];
  if (workspaceId === undefined) {
    throw new VerifyUsageError(
      `integration ${name} in stack ${stack} has no workspaces`,
      `add workspaces to it in ${PROJECT}:integrations and run pulumi up, or pass --workspace <id>`,
    );
  }
  const { credential, clientId } = await stackCredential(
    integration,
    options,
    { stack, integration: name },
    {
      env: deps.env,
      redactor,
      readSecret: deps.readSecret ?? defaultSecretReader,
      lookupMs: deps.timeouts?.lookupMs ?? DEFAULT_TIMEOUTS.lookupMs,
    },
  );
  return {
    tenantId: integration.tenantId,
    clientId,
    credential,
    smartspaceAppClientId,
    chatApiUrl,
    workspaceId,
    roleValue: options.roleValue ?? outputs.smartspaceRoleValue,
    message: options.message,
    source: `stack ${stack}, integration ${name}`,
  };
}

async function runStackCommand(
  runPulumi: PulumiRunner,
  args: readonly string[],
  stack: string,
): Promise<string> {
  try {
    return await runPulumi(args);
  } catch (error) {
    if (error instanceof CliUnavailableError) {
      // The CLI itself is missing: the same explanation npm run up gives, not a guess about the stack.
      throw new VerifyUsageError(error.problem, error.fix);
    }
    throw new VerifyUsageError(
      `pulumi ${args.join(" ")} failed: ${firstLine(error)}`,
      `check that stack ${stack} exists on the backend (npm run pulumi -- stack ls) and, for the local ` +
        "backend, that PULUMI_CONFIG_PASSPHRASE is set",
    );
  }
}

/** What `pulumi stack output --json` prints, without --show-secrets, in place of a secret output's value. */
const SECRET_PLACEHOLDER = "[secret]";

/**
 * Refuses a stack whose outputs, among those verify would use, are secret: the CLI prints "[secret]" for them,
 * which would otherwise be taken for a client ID or a Key Vault URI.
 */
function rejectSecretOutputs(outputs: unknown, stack: string, options: CliOptions): void {
  const integration = ["integrations", options.integration!];
  const credentialType = lookup(outputs, [...integration, "credentialType"]);
  // A credential flag replaces what the stack would have verify read from Key Vault.
  const credentialFlag = CREDENTIAL_FLAGS.some(([key]) => options[key] !== undefined);
  const read: { readonly path: readonly string[]; readonly flag?: string }[] = [
    { path: [...integration, "clientId"] },
    { path: [...integration, "tenantId"] },
    ...credentialOutputPaths(credentialType)
      .slice(0, credentialFlag ? 1 : undefined)
      .map((path) => ({ path: [...integration, ...path] })),
  ];
  if (options.workspace === undefined) {
    read.push({ path: [...integration, "workspaces"], flag: "--workspace" });
  }
  if (options.smartspaceAppClientId === undefined) {
    read.push({ path: ["smartspaceAppClientId"], flag: "--smartspace-app-client-id" });
  }
  if (options.roleValue === undefined) {
    read.push({ path: ["smartspaceRoleValue"], flag: "--role-value" });
  }
  const secret = new Map<string, string | undefined>();
  for (const { path: keys, flag } of read) {
    const at = secretAlong(outputs, keys);
    if (at !== undefined) {
      // A secret parent (the whole integration) hides the identity too: only the explicit options remain.
      secret.set(at, at === keys.join(".") ? flag : undefined);
    }
  }
  if (secret.size === 0) {
    return;
  }
  const paths = [...secret.keys()];
  const flags = [...secret.values()];
  const workaround = flags.every((flag) => flag !== undefined)
    ? `pass ${flags.join(" and ")}`
    : "use the explicit options (--tenant-id, --client-id, a credential flag, ...; see --help)";
  throw new VerifyUsageError(
    `stack ${stack} output ${paths.join(", ")} ${paths.length === 1 ? "is" : "are"} secret: ` +
      `pulumi stack output prints "${SECRET_PLACEHOLDER}" instead of the value`,
    `run pulumi up for the stack with the current version of this project (npm run up -- ${stack}), which ` +
      `exports these IDs and URIs as plain outputs; until then, ${workaround}`,
  );
}

/** The value at `keys` below `root`, if every step is an object. */
function lookup(root: unknown, keys: readonly string[]): unknown {
  let current = root;
  for (const key of keys) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The dotted path at which walking `keys` down from `root` meets the "[secret]" placeholder, if it does. */
function secretAlong(root: unknown, keys: readonly string[]): string | undefined {
  let current = root;
  for (let depth = 0; depth < keys.length; depth++) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[keys[depth]];
    if (current === SECRET_PLACEHOLDER) {
      return keys.slice(0, depth + 1).join(".");
    }
  }
  return Array.isArray(current) && current.includes(SECRET_PLACEHOLDER) ? keys.join(".") : undefined;
}

function parseJson<T>(value: unknown, schema: z.ZodType<T>, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new VerifyUsageError(
      `${what} printed something other than the expected JSON`,
      "run it yourself to see what it says",
    );
  }
  return parsed.data;
}

function tryParseJson(text: string | undefined): unknown {
  if (text === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseTimeout(value: string | undefined): number {
  const secondsValue = Number(value ?? DEFAULT_TIMEOUTS.chatMs / 1000);
  if (!Number.isFinite(secondsValue) || secondsValue <= 0 || secondsValue > 3600) {
    throw new VerifyUsageError(
      `--timeout "${value}" is not a number of seconds more than 0 and at most 3600`,
      "give the bound on the chat request in seconds: more than 0, at most 3600 (e.g. --timeout 120)",
    );
  }
  return secondsValue * 1000;
}

/** Values given to `flag` either as `--flag value` or `--flag=value`. */
function valuesOf(argv: readonly string[], flag: string): string[] {
  const values: string[] = [];
  argv.forEach((arg, index) => {
    if (arg === flag && index + 1 < argv.length) {
      values.push(argv[index + 1]);
    } else if (arg.startsWith(`${flag}=`)) {
      values.push(arg.slice(flag.length + 1));
    }
  });
  return values;
}

export interface PulumiRunnerOptions {
  /**
   * The CLI's Node entry point. Default: the `pulumi` npm package's launcher, `pulumi/run.js`, unless
   * SMARTSPACE_PULUMI_CLI names an installed CLI.
   */
  readonly script?: string;
  /** Bound on one CLI call. Default 120 s. */
  readonly timeoutMs?: number;
  /** Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const MAX_PULUMI_OUTPUT_BYTES = 64 * 1024 * 1024;

/**
 * Runs the pinned CLI as `node <pulumi/run.js> <args> --non-interactive` (or the CLI SMARTSPACE_PULUMI_CLI
 * names), on the same backend `npm run pulumi` uses (local .pulumi-state/ unless PULUMI_BACKEND_URL says
 * otherwise), so that `--stack dev` means the stack `npm run up -- dev` deployed. Node itself is started,
 * never `node_modules/.bin/pulumi.cmd`: since Node 20.12.2, Windows refuses to start a .cmd file without a
 * shell (EINVAL), and a shell would re-parse the arguments. Resolves with the CLI's stdout; rejects with a
 * {@link CliUnavailableError} when the CLI cannot be downloaded or started, with the CLI's last stderr line
 * when it fails, or on the time limit without waiting for the CLI (run.js's own child may hold the pipes open
 * after run.js is stopped).
 *
 * Not the Automation API's LocalWorkspace: its stackOutputs() and getAllConfig() always pass --show-secrets
 * (@pulumi/pulumi automation/localWorkspace.js), decrypting every secret output and config value, provider
 * credentials included, into this process where today none is; they take two CLI runs for the outputs
 * plus a `pulumi version` where one run does; and they cannot be bounded in time.
 */
export function createPulumiRunner(options: PulumiRunnerOptions = {}): PulumiRunner {
  const timeoutMs = options.timeoutMs ?? PULUMI_TIMEOUT_MS;
  return (args) =>
    new Promise((resolve, reject) => {
      const env = options.env ?? process.env;
      let cli: PulumiCli;
      try {
        cli = locateCli(env, options.script);
      } catch (error) {
        reject(error);
        return;
      }
      const invocation = planPulumi([...args], env);
      const child = spawn(cli.command, [...cli.args, ...invocation.commands[0], "--non-interactive"], {
        cwd: PROJECT_ROOT,
        env: { ...env, ...invocation.env, ...cli.env },
        stdio: ["ignore", "pipe", "pipe"],
        windowsHide: true,
      });
      const stdout: Buffer[] = [];
      let stdoutBytes = 0;
      let stderr = "";
      let settled = false;
      const settle = (error: Error | undefined, value = "") => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        if (error) {
          child.kill();
          reject(error);
        } else {
          resolve(value);
        }
      };
      const timer = setTimeout(
        () => settle(new Error(`the Pulumi CLI gave no answer within ${seconds(timeoutMs)}`)),
        timeoutMs,
      );
      child.stdout.on("data", (chunk: Buffer) => {
        stdoutBytes += chunk.length;
        if (stdoutBytes > MAX_PULUMI_OUTPUT_BYTES) {
          settle(new Error(`the Pulumi CLI printed more than ${MAX_PULUMI_OUTPUT_BYTES} bytes`));
        } else {
          stdout.push(chunk);
        }
      });
      child.stderr.on("data", (chunk: Buffer) => {
        // Only the end matters (the CLI's own error is its last line); earlier lines are progress.
        stderr = (stderr + chunk.toString("utf8")).slice(-64 * 1024);
      });
      child.on("error", (error) =>
        settle(
          cli.override !== undefined
            ? overrideUnusable(cli, error.message)
            : new Error(`could not start ${cli.command}: ${error.message}`),
        ),
      );
      child.on("close", (code, signal) => {
        if (code === 0) {
          settle(undefined, Buffer.concat(stdout).toString("utf8"));
          return;
        }
        const lastLine = stderr
          .split("\n")
          .map((line) => line.trim())
          .filter((line) => line !== "")
          .at(-1);
        settle(
          explainLauncherFailure(stderr, cli, env) ??
            new Error(lastLine ?? `the Pulumi CLI exited with ${code ?? signal}`),
        );
      });
    });
}

const defaultPulumiRunner = createPulumiRunner();

const defaultSecretReader: SecretReader = async (secretUri, { abortSignal }) => {
  const [{ DefaultAzureCredential }, { SecretClient, parseKeyVaultSecretIdentifier }] = await Promise.all([
    import("@azure/identity"),
    import("@azure/keyvault-secrets"),
  ]);
  const { vaultUrl, name, version } = parseKeyVaultSecretIdentifier(secretUri);
  const client = new SecretClient(vaultUrl, new DefaultAzureCredential());
  const secret = await client.getSecret(name, { version, abortSignal });
  if (!secret.value) {
    throw new Error(`secret ${name} has no value`);
  }
  return {
    value: secret.value,
    version: secret.properties.version,
    expiresOn: secret.properties.expiresOn,
    contentType: secret.properties.contentType,
  };
};

if (require.main === module) {
  // main() adds the secret and the token to this redactor as it learns them, so that even a crash that
  // escapes main() is reported without them.
  const redactor = new Redactor();
  main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    redactor,
  }).then(
    (code) => exit(code),
    (error: unknown) => {
      process.stderr.write(redactor.redact(`unexpected error: ${String(error)}`) + "\n");
      exit(ExitCode.Other);
    },
  );
}

function exit(code: number): void {
  process.exitCode = code;
  // Keep-alive sockets from the HTTP clients must not hold the command open once its answer is printed.
  setTimeout(() => process.exit(code), 100).unref();
}
