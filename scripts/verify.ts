/**
 * `npm run verify`: proves that a deployed integration can authenticate and talk to its workspace.
 *
 * Two ways to say which integration: from a stack (outputs and config read through the pinned Pulumi CLI,
 * the client secret read from Key Vault with the caller's own Azure login), or explicitly (no Pulumi; the
 * secret comes from a named environment variable, never from the command line). The checks themselves live
 * in lib/verify.ts; this file only turns arguments into a {@link VerifyTarget}.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { z } from "zod";
import {
  DEFAULT_ROLE_VALUE,
  DEFAULT_TIMEOUTS,
  ExitCode,
  Redactor,
  Reporter,
  type VerifyDeps,
  type VerifyTarget,
  VerifyUsageError,
  verify,
} from "../lib/verify";
import { plan as planPulumi } from "./pulumi";

const PROJECT = "smartspace-integration";
const PROJECT_ROOT = path.resolve(__dirname, "..");
const PULUMI_TIMEOUT_MS = 120_000;

/** Runs the Pulumi CLI with `args` and resolves with its stdout; rejects with a message on failure. */
export type PulumiRunner = (args: readonly string[]) => Promise<string>;

export interface KeyVaultSecret {
  readonly value: string;
  readonly version?: string;
  readonly expiresOn?: Date;
}

/** Reads the current version of a Key Vault secret given its (versionless) URI. */
export type SecretReader = (secretUri: string) => Promise<KeyVaultSecret>;

export interface CliDeps extends Omit<VerifyDeps, "json"> {
  /** Default: the project's pinned CLI, `node_modules/.bin/pulumi`. */
  readonly runPulumi?: PulumiRunner;
  /** Default: `@azure/keyvault-secrets` with `DefaultAzureCredential`. */
  readonly readSecret?: SecretReader;
  /** Environment: the variable named by `--client-secret-env`, and `AZURE_AUTHORITY_HOST`. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

interface CliOptions {
  stack?: string;
  integration?: string;
  tenantId?: string;
  clientId?: string;
  clientSecretEnv?: string;
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
  ["clientId", "--client-id"],
  ["clientSecretEnv", "--client-secret-env"],
  ["smartspaceAppClientId", "--smartspace-app-client-id"],
  ["chatApiUrl", "--chat-api-url"],
  ["workspace", "--workspace"],
] as const;

function buildProgram(): Command {
  return (
    new Command("verify")
      .description(
        "Prove that a deployed Smartspace integration can authenticate and use its workspace: acquire a token " +
          "with its client secret, check the token holds the Integrations role, and send a message.",
      )
      .addOption(new Option("--stack <stack>", "read the integration from this Pulumi stack (stack mode)"))
      .addOption(new Option("--integration <name>", "integration name in the stack (stack mode)"))
      .addOption(new Option("--tenant-id <id>", "tenant of the integration (explicit mode)"))
      .addOption(new Option("--client-id <id>", "client ID of the integration (explicit mode)"))
      .addOption(
        new Option(
          "--client-secret-env <VAR>",
          "NAME of the environment variable holding the client secret (explicit mode)",
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
      .addOption(new Option("--message <text>", "prompt to send (default: a short ping)"))
      .addOption(
        new Option(
          "--timeout <seconds>",
          "bound on the chat request; a flow still running then is reported with its thread ID",
        ).default(String(DEFAULT_TIMEOUTS.chatMs / 1000), `${DEFAULT_TIMEOUTS.chatMs / 1000} s`),
      )
      .addOption(new Option("--json", "print one JSON document instead of progress lines"))
      .helpOption("-h, --help", "show this help")
      .addHelpText(
        "after",
        `
Examples:
  npm run verify -- --stack dev --integration crm-sync
  CRM_SECRET=... npm run verify -- --tenant-id <id> --client-id <id> --client-secret-env CRM_SECRET \\
      --smartspace-app-client-id <id> --chat-api-url https://<chat api> --workspace <id>

Exit codes:
  0  verified (or the message was accepted and the flow is still running)
  2  usage or configuration error (nothing was attempted)
  3  step 1 failed: no token (wrong or expired secret, unknown client or tenant)
  4  step 2 failed: the token lacks the Integrations app role
  5  step 3 failed: 403/404 from the chat API (no access to the workspace, or unknown workspace)
  6  any other failure

Environment:
  AZURE_AUTHORITY_HOST  authority other than Microsoft Entra ID's public cloud (sovereign clouds, emulator)
  Stack mode reads the secret from Key Vault as you (DefaultAzureCredential: az login, environment, managed
  identity); you need the Key Vault Secrets User role on the secret.`,
      )
      .exitOverride()
      .allowExcessArguments(false)
  );
}

/** Runs the command line `argv` (without node and script) and resolves with the exit code. */
export async function main(argv: readonly string[], deps: CliDeps): Promise<number> {
  // Known before parsing, so that even a parse error is reported as JSON and never echoes a secret.
  const json = argv.includes("--json");
  const redactor = new Redactor(valuesOf(argv, "--client-secret"));
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
      timeouts: { ...deps.timeouts, chatMs },
    });
  } catch (error) {
    if (error instanceof VerifyUsageError) {
      return reporter.usage(error.message, error.fix);
    }
    throw error;
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

function resolveExplicit(options: CliOptions, deps: CliDeps, redactor: Redactor): VerifyTarget {
  const missing = EXPLICIT_REQUIRED.filter(([key]) => options[key] === undefined).map(([, flag]) => flag);
  if (missing.length > 0) {
    throw new VerifyUsageError(
      `missing ${missing.join(", ")}`,
      "either name a stack (--stack <stack> --integration <name>) or give all of --tenant-id, --client-id, " +
        "--client-secret-env, --smartspace-app-client-id, --chat-api-url and --workspace",
    );
  }
  return {
    tenantId: options.tenantId!,
    clientId: options.clientId!,
    clientSecret: secretFromEnv(options.clientSecretEnv!, deps.env, redactor),
    smartspaceAppClientId: options.smartspaceAppClientId!,
    chatApiUrl: options.chatApiUrl!,
    workspaceId: options.workspace!,
    roleValue: options.roleValue,
    message: options.message,
    source: `explicit options, secret from $${options.clientSecretEnv}`,
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function secretFromEnv(
  name: string,
  env: Readonly<Record<string, string | undefined>>,
  redactor: Redactor,
): string {
  if (!ENV_NAME.test(name)) {
    // Whatever was given may well be the secret itself: never repeat it.
    redactor.add(name);
    throw new VerifyUsageError(
      "--client-secret-env takes the NAME of an environment variable (letters, digits, underscores), not the secret",
      "export the secret in a variable, e.g. SMARTSPACE_CLIENT_SECRET, and pass --client-secret-env SMARTSPACE_CLIENT_SECRET",
    );
  }
  const value = env[name];
  if (value === undefined || value.length === 0) {
    throw new VerifyUsageError(
      `environment variable ${name} (from --client-secret-env) is not set or empty`,
      `export ${name} with the client secret (e.g. from Key Vault), or use --stack to read it from Key Vault`,
    );
  }
  redactor.add(value);
  return value;
}

const integrationOutputSchema = z.looseObject({
  clientId: z.string(),
  tenantId: z.string(),
  workspaces: z.array(z.string()).optional(),
  keyVaultSecretUris: z.looseObject({ clientSecret: z.string() }).optional(),
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
    ["clientSecretEnv", "--client-secret-env"],
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
  const outputs = parseJson(
    await runStackCommand(runPulumi, ["stack", "output", "--json", "--stack", stack], stack),
    stackOutputsSchema,
    `pulumi stack output --json --stack ${stack}`,
  );
  const rawConfig = parseJson(
    await runStackCommand(runPulumi, ["config", "--json", "--stack", stack], stack),
    z.record(
      z.string(),
      z.looseObject({ value: z.string().optional(), objectValue: z.unknown().optional() }),
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
      `stack ${stack} output integrations.${name} lacks clientId or tenantId`,
      "run pulumi up with this version of the project so the outputs are current",
    );
  }
  const integration = integrationResult.data;
  const smartspaceEntry = rawConfig[`${PROJECT}:smartspace`];
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
  const secretUri = integration.keyVaultSecretUris?.clientSecret;
  if (secretUri === undefined) {
    throw new VerifyUsageError(
      `stack ${stack} output integrations.${name} has no keyVaultSecretUris.clientSecret`,
      "run pulumi up so the client secret is stored in Key Vault, or use the explicit options",
    );
  }

  const readSecret = deps.readSecret ?? defaultSecretReader;
  let secret: KeyVaultSecret;
  try {
    secret = await readSecret(secretUri);
  } catch (error) {
    throw new VerifyUsageError(
      `could not read the client secret from Key Vault (${secretUri}): ${firstLine(error)}`,
      "sign in (az login) as an identity with the Key Vault Secrets User role on this secret " +
        "(the integration's secretReaders), or use the explicit options",
    );
  }
  redactor.add(secret.value);
  const expiry = secret.expiresOn ? `, expires ${secret.expiresOn.toISOString()}` : "";
  return {
    tenantId: integration.tenantId,
    clientId: integration.clientId,
    clientSecret: secret.value,
    smartspaceAppClientId,
    chatApiUrl,
    workspaceId,
    roleValue: options.roleValue ?? outputs.smartspaceRoleValue,
    message: options.message,
    source:
      `stack ${stack}, integration ${name}; secret ${secretUri}` +
      (secret.version ? ` (version ${secret.version}${expiry})` : expiry ? ` (${expiry.slice(2)})` : ""),
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
    throw new VerifyUsageError(
      `pulumi ${args.join(" ")} failed: ${firstLine(error)}`,
      `check that stack ${stack} exists on the backend (npm run pulumi -- stack ls) and, for the local ` +
        "backend, that PULUMI_CONFIG_PASSPHRASE is set",
    );
  }
}

function parseJson<T>(text: string, schema: z.ZodType<T>, what: string): T {
  const parsed = schema.safeParse(tryParseJson(text));
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
      `--timeout "${value}" is not a number of seconds`,
      "use a number from 1 to 3600",
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

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.split("\n").find((l) => l.trim().length > 0) ?? text;
  return line.length > 300 ? `${line.slice(0, 297)}...` : line.trim();
}

const defaultPulumiRunner: PulumiRunner = (args) =>
  new Promise((resolve, reject) => {
    // The pinned CLI, on the same backend `npm run pulumi` uses (local .pulumi-state/ unless
    // PULUMI_BACKEND_URL says otherwise), so that `--stack dev` means the stack `npm run up -- dev` deployed.
    const invocation = planPulumi([...args], process.env);
    const cli = process.platform === "win32" ? "pulumi.cmd" : "pulumi";
    const pulumi = path.join(PROJECT_ROOT, "node_modules", ".bin", cli);
    execFile(
      pulumi,
      [...invocation.commands[0], "--non-interactive"],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, ...invocation.env },
        timeout: PULUMI_TIMEOUT_MS,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          // The CLI's own error is its last line (earlier ones are progress, such as its first download).
          const lastLine = stderr
            .split("\n")
            .map((line) => line.trim())
            .filter((line) => line !== "")
            .at(-1);
          reject(
            new Error(code === "ENOENT" ? `${pulumi} not found; run npm ci` : (lastLine ?? error.message)),
          );
        } else {
          resolve(stdout);
        }
      },
    );
  });

const defaultSecretReader: SecretReader = async (secretUri) => {
  const [{ DefaultAzureCredential }, { SecretClient, parseKeyVaultSecretIdentifier }] = await Promise.all([
    import("@azure/identity"),
    import("@azure/keyvault-secrets"),
  ]);
  const { vaultUrl, name, version } = parseKeyVaultSecretIdentifier(secretUri);
  const client = new SecretClient(vaultUrl, new DefaultAzureCredential());
  const secret = await client.getSecret(name, { version });
  if (!secret.value) {
    throw new Error(`secret ${name} has no value`);
  }
  return { value: secret.value, version: secret.properties.version, expiresOn: secret.properties.expiresOn };
};

if (require.main === module) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => exit(code),
    (error: unknown) => {
      // A bug, not a user error; still never print anything shaped like a token or secret.
      process.stderr.write(new Redactor().redact(`unexpected error: ${String(error)}`) + "\n");
      exit(ExitCode.Other);
    },
  );
}

function exit(code: number): void {
  process.exitCode = code;
  // Keep-alive sockets from the HTTP clients must not hold the command open once its answer is printed.
  setTimeout(() => process.exit(code), 100).unref();
}
