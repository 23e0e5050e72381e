/**
 * Which stacks the pipelines run, derived from the stack files present (`Pulumi.<stack>.yaml` beside
 * Pulumi.yaml) and their tier in policy/stacks.yaml (a stack not listed there is production). Adding an
 * environment is then a stack file, a line in policy/stacks.yaml and its GitHub environments; no workflow edit.
 *
 *   npm run --silent pipeline-stacks -- [--only <stack|all>] [--github-output "$GITHUB_OUTPUT"]
 *
 * Prints and writes `all`, `production` and `nonproduction` as JSON lists (the workflows' matrices). Exits 1
 * when --only names a stack without a stack file, or policy/stacks.yaml is invalid.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { isProduction } from "../policy/write-config";
import { appendOutputs } from "./report";

const STACK_FILE = /^Pulumi\.([A-Za-z0-9_.-]+)\.yaml$/;

export interface PipelineStacks {
  readonly all: string[];
  readonly production: string[];
  readonly nonproduction: string[];
}

/** The stacks of a project directory, split by tier; `only` narrows to one stack (or "all"). */
export function pipelineStacks(root: string, only = "all"): PipelineStacks {
  const settings = readFileSync(path.join(root, "policy", "stacks.yaml"), "utf8");
  const all = readdirSync(root)
    .map((name) => STACK_FILE.exec(name)?.[1])
    .filter((stack): stack is string => stack !== undefined)
    .sort();
  if (only !== "all" && !all.includes(only)) {
    throw new Error(`no stack file Pulumi.${only}.yaml; the stacks are: ${all.join(", ") || "(none)"}`);
  }
  const chosen = only === "all" ? all : [only];
  return {
    all: chosen,
    production: chosen.filter((stack) => isProduction(settings, stack)),
    nonproduction: chosen.filter((stack) => !isProduction(settings, stack)),
  };
}

if (require.main === module) {
  new Command()
    .name("pipeline-stacks")
    .description("List the stacks the pipelines run, by tier, from the stack files and policy/stacks.yaml.")
    .option("--only <stack>", "a single stack, or all", "all")
    .option("--root <dir>", "project directory", path.resolve(__dirname, ".."))
    .option("--github-output <file>", "append all=, production= and nonproduction= (JSON lists)")
    .action((opts: { only: string; root: string; githubOutput?: string }) => {
      try {
        const stacks = pipelineStacks(opts.root, opts.only);
        const outputs = Object.fromEntries(
          Object.entries(stacks).map(([key, list]) => [key, JSON.stringify(list)]),
        );
        if (opts.githubOutput) appendOutputs(opts.githubOutput, outputs);
        process.stdout.write(`${JSON.stringify(stacks)}\n`);
      } catch (error) {
        process.stderr.write(`pipeline-stacks: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    })
    .parse();
}
