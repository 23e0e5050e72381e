/**
 * `npm run bench`: how long evaluating the stack program takes, against the floor of registering the same
 * number of trivial resources with the bare Pulumi SDK.
 *
 * Each sample is a fresh process (tools/bench/harness.js) that loads the program the way the Pulumi CLI
 * does, using the runtime options in Pulumi.yaml, under Pulumi's mocks. A benchmark, not a test: run it
 * on a quiet machine and record the figures in docs/development.md.
 *
 *   npm run bench                 # 1, 10, 50 and 100 integrations, plus 100 x 5 workspaces
 *   npm run bench -- --runs 5     # more samples per case (median is reported)
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "..", "..");
const HARNESS = path.join(__dirname, "harness.js");
/** Budgets from the issues: at most 4x the SDK floor at 100 integrations, under 1 GiB peak memory. */
const MAX_RATIO = 4;
const MAX_RSS_MIB = 1024;

interface Sample {
  elapsedMs: number;
  maxRssMiB: number;
  resources: number;
}

interface Case {
  integrations: number;
  workspaces: number;
}

function loaderFromProjectFile(): { nodeArgs: string[]; env: Record<string, string> } {
  const project = parse(readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
    runtime: string | { options?: { typescript?: boolean; nodeargs?: string } };
  };
  const options = typeof project.runtime === "string" ? {} : (project.runtime.options ?? {});
  return {
    nodeArgs: options.nodeargs ? options.nodeargs.split(/\s+/).filter(Boolean) : [],
    // The CLI runs TypeScript through ts-node unless the project opts out.
    env: { PULUMI_NODEJS_TYPESCRIPT: String(options.typescript !== false) },
  };
}

function sample(nodeArgs: string[], args: string[], env: Record<string, string>): Sample {
  const result = spawnSync(process.execPath, [...nodeArgs, HARNESS, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, SMARTSPACE_STACK_TRACES: "" },
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`benchmark sample failed (${args.join(" ")}):\n${result.stderr || result.stdout}`);
  }
  return JSON.parse(result.stdout.trim().split("\n").pop() ?? "{}") as Sample;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const USAGE = `Usage: npm run bench [-- --runs <n> --sizes <list>]

Times the evaluation of the stack program under mocks, in a fresh process per sample, against the floor of
registering as many trivial resources with the bare Pulumi SDK; exits 1 when a budget is exceeded.

Options:
  --runs <n>       samples per case; the median is reported (default 3)
  --sizes <list>   integration counts, comma-separated (default 1,10,50,100; 100 x 5 workspaces is added)
  -h, --help       show this help
`;

function main(): void {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "3" },
      sizes: { type: "string", default: "1,10,50,100" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const runs = Math.max(1, Number(values.runs));
  const cases: Case[] = [
    ...String(values.sizes)
      .split(",")
      .map((n) => ({ integrations: Number(n), workspaces: 1 })),
    { integrations: 100, workspaces: 5 },
  ];
  const loader = loaderFromProjectFile();
  console.log(
    `Loader from Pulumi.yaml: node ${loader.nodeArgs.join(" ") || "(no extra args)"}, typescript=${loader.env.PULUMI_NODEJS_TYPESCRIPT}`,
  );
  console.log(`Median of ${runs} runs per case, each in a fresh process.\n`);
  console.log(
    "integrations x workspaces | resources | program ms | floor ms | ratio | ms/resource | program peak MiB | floor peak MiB",
  );
  console.log(
    "------------------------- | --------- | ---------- | -------- | ----- | ----------- | ---------------- | --------------",
  );

  const failures: string[] = [];
  const perResource: { resources: number; ms: number }[] = [];
  for (const { integrations, workspaces } of cases) {
    const programRuns = Array.from({ length: runs }, () =>
      sample(loader.nodeArgs, ["index.ts", String(integrations), String(workspaces)], loader.env),
    );
    const resources = programRuns[0].resources;
    const floorRuns = Array.from({ length: runs }, () =>
      sample([], ["--floor", String(integrations), String(workspaces), String(resources)], {}),
    );
    const programMs = median(programRuns.map((r) => r.elapsedMs));
    const floorMs = median(floorRuns.map((r) => r.elapsedMs));
    const programRss = Math.max(...programRuns.map((r) => r.maxRssMiB));
    const floorRss = Math.max(...floorRuns.map((r) => r.maxRssMiB));
    const ratio = programMs / floorMs;
    perResource.push({ resources, ms: programMs });
    console.log(
      [
        `${integrations} x ${workspaces}`.padEnd(25),
        String(resources).padStart(9),
        programMs.toFixed(0).padStart(10),
        floorMs.toFixed(0).padStart(8),
        `${ratio.toFixed(2)}x`.padStart(5),
        (programMs / resources).toFixed(2).padStart(11),
        programRss.toFixed(0).padStart(16),
        floorRss.toFixed(0).padStart(14),
      ].join(" | "),
    );
    if (integrations >= 100 && ratio > MAX_RATIO) {
      failures.push(`${integrations} x ${workspaces}: ${ratio.toFixed(2)}x the floor (budget ${MAX_RATIO}x)`);
    }
    if (programRss > MAX_RSS_MIB) {
      failures.push(
        `${integrations} x ${workspaces}: peak ${programRss.toFixed(0)} MiB (budget ${MAX_RSS_MIB} MiB)`,
      );
    }
  }

  // Linear growth: the marginal cost per resource over the upper half of the single-workspace sizes must
  // stay within 1.5x of the marginal cost over the lower half. The smallest size is left out: process
  // start-up dominates it, and the differences there are within measurement noise.
  const singles = perResource.slice(0, -1).filter((_, index) => index > 0);
  if (singles.length >= 3) {
    const [low, mid, high] = singles.slice(-3);
    const lower = (mid.ms - low.ms) / (mid.resources - low.resources);
    const upper = (high.ms - mid.ms) / (high.resources - mid.resources);
    const verdict = upper <= 1.5 * lower ? "linear" : "SUPERLINEAR";
    console.log(
      `\nMarginal cost per resource: ${lower.toFixed(2)} ms (${low.resources} to ${mid.resources} resources), ` +
        `${upper.toFixed(2)} ms (${mid.resources} to ${high.resources}): ${verdict}`,
    );
    if (verdict !== "linear") failures.push("growth is superlinear");
  }
  if (failures.length > 0) {
    console.log(`\nOver budget:\n  ${failures.join("\n  ")}`);
    process.exitCode = 1;
  } else {
    console.log(
      `\nWithin budget: ratio <= ${MAX_RATIO}x at 100 integrations, peak memory < ${MAX_RSS_MIB} MiB.`,
    );
  }
}

main();
