/**
 * `npm run check -- <stack>`: checks a stack's configuration and shows what the stack would create, offline:
 * no Azure, no Pulumi CLI, no state. It reads Pulumi.yaml and Pulumi.<stack>.yaml, validates every key with
 * the program's own validation (program/config.ts), then runs the real program (index.ts) once under
 * mocks that answer like a first `pulumi preview`, and prints the plan (./plan.ts).
 *
 * Exit codes: 0 valid; 1 the configuration or the program refused it (one line per problem); 2 usage.
 */
import * as path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { ConfigError, PROJECT, parseStackConfig } from "../../program/config";
import { readStackConfig, StackFileError, type StackConfigFile } from "../stackFile";
import { evaluateProgram } from "./evaluate";
import { offlineMocks } from "./offlineMocks";
import { buildPlan, type Plan, renderPlan } from "./plan";

export const ExitCode = { Valid: 0, Invalid: 1, Usage: 2 } as const;

/**
 * What the program may ask its caller instead of Azure. Offline, the tenant's app management policy cannot be
 * read: it counts as restricting nothing here, and the plan says that it was not checked.
 */
const OFFLINE_PROGRAM_OPTIONS = { readTenantPolicy: async () => ({ enabled: false }) };

export interface CheckResult {
  readonly stack: string;
  readonly file?: string;
  readonly valid: boolean;
  /** One line each, as the program reports them. */
  readonly problems: readonly string[];
  /** What check could not see (imported environments, ...). */
  readonly warnings: readonly string[];
  readonly plan?: Plan;
}

/** Checks one stack; never throws for a problem of the stack's own (those are in `problems`). */
export async function checkStack(stack: string, options: { stackFile?: string } = {}): Promise<CheckResult> {
  let file: StackConfigFile;
  try {
    file = readStackConfig(stack, options.stackFile);
  } catch (error) {
    if (error instanceof StackFileError) {
      return { stack, valid: false, problems: [error.message], warnings: [] };
    }
    throw error;
  }
  const warnings: string[] = [];
  if (file.environments.length > 0) {
    warnings.push(
      `${file.file} imports Pulumi ESC environments (${file.environments.join(", ")}); check cannot see their ` +
        "values, so keys they set are reported as missing",
    );
  }
  const stackName = stack.split("/").at(-1)!;
  const problems = file.encrypted
    .filter((key) => key.startsWith(`${PROJECT}:`))
    .map(
      (key) =>
        `${key} is encrypted (secure:), which check cannot read; nothing in ${PROJECT}: is secret, so set it in plain text`,
    );
  let config;
  try {
    config = parseStackConfig(file.raw, stackName);
  } catch (error) {
    if (error instanceof ConfigError) {
      return { stack, file: file.file, valid: false, problems: [...problems, ...error.problems], warnings };
    }
    throw error;
  }
  if (problems.length > 0) {
    return { stack, file: file.file, valid: false, problems, warnings };
  }
  try {
    const evaluation = await evaluateProgram({
      stack: stackName,
      config: file.raw,
      mocks: () => offlineMocks(file.raw),
      preview: true,
      programOptions: OFFLINE_PROGRAM_OPTIONS,
    });
    const errors = evaluation.logs
      .filter((entry) => entry.severity === "error")
      .map((entry) => entry.message);
    if (errors.length > 0) {
      return { stack, file: file.file, valid: false, problems: errors, warnings };
    }
    return {
      stack,
      file: file.file,
      valid: true,
      problems: [],
      warnings,
      plan: buildPlan(evaluation, config, file.raw),
    };
  } catch (error) {
    // The program refused the configuration beyond the schema (a vault in another subscription, ...): its
    // message is written for the user, as `pulumi preview` would show it.
    // The SDK prefixes the message with the path of every input it was serializing when the error reached
    // it (runtime/rpc.ts); only the program's own words are for the user.
    const message = (error instanceof Error ? error.message : String(error)).replace(
      /^(error serializing property "[^"]*": )+/,
      "",
    );
    return {
      stack,
      file: file.file,
      valid: false,
      problems: message.split("\n").filter((line) => line.trim() !== ""),
      warnings,
    };
  }
}

export interface CheckIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

export async function main(argv: readonly string[], io: CheckIo): Promise<number> {
  const program = new Command("npm run check --")
    .description(
      "Check a stack's configuration offline (no Azure, no Pulumi CLI, no state) and show what the stack " +
        "would create, look up, and learn only at deploy time. Reads Pulumi.yaml and Pulumi.<stack>.yaml.",
    )
    .argument("<stack>", "stack name, e.g. dev (reads Pulumi.dev.yaml)")
    .addOption(new Option("--stack-file <path>", "read this file instead of Pulumi.<stack>.yaml"))
    .addOption(
      new Option("--json", "print the result as JSON (use npm run --silent check -- <stack> --json)"),
    )
    .addHelpText(
      "after",
      "\nExit codes: 0 valid, 1 invalid (one line per problem), 2 usage error.\n" +
        "Example: npm run check -- dev",
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  try {
    program.parse([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.Valid : ExitCode.Usage;
    }
    throw error;
  }
  const [stack] = program.args;
  const options = program.opts<{ stackFile?: string; json?: boolean }>();
  // npm runs scripts in the project directory; a relative path means one from where the user typed it.
  const stackFile =
    options.stackFile === undefined
      ? undefined
      : path.resolve(process.env.INIT_CWD ?? process.cwd(), options.stackFile);
  const result = await checkStack(stack, { stackFile });
  if (options.json) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else if (result.valid) {
    io.stdout.write(`${renderPlan(result.plan!, result.file!)}\n`);
    for (const warning of result.warnings) io.stderr.write(`warning: ${warning}\n`);
  } else {
    for (const warning of result.warnings) io.stderr.write(`warning: ${warning}\n`);
    if (result.file === undefined) {
      io.stderr.write(`error: ${result.problems.join("\n")}\n`);
      return ExitCode.Usage;
    }
    const where = result.file;
    io.stderr.write(
      `${where}: ${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}:\n` +
        result.problems.map((problem) => `  - ${problem}\n`).join(""),
    );
    if (result.problems.some((problem) => problem.includes(": placeholder; fill in "))) {
      io.stderr.write(
        `Fill in the placeholders (<...>) in ${where}, then run npm run check -- ${stack} again.\n`,
      );
    }
  }
  return result.valid ? ExitCode.Valid : result.file === undefined ? ExitCode.Usage : ExitCode.Invalid;
}

if (require.main === module) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
      // The SDK may keep timers of the mock run alive; the answer is printed.
      setTimeout(() => process.exit(code), 100).unref();
    },
    (error: unknown) => {
      process.stderr.write(
        `check: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exit(ExitCode.Invalid);
    },
  );
}
