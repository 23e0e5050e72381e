/**
 * The GitHub Actions workflows, checked without GitHub: actionlint over every file, the guarantees the
 * operating guide promises (OIDC only, policy pack everywhere, serialised deployments, outputs suppressed),
 * and the workflows' own shell and github-script logic run against fakes.
 */
import { parse as parseYaml } from "yaml";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CONFIG, POLICY } from "../policy/policies";
import { pipelineStacks } from "../cli/pipeline-stacks";
import { formatFinding, lintSource, lintWorkflows, workflowFiles } from "../cli/lint-workflows";
import { SMARTSPACE } from "./support/azureMocks";

const ROOT = path.resolve(__dirname, "..");
const WORKFLOWS = path.join(ROOT, ".github", "workflows");
const WORKFLOW_FILES = ["ci.yml", "deploy.yml", "drift.yml", "preview.yml", "rotate.yml"];

interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
  readonly with?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, string>>;
}

interface Job {
  readonly name?: string;
  readonly if?: string;
  readonly environment?: string;
  readonly needs?: string | string[];
  readonly concurrency?: { readonly group: string; readonly "cancel-in-progress"?: boolean };
  readonly permissions?: Readonly<Record<string, string>>;
  readonly strategy?: { readonly matrix?: Readonly<Record<string, unknown>> };
  readonly env?: Readonly<Record<string, string>>;
  readonly steps: readonly Step[];
}

interface Workflow {
  readonly file: string;
  readonly text: string;
  readonly on: Readonly<Record<string, unknown>>;
  readonly permissions?: Readonly<Record<string, string>>;
  readonly env?: Readonly<Record<string, string>>;
  readonly jobs: Readonly<Record<string, Job>>;
}

function loadWorkflows(): Workflow[] {
  return workflowFiles([WORKFLOWS]).map((file) => {
    const text = readFileSync(file, "utf8");
    const parsed = parseYaml(text) as Omit<Workflow, "file" | "text">;
    return { ...parsed, file: path.basename(file), text };
  });
}

function workflow(file: string): Workflow {
  const found = loadWorkflows().find((candidate) => candidate.file === file);
  assert.ok(found, `.github/workflows/${file} exists`);
  return found;
}

/** Shell commands of a script with line continuations joined, so one command is one string. */
function commands(script: string): string[] {
  return script
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((line) => line.trim());
}

function pulumiCommands(job: Job, verb: "preview" | "up"): string[] {
  return job.steps.flatMap((step) =>
    commands(step.run ?? "").filter((line) => new RegExp(`^(npx )?pulumi ${verb}\\b`).test(line)),
  );
}

function runsPulumi(job: Job): boolean {
  return pulumiCommands(job, "preview").length + pulumiCommands(job, "up").length > 0;
}

function allJobs(): { workflow: Workflow; name: string; job: Job }[] {
  return loadWorkflows().flatMap((wf) =>
    Object.entries(wf.jobs).map(([name, job]) => ({ workflow: wf, name, job })),
  );
}

function step(job: Job, name: string): Step {
  const found = job.steps.find((candidate) => candidate.name === name);
  assert.ok(found?.run, `step "${name}" with a script exists`);
  return found;
}

/** Runs a workflow step's script with bash, as the runner would (`bash -e`). */
function runStep(script: string, env: Record<string, string>) {
  const result = spawnSync("bash", ["-e", "-c", script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Writes Node.js stand-ins for command-line tools into `dir` (put it first on PATH). Each call is appended
 * to `<dir>/calls.jsonl` as `{ tool, args }`.
 */
function fakeTools(dir: string, tools: Record<string, string>): void {
  for (const [name, body] of Object.entries(tools)) {
    const file = path.join(dir, name);
    writeFileSync(
      file,
      `#!/usr/bin/env node
const fs = require("fs");
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(path.join(dir, "calls.jsonl"))}, JSON.stringify({ tool: ${JSON.stringify(name)}, args }) + "\\n");
${body}
`,
    );
    chmodSync(file, 0o755);
  }
}

function toolCalls(dir: string): { tool: string; args: string[] }[] {
  const file = path.join(dir, "calls.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { tool: string; args: string[] });
}

/**
 * A stand-in for the GitHub CLI's `run list` and `run view` over the runs in $FAKE_GH_RUNS (JSON), applying
 * `--jq` with jq as gh does (bash and jq: the guard calls it often, and Node.js start-up adds up). Calls are
 * appended to `<dir>/gh-calls.txt`; $FAKE_GH_FAIL makes every call fail like an API error.
 */
function fakeGh(dir: string): void {
  const file = path.join(dir, "gh");
  writeFileSync(
    file,
    `#!/usr/bin/env bash
set -e
echo "$*" >> ${JSON.stringify(path.join(dir, "gh-calls.txt"))}
if [ -n "$FAKE_GH_FAIL" ]; then echo "HTTP 502: Bad Gateway" >&2; exit 1; fi
command="$1 $2"; shift 2
id=""; workflow=""; status=""; filter="."
while [ "$#" -gt 0 ]; do
  case "$1" in
    --workflow) workflow="$2"; shift 2 ;;
    --status) status="$2"; shift 2 ;;
    --jq) filter="$2"; shift 2 ;;
    --limit|--json) shift 2 ;;
    -*) echo "unexpected option $1" >&2; exit 64 ;;
    *) id="$1"; shift ;;
  esac
done
case "$command" in
  "run list") select='[.[] | select(.workflow == $wf and ($st == "" or .status == $st)) | {databaseId, status}]' ;;
  "run view") select='first(.[] | select((.databaseId | tostring) == $id) | {jobs})' ;;
  *) echo "unexpected: gh $command" >&2; exit 64 ;;
esac
jq -r --arg wf "$workflow" --arg st "$status" --arg id "$id" "($select) | ($filter)" "$FAKE_GH_RUNS"
`,
  );
  chmodSync(file, 0o755);
}

const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (
  ...args: string[]
) => (...values: unknown[]) => Promise<void>;

interface FakeCall {
  readonly method: string;
  readonly params: Record<string, unknown>;
}

/** Runs a github-script `script` with a recording fake of Octokit, as actions/github-script does. */
async function runGithubScript(
  script: string,
  env: Record<string, string>,
  existing: { comments?: unknown[]; issues?: unknown[] } = {},
): Promise<FakeCall[]> {
  const calls: FakeCall[] = [];
  const record = (method: string) => async (params: Record<string, unknown>) => {
    calls.push({ method, params });
    return { data: {} };
  };
  const listComments = async () => ({ data: existing.comments ?? [] });
  const listForRepo = async () => ({ data: existing.issues ?? [] });
  const github = {
    paginate: async (method: () => Promise<{ data: unknown[] }>) => (await method()).data,
    rest: {
      issues: {
        listComments,
        listForRepo,
        createComment: record("createComment"),
        updateComment: record("updateComment"),
        create: record("create"),
        update: record("update"),
      },
    },
  };
  const context = {
    serverUrl: "https://github.example",
    runId: 42,
    repo: { owner: "contoso", repo: "smartspace-integration" },
    issue: { number: 7 },
    payload: { pull_request: { head: { sha: "0123456789abcdef" }, base: { sha: "fedcba9876543210" } } },
  };
  const core = {
    setFailed: (message: string) => calls.push({ method: "core.setFailed", params: { message } }),
    notice: (message: string) => calls.push({ method: "core.notice", params: { message } }),
  };
  const saved = { ...process.env };
  Object.assign(process.env, { GITHUB_WORKSPACE: ROOT, ...env });
  try {
    await new AsyncFunction("github", "context", "core", "require", script)(github, context, core, require);
  } finally {
    for (const key of ["GITHUB_WORKSPACE", ...Object.keys(env)]) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
  return calls;
}

describe("GitHub Actions workflows", () => {
  it("pass actionlint, which does catch a broken workflow", async () => {
    const files = workflowFiles([WORKFLOWS]);
    assert.deepEqual(files.map((file) => path.basename(file)).sort(), WORKFLOW_FILES);
    assert.deepEqual((await lintWorkflows(files)).map(formatFinding), []);
    const broken = await lintSource(
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.stack }}\n      - run: echo ${{ varz.X }}\n",
      "broken.yml",
    );
    assert.equal(broken.length, 2, JSON.stringify(broken));
  });

  it("reach Azure only through OpenID Connect, with IDs from variables and no stored Azure secret", () => {
    for (const wf of loadWorkflows()) {
      assert.doesNotMatch(wf.text, /AZURE_CLIENT_SECRET|ARM_CLIENT_SECRET|secrets\.AZURE_|\bcreds:/, wf.file);
      for (const [name, job] of Object.entries(wf.jobs)) {
        for (const login of job.steps.filter((s) => s.uses?.startsWith("azure/login@"))) {
          assert.equal(
            (job.permissions ?? wf.permissions)?.["id-token"],
            "write",
            `${wf.file} ${name} may request an OIDC token`,
          );
          assert.deepEqual(login.with, {
            "client-id": "${{ vars.AZURE_CLIENT_ID }}",
            "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
            "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
          });
        }
        if (runsPulumi(job)) {
          assert.ok(
            job.steps.some((s) => s.uses?.startsWith("azure/login@")),
            `${wf.file} ${name} logs in`,
          );
          assert.equal(job.env?.ARM_USE_OIDC, "true", `${wf.file} ${name}: providers use OIDC`);
          assert.equal(job.env?.ARM_CLIENT_ID, "${{ vars.AZURE_CLIENT_ID }}");
        }
      }
    }
  });

  it("enforce the policy pack and suppress outputs in every preview and deployment, with the verified pinned CLI", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      devDependencies: Record<string, string>;
    };
    assert.match(
      pkg.devDependencies.pulumi,
      /^\d+\.\d+\.\d+$/,
      "the Pulumi CLI is pinned to an exact version",
    );
    let count = 0;
    for (const { workflow: wf, name, job } of allJobs()) {
      for (const command of [...pulumiCommands(job, "preview"), ...pulumiCommands(job, "up")]) {
        count += 1;
        const where = `${wf.file} ${name}: ${command}`;
        assert.match(command, /^npx pulumi (preview|up) --stack "\$STACK" /, where);
        // Pull requests load the pack from the base branch; everything else from the commit being deployed.
        const pack = wf.file === "preview.yml" ? "--policy-pack .base/policy" : "--policy-pack policy";
        for (const flag of [
          "--suppress-outputs",
          "--non-interactive",
          pack,
          '--policy-pack-config "$RUNNER_TEMP/policy-config.json"',
        ]) {
          assert.ok(command.includes(flag), `${where} has ${flag}`);
        }
      }
      if (!runsPulumi(job)) continue;
      const setupNode = job.steps.find((s) => s.uses?.startsWith("actions/setup-node@"));
      assert.equal(setupNode?.with?.["node-version"], 20, `${wf.file} ${name} uses Node 20`);
      assert.equal(setupNode?.with?.["package-manager-cache"], false, `${wf.file} ${name} restores nothing`);
      const index = (predicate: (s: Step) => boolean) => job.steps.findIndex(predicate);
      const install = index((s) => /install-pulumi-cli\.sh$/.test(s.run ?? ""));
      const login = index((s) => s.uses?.startsWith("azure/login@") ?? false);
      const firstPulumi = index((s) => /\bnpx pulumi\b/.test(s.run ?? ""));
      assert.ok(
        install >= 0 && install < login && login < firstPulumi,
        `${wf.file} ${name}: CLI installed before login`,
      );
      assert.equal(job.env?.PULUMI_BACKEND_URL, "${{ vars.PULUMI_BACKEND_URL }}");
    }
    assert.equal(
      count,
      7,
      "PR preview, non-production up, production plan and apply, drift, rotation preview and up",
    );
    for (const wf of loadWorkflows()) {
      // No executable ever comes from a cache that a job of lower trust could have written.
      assert.doesNotMatch(wf.text, /actions\/cache@|pulumi\/actions@|get\.pulumi\.com\/install/, wf.file);
      assert.equal(
        wf.env?.PULUMI_CONFIG_PASSPHRASE,
        undefined,
        `${wf.file}: the passphrase is scoped to steps`,
      );
      for (const job of Object.values(wf.jobs)) {
        assert.equal(
          job.env?.PULUMI_CONFIG_PASSPHRASE,
          undefined,
          `${wf.file}: the passphrase is scoped to steps`,
        );
        for (const s of job.steps.filter(
          (candidate) => candidate.env?.PULUMI_CONFIG_PASSPHRASE !== undefined,
        )) {
          assert.equal(s.env?.PULUMI_CONFIG_PASSPHRASE, "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
          assert.match(
            s.run ?? "",
            /npx pulumi|npm run verify/,
            `${wf.file} "${s.name}" needs the passphrase`,
          );
        }
      }
    }
  });

  it("pin every action to a full commit SHA, with its version in a comment", () => {
    let count = 0;
    for (const wf of loadWorkflows()) {
      for (const match of wf.text.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/gm)) {
        count += 1;
        assert.match(match[1], /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, `${wf.file}: ${match[1]}`);
        assert.match(match[2], /^ # v\d+\.\d+\.\d+$/, `${wf.file}: ${match[1]} names its version`);
      }
    }
    assert.ok(count > 20);
    const dependabot = parseYaml(readFileSync(path.join(ROOT, ".github", "dependabot.yml"), "utf8")) as {
      updates: { "package-ecosystem": string }[];
    };
    assert.ok(dependabot.updates.some((update) => update["package-ecosystem"] === "github-actions"));
  });

  it("never let a pull request reach a production environment, its secrets or its state", () => {
    const settings = readFileSync(path.join(ROOT, "policy", "stacks.yaml"), "utf8");
    assert.match(settings, /^prod:\n {2}production: true$/m);
    const prTriggered = loadWorkflows().filter(
      (wf) => "pull_request" in wf.on || "pull_request_target" in wf.on,
    );
    assert.deepEqual(prTriggered.map((wf) => wf.file).sort(), ["ci.yml", "preview.yml"]);
    for (const wf of prTriggered) {
      assert.ok(
        !("pull_request_target" in wf.on),
        `${wf.file} runs with the pull request's permissions only`,
      );
      for (const [name, job] of Object.entries(wf.jobs)) {
        const where = `${wf.file} ${name}`;
        // Environments are per stack, from the non-production list the base branch computes; never a literal.
        if (job.environment !== undefined) {
          assert.equal(job.environment, "${{ matrix.stack }}-preview", where);
          assert.equal(
            job.strategy?.matrix?.stack,
            "${{ fromJSON(needs.stacks.outputs.nonproduction) }}",
            where,
          );
        }
        assert.doesNotMatch(JSON.stringify(job), /(?<!non)prod|outputs\.all\b/i, where);
        if (job.permissions?.["id-token"] === "write") {
          assert.ok(job.environment, `${where}: an Azure token only inside a per-stack preview environment`);
          assert.equal(
            job.permissions?.["pull-requests"],
            undefined,
            `${where} cannot write to the pull request`,
          );
          assert.doesNotMatch(JSON.stringify(job), /SMARTSPACE_ADMIN/, `${where}: no Smartspace admin token`);
        }
      }
    }
  });

  it("install without install scripts in every job that can request an Azure token, which needs none", () => {
    const covered = new Set<string>();
    for (const { workflow: wf, name, job } of allJobs()) {
      if ((job.permissions ?? wf.permissions)?.["id-token"] !== "write") continue;
      covered.add(wf.file);
      const installs = job.steps.filter((s) => /^npm (ci|install)\b/.test(s.run ?? ""));
      assert.ok(installs.length > 0, `${wf.file} ${name} installs dependencies`);
      for (const install of installs) {
        assert.match(install.run ?? "", /^npm ci --ignore-scripts( --prefix \.base)?$/, `${wf.file} ${name}`);
      }
    }
    assert.deepEqual([...covered].sort(), ["deploy.yml", "drift.yml", "preview.yml", "rotate.yml"]);
    // Skipping scripts is safe only while no dependency needs one. A new dependency with an install script
    // fails here: check that it works without it before adding it to this list.
    const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { hasInstallScript?: boolean }>;
    };
    assert.deepEqual(
      Object.entries(lock.packages)
        .filter(([, entry]) => entry.hasInstallScript)
        .map(([location]) => location)
        .sort(),
      // esbuild's script only copies its platform package's binary for a faster start (checked below);
      // protobufjs's only warns about version schemes.
      ["node_modules/esbuild", "node_modules/protobufjs"],
    );
  });

  it("leave a working TypeScript loader when esbuild's install script did not run", () => {
    // tsx (which runs every script and Pulumi's TypeScript) uses esbuild's JavaScript API; without the install
    // script, that API must find the binary in the platform package. Simulate the install: esbuild without
    // the binary its script would have put in bin/, next to the real platform packages.
    const dir = mkdtempSync(path.join(tmpdir(), "ignore-scripts-"));
    try {
      const modules = path.join(dir, "node_modules");
      const esbuild = path.join(ROOT, "node_modules", "esbuild");
      mkdirSync(path.join(modules, "@esbuild"), { recursive: true });
      cpSync(path.join(esbuild, "lib"), path.join(modules, "esbuild", "lib"), { recursive: true });
      cpSync(path.join(esbuild, "package.json"), path.join(modules, "esbuild", "package.json"));
      for (const platform of readdirSync(path.join(ROOT, "node_modules", "@esbuild"))) {
        symlinkSync(
          path.join(ROOT, "node_modules", "@esbuild", platform),
          path.join(modules, "@esbuild", platform),
        );
      }
      const result = spawnSync(
        process.execPath,
        [
          "-e",
          'process.stdout.write(require("esbuild").transformSync("const n: number = 1;", { loader: "ts" }).code)',
        ],
        { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "" }, timeout: 30_000 },
      );
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout.trim(), "const n = 1;");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("serialise deployments per stack in a queue that only deployments join", () => {
    const deploy = workflow("deploy.yml");
    const updates = Object.entries(deploy.jobs).filter(([, job]) => pulumiCommands(job, "up").length > 0);
    assert.deepEqual(
      updates.map(([id, job]) => [id, job.name]),
      [
        ["deploy", "deploy (${{ matrix.stack }})"],
        ["apply", "apply (${{ matrix.stack }})"],
      ],
      "rotate.yml's guard finds a stack's deployment by these names",
    );
    for (const [name, job] of updates) {
      assert.equal(job.env?.STACK, "${{ matrix.stack }}", `deploy.yml ${name} names its stack`);
      assert.equal(job.concurrency?.group, "pulumi-up-${{ matrix.stack }}");
      assert.equal(
        job.concurrency?.["cancel-in-progress"],
        false,
        `deploy.yml ${name} never cancels a running one`,
      );
    }
    for (const { workflow: wf, name, job } of allJobs()) {
      if (wf.file === "deploy.yml" && updates.some(([id]) => id === name)) continue;
      if (!runsPulumi(job)) continue;
      const group = job.concurrency?.group ?? "";
      assert.equal(job.env?.STACK, "${{ matrix.stack }}", `${wf.file} ${name} names its stack`);
      assert.ok(
        group.includes("${{ matrix.stack }}"),
        `${wf.file} ${name}: concurrency group "${group}" is per stack`,
      );
      // GitHub cancels a group's *pending* job whenever another one joins, whatever cancel-in-progress says:
      // any other job in a deployment group could cancel a queued deployment.
      assert.ok(!group.startsWith("pulumi-up-"), `${wf.file} ${name} stays out of the deployment queue`);
    }
  });

  it("apply production only as the saved plan an approver saw, after the non-production stacks", () => {
    const wf = workflow("deploy.yml");
    assert.deepEqual((wf.on.push as { branches: string[] }).branches, ["main"]);
    const { deploy, plan, apply } = wf.jobs;
    assert.equal(deploy.environment, "${{ matrix.stack }}");
    assert.equal(deploy.strategy?.matrix?.stack, "${{ fromJSON(needs.stacks.outputs.nonproduction) }}");
    assert.match(pulumiCommands(deploy, "up")[0], /--stack "\$STACK" --yes --refresh/);
    // The plan: read-only identity, main-only environment, saved and shown.
    assert.equal(plan.environment, "${{ matrix.stack }}-plan");
    assert.equal(plan.strategy?.matrix?.stack, "${{ fromJSON(needs.stacks.outputs.production) }}");
    assert.deepEqual(plan.needs, ["stacks", "deploy"]);
    assert.match(
      pulumiCommands(plan, "preview")[0],
      /--refresh --diff --save-plan "\$RUNNER_TEMP\/plan\/plan\.json"/,
    );
    assert.equal(pulumiCommands(plan, "up").length, 0, "the plan job changes nothing");
    const upload = plan.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"));
    assert.equal(upload?.with?.name, "plan-${{ matrix.stack }}");
    // The apply: the approved environment, exactly that plan, nothing else.
    assert.equal(apply.environment, "${{ matrix.stack }}");
    assert.deepEqual(apply.needs, ["stacks", "plan"]);
    const download = apply.steps.find((s) => s.uses?.startsWith("actions/download-artifact@"));
    assert.equal(download?.with?.name, "plan-${{ matrix.stack }}");
    const [up] = pulumiCommands(apply, "up");
    assert.match(up, /--plan "\$RUNNER_TEMP\/plan\/plan\.json"/);
    assert.equal(pulumiCommands(apply, "preview").length, 0);
    assert.equal(apply.permissions?.["id-token"], "write");
    assert.equal(plan.permissions?.["id-token"], "write");
    // The saved preview is shown to the approver, and a failed preview fails the job (no plan, no apply).
    const preview = plan.steps.find((s) => /--save-plan/.test(s.run ?? ""))?.run ?? "";
    assert.match(preview, /set -o pipefail/);
    assert.match(preview, /GITHUB_STEP_SUMMARY/);
  });

  it("run every other `pulumi up` only when no deployment of its stack is queued, waiting or running", () => {
    const others = allJobs().filter(
      ({ workflow: wf, job }) => wf.file !== "deploy.yml" && pulumiCommands(job, "up").length > 0,
    );
    assert.deepEqual(
      others.map(({ workflow: wf, name }) => `${wf.file} ${name}`),
      ["rotate.yml rotate"],
    );
    for (const { workflow: wf, name, job } of others) {
      const where = `${wf.file} ${name}`;
      assert.equal(
        job.concurrency?.["cancel-in-progress"],
        false,
        `${where} never cancels its own running update`,
      );
      assert.equal(job.permissions?.actions, "read", `${where} may list deploy.yml's runs`);
      const [guard, ...rest] = job.steps;
      assert.equal(guard.id, "guard", `${where} checks for deployments first`);
      assert.match(guard.run ?? "", /gh run list --workflow deploy\.yml /);
      assert.equal(guard.env?.GH_TOKEN, "${{ github.token }}");
      assert.equal(guard.env?.GH_REPO, "${{ github.repository }}");
      for (const later of rest) {
        assert.match(
          later.if ?? "",
          /^\$\{\{ steps\.guard\.outputs\.deploying == 'false'( && .*)? \}\}$/,
          `${where} "${later.name ?? later.uses ?? later.run}" runs only when no deployment is under way`,
        );
      }
    }
  });

  it("skip a rotation while its stack's deployment is queued, awaiting approval or running, and fail a forced one", () => {
    const guard = step(
      workflow("rotate.yml").jobs.rotate,
      "Skip while a deployment of this stack is queued or running",
    );
    const jq = spawnSync("jq", ["--version"], { encoding: "utf8" });
    assert.equal(jq.status, 0, "jq is installed (the fake gh applies --jq with it, as gh does)");
    const dir = mkdtempSync(path.join(tmpdir(), "rotate-guard-"));
    try {
      const bin = path.join(dir, "bin");
      mkdirSync(bin);
      fakeGh(bin);
      const guardFor = (stack: string, runs: unknown[], extra: Record<string, string> = {}) => {
        writeFileSync(path.join(dir, "runs.json"), JSON.stringify(runs));
        const output = path.join(dir, `output-${stack}`);
        writeFileSync(output, "");
        const result = runStep(guard.run ?? "", {
          PATH: `${bin}:${process.env.PATH ?? ""}`,
          STACK: stack,
          GITHUB_OUTPUT: output,
          FAKE_GH_RUNS: path.join(dir, "runs.json"),
          REPLACE: "",
          ...extra,
        });
        return { ...result, output: readFileSync(output, "utf8") };
      };
      const deployRun = (databaseId: number, status: string, jobs: { name: string; status: string }[]) => ({
        workflow: "deploy.yml",
        databaseId,
        status,
        jobs,
      });

      const quiet = [
        deployRun(1, "completed", [
          { name: "deploy (dev)", status: "completed" },
          { name: "plan (prod)", status: "completed" },
          { name: "apply (prod)", status: "completed" },
        ]),
        {
          workflow: "rotate.yml",
          databaseId: 2,
          status: "in_progress",
          jobs: [{ name: "rotate (dev)", status: "in_progress" }],
        },
      ];
      for (const stack of ["dev", "prod"]) {
        const clear = guardFor(stack, quiet);
        assert.equal(clear.code, 0, clear.stderr);
        assert.equal(clear.output, "deploying=false\n", stack);
        assert.doesNotMatch(clear.stdout, /::notice/);
      }

      // A queued run has no jobs yet; a running one may not have created prod's job yet.
      for (const [status, stack] of [
        ["requested", "dev"],
        ["queued", "prod"],
        ["pending", "dev"],
        ["waiting", "prod"],
        ["in_progress", "dev"],
        ["in_progress", "prod"],
      ]) {
        const busy = guardFor(stack, [
          ...quiet,
          deployRun(
            7,
            status,
            status === "in_progress" ? [{ name: "deploy (dev)", status: "in_progress" }] : [],
          ),
        ]);
        assert.equal(busy.code, 0, busy.stderr);
        assert.equal(busy.output, "deploying=true\n", `${stack} while a deployment is ${status}`);
        assert.match(busy.stdout, new RegExp(`::notice title=Rotation skipped \\(${stack}\\)::.*run 7\\b`));
      }

      // Prod's plan done and its apply awaiting approval, dev deployed: dev rotates, prod waits for that deployment.
      const awaitingApproval = [
        deployRun(8, "waiting", [
          { name: "deploy (dev)", status: "completed" },
          { name: "plan (prod)", status: "completed" },
          { name: "apply (prod)", status: "waiting" },
        ]),
      ];
      assert.equal(guardFor("dev", awaitingApproval).output, "deploying=false\n");
      assert.equal(guardFor("prod", awaitingApproval).output, "deploying=true\n");
      // While prod's plan runs, its apply does not exist yet: pending too.
      const planning = [deployRun(9, "in_progress", [{ name: "plan (prod)", status: "in_progress" }])];
      assert.equal(guardFor("prod", planning).output, "deploying=true\n");

      const forced = guardFor("prod", awaitingApproval, { REPLACE: "urn:pulumi:prod::x::slot-a" });
      assert.equal(forced.code, 1, "a forced rotation is not skipped silently");
      assert.match(forced.stdout, /::error title=Forced rotation not started \(prod\)::.*run 8/);
      assert.equal(guardFor("dev", awaitingApproval, { REPLACE: "urn:pulumi:dev::x::slot-a" }).code, 0);

      const unknown = guardFor("dev", quiet, { FAKE_GH_FAIL: "1" });
      assert.notEqual(unknown.code, 0, "the guard fails closed when GitHub cannot be asked");
      assert.equal(unknown.output, "", "and then no step after it runs");

      const lists = readFileSync(path.join(bin, "gh-calls.txt"), "utf8")
        .split("\n")
        .filter((call) => call.startsWith("run list"));
      assert.ok(lists.length > 0);
      for (const call of lists) assert.match(call, /--workflow deploy\.yml /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("preview non-production stacks on pull requests, and comment from a job without an Azure token", async () => {
    const wf = workflow("preview.yml");
    assert.ok("pull_request" in wf.on);
    const { stacks, preview, comment } = wf.jobs;
    const baseCheckout = stacks.steps.find((s) => s.uses?.startsWith("actions/checkout@"));
    assert.equal(
      baseCheckout?.with?.ref,
      "${{ github.event.pull_request.base.sha }}",
      "tiers come from the base",
    );
    assert.equal(preview.environment, "${{ matrix.stack }}-preview");
    assert.match(pulumiCommands(preview, "preview")[0], /--diff/);
    assert.doesNotMatch(
      pulumiCommands(preview, "preview")[0],
      /--refresh/,
      "no refresh: no Smartspace API call",
    );
    const base = preview.steps.find((s) => s.with?.path === ".base");
    assert.equal(base?.with?.ref, "${{ github.event.pull_request.base.sha }}");
    assert.match(step(preview, "Write the policy pack config").run ?? "", /--prefix \.base policy:config/);
    assert.deepEqual(comment.permissions, { contents: "read", "pull-requests": "write" });
    assert.equal(comment.environment, undefined);

    const script = String(
      comment.steps.find((s) => s.uses?.startsWith("actions/github-script@"))?.with?.script,
    );
    assert.match(script, /\.github\/scripts\/preview-comment\.cjs/);
    const dir = mkdtempSync(path.join(tmpdir(), "preview-comment-"));
    try {
      writeFileSync(
        path.join(dir, "preview.txt"),
        `Previewing update (dev)\n~ azuread:index/application:Application @octocat <!-- pulumi-preview:prod -->\n\`\`\`\`\`\n${"x".repeat(70_000)}`,
      );
      writeFileSync(path.join(dir, "exit-code"), "0\n");
      const env = { STACK: "dev", PREVIEW_DIR: dir };
      const created = await runGithubScript(script, env);
      assert.deepEqual(
        created.map((c) => c.method),
        ["createComment"],
      );
      assert.equal(created[0].method, "createComment");
      const body = String(created[0].params.body);
      assert.match(body, /^<!-- pulumi-preview:dev -->\n### Pulumi preview of `dev`: succeeded/);
      assert.match(
        body,
        /Commit 0123456\. Policy pack `policy\/` and its config from the base branch \(fedcba9\)/,
      );
      assert.doesNotMatch(body.slice(30), /<!--/, "the preview cannot forge a marker");
      assert.match(body, /\n`{6}diff\n/, "a fence longer than any backtick run in the preview");
      assert.match(body, /truncated; the job log has the full preview/);
      assert.ok(body.length < 65_536, "fits GitHub's comment limit");
      writeFileSync(path.join(dir, "exit-code"), "255\n");
      const mine = { id: 99, user: { type: "Bot" }, body: "<!-- pulumi-preview:dev -->\nold" };
      const forged = { id: 98, user: { type: "User" }, body: "<!-- pulumi-preview:dev -->\nhijack" };
      const updated = await runGithubScript(script, env, { comments: [forged, mine] });
      assert.deepEqual(
        updated.map((c) => [c.method, c.params.comment_id]),
        [
          ["updateComment", 99],
          ["core.setFailed", undefined],
        ],
        "only the bot's own comment is updated, and a failed preview fails the job",
      );
      assert.match(String(updated[0].params.body), /failed \(exit 255\)/);
      rmSync(path.join(dir, "preview.txt"));
      rmSync(path.join(dir, "exit-code"));
      const missing = await runGithubScript(script, env);
      assert.match(String(missing[0].params.body), /did not complete/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("check drift and credential expiry daily, and keep one issue per stack and kind, failing closed", async () => {
    const wf = workflow("drift.yml");
    const [schedule] = wf.on.schedule as { cron: string }[];
    assert.match(schedule.cron, /^\d+ \d+ \* \* \*$/, "daily");
    const { drift: job, issues } = wf.jobs;
    assert.equal(job.environment, "${{ matrix.stack }}-drift");
    assert.equal(job.permissions?.issues, undefined, "the job holding an Azure token cannot write issues");
    assert.deepEqual(issues.permissions, { contents: "read", issues: "write" });
    assert.equal(issues.environment, undefined);
    assert.match(pulumiCommands(job, "preview")[0], /--refresh --expect-no-changes --json/);
    assert.match(
      step(job, "Classify the preview (drift or rotation due)").run ?? "",
      /--expected-no-changes/,
    );

    const script = String(
      issues.steps.find((s) => s.uses?.startsWith("actions/github-script@"))?.with?.script,
    );
    const dir = mkdtempSync(path.join(tmpdir(), "drift-issue-"));
    const write = (name: string, text: string) => writeFileSync(path.join(dir, name), text);
    const remove = (name: string) => rmSync(path.join(dir, name), { force: true });
    const bot = { type: "Bot" };
    try {
      const env = { STACK: "prod", REPORT_DIR: dir };
      write("drift-verdict", "drift\n");
      write("drift.md", "## Drift check of stack `prod`: drift detected\n");
      write("expiry-verdict", "ok\n");
      const opened = await runGithubScript(script, env);
      assert.deepEqual(
        opened.map((c) => c.method),
        ["create", "core.setFailed"],
      );
      assert.equal(opened[0].params.title, "Drift detected in stack prod");
      assert.match(String(opened[0].params.body), /^<!-- drift-check:prod -->\n## Drift check/);

      const issue = { number: 12, user: bot, body: "<!-- drift-check:prod -->\nold" };
      const forged = {
        number: 14,
        user: { type: "User" },
        body: "<!-- drift-check:prod -->\nplease close me",
      };
      const other = { number: 13, user: bot, body: "<!-- drift-check:dev -->" };
      const expiryIssue = { number: 15, user: bot, body: "<!-- credential-expiry:prod -->\nold" };

      // Every way the verdict can be unreadable keeps the issue open and the run red.
      for (const [what, verdict] of [
        ["failed", "failed"],
        ["unknown", "no-drift-probably"],
        ["empty", ""],
        ["missing", undefined],
      ] as const) {
        if (verdict === undefined) remove("drift-verdict");
        else write("drift-verdict", verdict);
        const calls = await runGithubScript(script, env, { issues: [forged, other, issue] });
        assert.deepEqual(
          calls.map((c) => [c.method, c.params.issue_number]),
          [
            ["update", 12],
            ["createComment", 12],
            ["core.setFailed", undefined],
          ],
          what,
        );
        assert.equal(calls[0].params.title, "Drift check failing for stack prod", what);
      }

      write("drift-verdict", "rotation-due");
      const closed = await runGithubScript(script, env, { issues: [forged, issue] });
      assert.deepEqual(
        closed.map((c) => [c.method, c.params.issue_number ?? c.params.message]),
        [
          ["createComment", 12],
          ["update", 12],
          [
            "core.notice",
            "A client-secret rotation is due in prod; the weekly rotation workflow performs it. Not drift.",
          ],
        ],
        "only the workflow's own issue is closed",
      );
      assert.equal(closed[1].params.state, "closed");

      write("drift-verdict", "no-changes");
      write("expiry-verdict", "attention");
      write("expiry.md", "## Credential expiry of stack `prod`: credential expiring or rotation overdue\n");
      const expiring = await runGithubScript(script, env, { issues: [expiryIssue] });
      assert.deepEqual(
        expiring.map((c) => [c.method, c.params.issue_number]),
        [
          ["update", 15],
          ["createComment", 15],
          ["core.setFailed", undefined],
        ],
      );
      assert.equal(expiring[0].params.title, "Credential expiring or rotation overdue in stack prod");
      remove("expiry-verdict");
      const unread = await runGithubScript(script, env);
      assert.equal(unread[0].params.title, "Credential expiry check failing for stack prod");
      write("expiry-verdict", "ok");
      assert.deepEqual(await runGithubScript(script, env), [], "all clear: nothing to open, nothing red");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("record a failed verdict when the preview or the stack outputs could not be read", () => {
    const job = workflow("drift.yml").jobs.drift;
    const dir = mkdtempSync(path.join(tmpdir(), "drift-steps-"));
    try {
      const bin = path.join(dir, "bin");
      mkdirSync(bin);
      // npx pulumi stack output fails (no state access); the real classifier and expiry checker run.
      fakeTools(bin, { npx: 'console.error("error: failed to decrypt"); process.exit(255);' });
      const env = {
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        STACK: "prod",
        RUNNER_TEMP: dir,
        GITHUB_STEP_SUMMARY: path.join(dir, "summary.md"),
      };
      const classify = runStep(step(job, "Classify the preview (drift or rotation due)").run ?? "", {
        ...env,
        EXIT_CODE: "",
      });
      assert.notEqual(classify.code, 0);
      assert.equal(readFileSync(path.join(dir, "report", "drift-verdict"), "utf8").trim(), "failed");
      const expiry = runStep(step(job, "Check credential expiry (stack outputs)").run ?? "", env);
      assert.notEqual(expiry.code, 0);
      assert.equal(readFileSync(path.join(dir, "report", "expiry-verdict"), "utf8").trim(), "failed");
      const inventory = runStep(
        step(job, "Inventory credentials and owners (Microsoft Graph)").run ?? "",
        env,
      );
      assert.notEqual(inventory.code, 0);
      assert.equal(readFileSync(path.join(dir, "report", "inventory-verdict"), "utf8").trim(), "failed");
      assert.ok(!existsSync(path.join(dir, "state.json")), "the exported state does not outlive the step");

      // The inventory's verdict joins the drift verdict: anything undeclared is drift, anything unread a failure.
      const combine = step(job, "Count undeclared credentials and owners as drift").run ?? "";
      const write = (name: string, text: string | undefined) =>
        text === undefined
          ? rmSync(path.join(dir, "report", name), { force: true })
          : writeFileSync(path.join(dir, "report", name), text);
      for (const [drift, found, expected] of [
        ["no-changes", "clean", "no-changes"],
        ["rotation-due", "clean", "rotation-due"],
        ["no-changes", "undeclared", "drift"],
        ["rotation-due", "undeclared", "drift"],
        ["failed", "undeclared", "failed"],
        ["drift", "failed", "failed"],
        ["no-changes", undefined, "failed"],
        ["no-changes", "cleanish", "failed"],
        [undefined, "clean", ""],
      ] as const) {
        write("drift-verdict", drift);
        write("inventory-verdict", found);
        assert.equal(runStep(combine, env).code, 0);
        assert.equal(
          readFileSync(path.join(dir, "report", "drift-verdict"), "utf8").trim(),
          expected,
          `${drift} + ${found}`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rotate weekly and on demand, applying rotations only, then verify every integration", () => {
    const wf = workflow("rotate.yml");
    const [schedule] = wf.on.schedule as { cron: string }[];
    assert.match(schedule.cron, /^\d+ \d+ \* \* [0-6]$/, "weekly");
    assert.ok("workflow_dispatch" in wf.on);
    const job = wf.jobs.rotate;
    assert.equal(job.environment, "${{ matrix.stack }}-rotate");
    const up = job.steps.find((s) => /\bpulumi up\b/.test(s.run ?? ""));
    assert.equal(
      up?.if,
      "${{ steps.guard.outputs.deploying == 'false' && steps.classify.outputs.verdict == 'rotation-due' }}",
    );
    // The update applies the plan saved by the preview that was classified, so nothing else can slip in.
    assert.match(pulumiCommands(job, "preview")[0], /--save-plan "\$RUNNER_TEMP\/plan\.json"/);
    assert.match(pulumiCommands(job, "up")[0], /--plan "\$RUNNER_TEMP\/plan\.json"/);
    assert.match(
      step(job, "npm run verify, for each integration with workspaces").run ?? "",
      /npm run verify -- --stack "\$STACK" --integration "\$name"/,
    );
    const gate = step(job, "Stop unless the only changes are rotations").run ?? "";
    for (const [value, code] of [
      ["rotation-due", 0],
      ["no-changes", 0],
      ["drift", 1],
      ["failed", 1],
      ["", 1],
      ["no-changes ", 1],
      ["rotation-due\nno-changes", 1],
    ] as const) {
      assert.equal(runStep(gate, { VERDICT: value, STACK: "dev" }).code, code, JSON.stringify(value));
    }
  });

  describe("verification after the rotation", () => {
    const FAKE_NPX = `
if (args.slice(0, 4).join(" ") !== "pulumi stack output integrations") process.exit(64);
if (process.env.FAKE_NPX_FAIL) { console.error("error: no stack named dev"); process.exit(255); }
process.stdout.write(process.env.FAKE_INTEGRATIONS);
`;
    // Reads its standard input to the end, as a program might: the step must not feed it the list it loops over.
    const FAKE_NPM = `
fs.readFileSync(0);
if (args[0] !== "run" || args[1] !== "verify") process.exit(64);
const name = args[args.indexOf("--integration") + 1];
const calls = fs.readFileSync(${JSON.stringify("CALLS")}, "utf8").trim().split("\\n")
  .map((line) => JSON.parse(line)).filter((call) => call.tool === "npm" && call.args.includes(name));
const codes = JSON.parse(process.env.FAKE_VERIFY_CODES)[name] ?? [0];
process.exit(codes[Math.min(calls.length - 1, codes.length - 1)]);
`;
    let dir: string;
    let bin: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), "rotate-verify-"));
      bin = path.join(dir, "bin");
      mkdirSync(bin);
      fakeTools(bin, {
        npx: FAKE_NPX,
        npm: FAKE_NPM.replace('"CALLS"', JSON.stringify(path.join(bin, "calls.jsonl"))),
      });
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    // As the stack exports them: outputs from before credential types existed have no credentialType.
    const integrations: Record<string, Record<string, unknown>> = {
      "crm-sync": { clientId: "c1", workspaces: ["w1", "w2"] },
      "billing-bot": { credentialType: "secret", clientId: "c2", workspaces: [] },
      reporting: { clientId: "c3" },
      "ops-bot": { credentialType: "certificate", clientId: "c4", workspaces: ["w3"] },
      "ci-bot": { credentialType: "federated", clientId: "c5", workspaces: ["w1"] },
      "func-app": { credentialType: "managedIdentity", clientId: "c6", workspaces: ["w1"] },
    };

    function verifyStep(
      verdict: string,
      codes: Record<string, number[]>,
      extra: Record<string, string> = {},
      outputs: Record<string, unknown> = integrations,
    ) {
      const script =
        step(workflow("rotate.yml").jobs.rotate, "npm run verify, for each integration with workspaces")
          .run ?? "";
      rmSync(path.join(bin, "calls.jsonl"), { force: true });
      const result = runStep(script, {
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        STACK: "dev",
        RUNNER_TEMP: dir,
        VERDICT: verdict,
        VERIFY_RETRY_DELAYS: "0 0 0",
        FAKE_INTEGRATIONS: JSON.stringify(outputs),
        FAKE_VERIFY_CODES: JSON.stringify(codes),
        ...extra,
      });
      const verified = toolCalls(bin)
        .filter((call) => call.tool === "npm")
        .map((call) => call.args[call.args.indexOf("--integration") + 1]);
      return { ...result, verified };
    }

    it("verifies client-secret and certificate integrations with workspaces, and says which it skipped and why", () => {
      const run = verifyStep("no-changes", {});
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(run.verified, ["crm-sync", "ops-bot"]);
      assert.deepEqual(
        run.stdout.match(
          /::notice title=Not verified \(dev\/[\w-]+\)::[\w-]+ (has no workspaces|is a federated integration|is a managed identity)/g,
        ),
        [
          "::notice title=Not verified (dev/billing-bot)::billing-bot has no workspaces",
          "::notice title=Not verified (dev/reporting)::reporting has no workspaces",
          "::notice title=Not verified (dev/ci-bot)::ci-bot is a federated integration",
          "::notice title=Not verified (dev/func-app)::func-app is a managed identity",
        ],
      );
      assert.match(run.stdout, /ci-bot is a federated integration: .*which this runner cannot get/);
      assert.match(run.stdout, /func-app is a managed identity: .*a GitHub runner has no identity endpoint/);
      assert.doesNotMatch(run.stdout, /::error/);
      // A credential type the workflow does not know is not silently skipped.
      const unknown = verifyStep(
        "no-changes",
        {},
        {},
        { ...integrations, next: { credentialType: "passkey", workspaces: ["w1"] } },
      );
      assert.equal(unknown.code, 1);
      assert.deepEqual(unknown.verified, ["crm-sync", "ops-bot"]);
      assert.match(
        unknown.stdout,
        /::error title=Not verified \(dev\/next\)::next has a credential type this workflow does not know/,
      );
    });

    it("fails, naming the integration, when one cannot be verified, and still verifies the others", () => {
      const run = verifyStep("no-changes", { "crm-sync": [5] });
      assert.equal(run.code, 1);
      assert.deepEqual(run.verified, ["crm-sync", "ops-bot"]);
      assert.match(run.stdout, /::error title=Verify failed \(dev\/crm-sync\)::verify exited 5/);
      assert.equal(
        verifyStep("no-changes", {}, { FAKE_NPX_FAIL: "1" }).code,
        255,
        "no stack outputs, no verification",
      );
    });

    it("after a rotation, retries a rejected new secret or certificate (exit 3) until Entra ID accepts it", () => {
      // verify exits 3 for AADSTS7000215 (secret) and AADSTS700027 (certificate key not found): tests/verifyModes.e2e.test.ts.
      const run = verifyStep("rotation-due", { "crm-sync": [3, 3, 0], "ops-bot": [3, 0] });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(run.verified, ["crm-sync", "crm-sync", "crm-sync", "ops-bot", "ops-bot"]);
      assert.equal(
        run.stdout.match(/::notice title=New credential not accepted yet \(dev\/crm-sync\)/g)?.length,
        2,
      );
      assert.equal(
        run.stdout.match(/::notice title=New credential not accepted yet \(dev\/ops-bot\)/g)?.length,
        1,
      );
    });

    it("retries for a bounded time in all, and nothing but exit 3 after a rotation", () => {
      // The schedule is shared: once it is spent on crm-sync, ops-bot gets no further waits.
      const exhausted = verifyStep("rotation-due", { "crm-sync": [3], "ops-bot": [3] });
      assert.equal(exhausted.code, 1);
      assert.deepEqual(exhausted.verified, ["crm-sync", "crm-sync", "crm-sync", "crm-sync", "ops-bot"]);
      assert.match(exhausted.stdout, /::error title=Verify failed \(dev\/ops-bot\)::verify exited 3/);
      const noRotation = verifyStep("no-changes", { "crm-sync": [3, 0] });
      assert.equal(noRotation.code, 1, "without a rotation a rejected secret is a failure at once");
      assert.deepEqual(noRotation.verified, ["crm-sync", "ops-bot"]);
    });

    it("does not retry other failures after a rotation", () => {
      const run = verifyStep("rotation-due", { "crm-sync": [4, 0] });
      assert.equal(run.code, 1);
      assert.deepEqual(run.verified, ["crm-sync", "ops-bot"]);
    });

    it("waits about five minutes in all by default", () => {
      const script =
        step(workflow("rotate.yml").jobs.rotate, "npm run verify, for each integration with workspaces")
          .run ?? "";
      const schedule = /VERIFY_RETRY_DELAYS:-([\d ]+)\}/.exec(script);
      assert.ok(schedule, "the step has a default retry schedule");
      const total = schedule[1]
        .trim()
        .split(/\s+/)
        .map(Number)
        .reduce((sum, delay) => sum + delay, 0);
      assert.ok(total >= 240 && total <= 360, `${total} s`);
    });
  });

  it("accept only this stack's client-secret slots and certificate versions for a forced rotation", () => {
    const script =
      step(workflow("rotate.yml").jobs.rotate, "Check the requested forced replacements").run ?? "";
    const dir = mkdtempSync(path.join(tmpdir(), "forced-"));
    const slot =
      "urn:pulumi:prod::smartspace-integration::smartspace:credentials:IntegrationCredentials$azuread:index/applicationPassword:ApplicationPassword::crm-sync-credentials-slot-b";
    const certificate =
      "urn:pulumi:prod::smartspace-integration::smartspace:index:SmartspaceIntegration$smartspace:credentials:IntegrationCredentials$smartspace:credentials:ClientCertificate$";
    const version = (s: string) =>
      `${certificate}pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate::agent-credentials-certificate-version-${s}`;
    const registration = (s: string) =>
      `${certificate}azuread:index/applicationCertificate:ApplicationCertificate::agent-credentials-certificate-slot-${s}`;
    const check = (replace: string, requested = "prod") =>
      runStep(script, { REPLACE: replace, REQUESTED_STACK: requested, STACK: "prod", RUNNER_TEMP: dir });
    const requested = () => readFileSync(path.join(dir, "replace.txt"), "utf8");
    try {
      const accepted = check(`${slot} ${slot.replace("slot-b", "slot-a")}`);
      assert.equal(accepted.code, 0, accepted.stderr);
      assert.equal(requested(), `${slot}\n${slot.replace("slot-b", "slot-a")}\n`);
      assert.equal(check("").code, 0);
      assert.equal(requested(), "");

      // Certificates: the version holds the key; a slot only registers it, so it stands for its version.
      const certificates = check(`${version("b")} ${registration("a")} ${registration("b")}`);
      assert.equal(certificates.code, 0, certificates.stderr);
      assert.equal(requested(), `${version("b")}\n${version("a")}\n`, "each version once");
      assert.match(
        certificates.stdout,
        /::notice::.*slot-a is a certificate slot: replacing its Key Vault version .*version-a/,
      );

      assert.match(
        check(slot.replace("urn:pulumi:prod", "urn:pulumi:dev")).stdout,
        /is not a client-secret slot .* or a certificate version or slot .* of stack prod/,
      );
      assert.equal(check(version("a").replace("urn:pulumi:prod", "urn:pulumi:dev")).code, 1);
      assert.equal(
        check(
          slot.replace(
            "azuread:index/applicationPassword:ApplicationPassword",
            "azure-native:keyvault:Vault",
          ),
        ).code,
        1,
      );
      assert.equal(check(version("a").replace("-version-a", "-reader-x")).code, 1);
      assert.match(check(slot, "all").stdout, /run the workflow for that stack only/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("write the policy pack config from the environment's variables, the stack file and policy/stacks.yaml", () => {
    const scripts = new Set(
      allJobs()
        .filter(({ workflow: wf }) => wf.file !== "preview.yml")
        .flatMap(({ job }) =>
          job.steps.filter((s) => s.name === "Write the policy pack config").map((s) => s.run ?? ""),
        ),
    );
    assert.equal(scripts.size, 1, "every workflow on main writes the config the same way");
    const [script] = [...scripts];
    const dir = mkdtempSync(path.join(tmpdir(), "policy-config-"));
    const PATH = process.env.PATH ?? "";
    try {
      const ok = runStep(script, {
        PATH,
        SMARTSPACE_SP_OBJECT_ID: SMARTSPACE.objectId,
        SMARTSPACE_APP_ROLE_ID: SMARTSPACE.integrationsRoleId,
        STACK: "dev",
        RUNNER_TEMP: dir,
      });
      assert.equal(ok.code, 0, ok.stderr);
      const config = JSON.parse(readFileSync(path.join(dir, "policy-config.json"), "utf8")) as Record<
        string,
        Record<string, unknown>
      >;
      assert.deepEqual(config[POLICY.appRoleAssignment], {
        enforcementLevel: "mandatory",
        [CONFIG.smartspacePrincipal]: SMARTSPACE.objectId,
        [CONFIG.smartspaceAppRole]: SMARTSPACE.integrationsRoleId,
      });
      const missing = runStep(script, { PATH, SMARTSPACE_SP_OBJECT_ID: "", STACK: "dev", RUNNER_TEMP: dir });
      assert.equal(missing.code, 1);
      assert.match(missing.stdout, /::error::Could not write the policy pack config for dev/);
      assert.match(missing.stderr, /is not a GUID/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("install the Pulumi CLI only when its archive matches the published checksum", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "install-cli-"));
    try {
      const version = (
        JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
          devDependencies: Record<string, string>;
        }
      ).devDependencies.pulumi;
      // A release archive as goreleaser builds it: pulumi/ holding the CLI (here a script that records calls).
      const release = path.join(dir, "release");
      mkdirSync(path.join(release, "pulumi"), { recursive: true });
      writeFileSync(
        path.join(release, "pulumi", "pulumi"),
        `#!/usr/bin/env bash\necho "$*" >> ${JSON.stringify(path.join(dir, "cli-calls.txt"))}\nif [ "$1" = version ]; then echo v${version}; fi\n`,
      );
      chmodSync(path.join(release, "pulumi", "pulumi"), 0o755);
      const archive = `pulumi-v${version}-linux-x64.tar.gz`;
      const served = path.join(dir, "served");
      mkdirSync(served);
      assert.equal(spawnSync("tar", ["-czf", path.join(served, archive), "-C", release, "pulumi"]).status, 0);
      const sha = spawnSync("sha256sum", [path.join(served, archive)], { encoding: "utf8" }).stdout.split(
        " ",
      )[0];
      const checksums = (digest: string) =>
        writeFileSync(
          path.join(served, `pulumi-${version}-checksums.txt`),
          `${"0".repeat(64)}  other.zip\n${digest}  ${archive}\n`,
        );
      // curl stand-in: serves the files above for https URLs and records what was asked.
      const bin = path.join(dir, "bin");
      mkdirSync(bin);
      fakeTools(bin, {
        curl: `
const url = args[args.length - 1];
const out = args[args.indexOf("--output") + 1];
if (!url.startsWith("https://") || !args.includes("=https")) process.exit(1);
fs.copyFileSync(require("path").join(${JSON.stringify(served)}, url.split("/").pop()), out);
`,
      });
      const install = (extra: Record<string, string> = {}) =>
        spawnSync("bash", [path.join(ROOT, ".github", "scripts", "install-pulumi-cli.sh")], {
          cwd: ROOT,
          encoding: "utf8",
          env: {
            PATH: `${bin}:${process.env.PATH ?? ""}`,
            HOME: dir,
            PULUMI_HOME: path.join(dir, "home"),
            ...extra,
          },
        });

      checksums("f".repeat(64));
      const tampered = install();
      assert.equal(tampered.status, 1);
      assert.match(tampered.stderr, /but Pulumi published f{64}: not installing it/);
      assert.ok(!existsSync(path.join(dir, "home", "versions", version, "bin", "pulumi")));

      checksums(sha);
      const good = install();
      assert.equal(good.status, 0, good.stderr);
      const cli = path.join(dir, "home", "versions", version, "bin", "pulumi");
      assert.ok(existsSync(cli), "installed where the npm launcher looks first");
      const calls = readFileSync(path.join(dir, "cli-calls.txt"), "utf8");
      assert.match(calls, /^plugin install resource azure-native v\d+\.\d+\.\d+ --non-interactive$/m);
      assert.match(calls, /^plugin install resource azuread v/m);
      // Archive from get.pulumi.com, checksums from the GitHub release: two origins, https only.
      const urls = toolCalls(bin).map((call) => call.args[call.args.length - 1]);
      assert.deepEqual(urls.slice(-2), [
        `https://get.pulumi.com/releases/sdk/${archive}`,
        `https://github.com/pulumi/pulumi/releases/download/v${version}/pulumi-${version}-checksums.txt`,
      ]);
      assert.equal(
        install({ PULUMI_DOWNLOAD_BASE: "http://mirror.example" }).status,
        1,
        "never over plain http",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("are protected by a required CI check on main, as the operating guide sets it up", () => {
    const ci = workflow("ci.yml");
    assert.ok("pull_request" in ci.on, "CI runs on every pull request");
    const guide = readFileSync(path.join(ROOT, "docs", "operations.md"), "utf8");
    const protection =
      /gh api -X PUT "repos\/\$ORG\/\$REPO\/branches\/main\/protection" --input - <<'EOF'\n([\s\S]*?)\nEOF/.exec(
        guide,
      );
    assert.ok(protection, "docs/operations.md protects main with gh api");
    const body = JSON.parse(protection[1]) as {
      required_status_checks: { strict: boolean; checks: { context: string; app_id?: number }[] };
      enforce_admins: boolean;
      required_pull_request_reviews: unknown;
      restrictions: unknown;
    };
    // A check run from GitHub Actions is named after its job (the job ID unless the job sets a name).
    const jobNames = Object.entries(ci.jobs).map(([id, job]) => job.name ?? id);
    assert.deepEqual(
      body.required_status_checks.checks.map((check) => check.context),
      jobNames,
      "every CI job is a required check",
    );
    for (const check of body.required_status_checks.checks) {
      assert.equal(check.app_id, 15368, "the check must come from GitHub Actions");
    }
    assert.equal(body.enforce_admins, true, "administrators cannot merge past a red check");
    assert.ok(body.required_pull_request_reviews, "changes reach main through reviewed pull requests");
    assert.ok("restrictions" in body, "the API requires every top-level key");
  });

  it("run every stack that has a stack file, production unless policy/stacks.yaml says otherwise", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "stacks-"));
    try {
      mkdirSync(path.join(dir, "policy"));
      writeFileSync(
        path.join(dir, "policy", "stacks.yaml"),
        "dev: { production: false }\nprod: { production: true }\n",
      );
      for (const stack of ["dev", "prod", "staging"])
        writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), "config: {}\n");
      writeFileSync(path.join(dir, "Pulumi.yaml"), "name: x\n");
      assert.deepEqual(pipelineStacks(dir), {
        all: ["dev", "prod", "staging"],
        production: ["prod", "staging"],
        nonproduction: ["dev"],
      });
      assert.deepEqual(pipelineStacks(dir, "dev").all, ["dev"]);
      assert.throws(
        () => pipelineStacks(dir, "qa"),
        /no stack file Pulumi\.qa\.yaml; the stacks are: dev, prod, staging/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("ship what the operating guide's first-time checklist relies on", () => {
    const owners = readFileSync(path.join(ROOT, ".github", "CODEOWNERS"), "utf8");
    for (const pattern of ["/.github/", "/policy/", "/cli/", "/Pulumi.*.yaml", "/package-lock.json"]) {
      assert.match(
        owners,
        new RegExp(`^${pattern.replace(/[.*]/g, "\\$&")}\\s+@`, "m"),
        `CODEOWNERS covers ${pattern}`,
      );
    }
    const guide = readFileSync(path.join(ROOT, "docs", "operations.md"), "utf8");
    assert.match(guide, /^## First-time checklist$/m);
    assert.doesNotMatch(guide, /\bnpx (pulumi|tsx)\b/, "the guide runs everything through the npm scripts");
    assert.doesNotMatch(guide, /az keyvault show --ids/, "the CLI rejects --ids for az keyvault show");
    assert.match(guide, /`gh` \*\*2\.25 or later\*\*/);
    for (const match of guide.matchAll(/\bnpm run (?:--silent )?([\w:-]+)/g)) {
      const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
        scripts: Record<string, string>;
      };
      assert.ok(pkg.scripts[match[1]], `the guide's npm run ${match[1]} exists`);
    }
  });

  it("pass untrusted input to scripts through the environment, never by expression", () => {
    for (const { workflow: wf, name, job } of allJobs()) {
      for (const s of job.steps) {
        const code = `${s.run ?? ""}${String(s.with?.script ?? "")}`;
        assert.doesNotMatch(
          code,
          /\$\{\{[^}]*(github\.event|inputs\.|github\.head_ref)/,
          `${wf.file} ${name} "${s.name}"`,
        );
      }
    }
  });

  it("contain only scripts that bash can parse, and npm scripts that exist", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    for (const { workflow: wf, name, job } of allJobs()) {
      for (const s of job.steps.filter((candidate) => candidate.run)) {
        const script = (s.run ?? "").replace(/\$\{\{[^}]*\}\}/g, "placeholder");
        const parsed = spawnSync("bash", ["-n", "-c", script], { encoding: "utf8" });
        assert.equal(parsed.status, 0, `${wf.file} ${name} "${s.name ?? s.run}": ${parsed.stderr}`);
        for (const match of (s.run ?? "").matchAll(/\bnpm run (?:--silent )?(?:--prefix \S+ )?([\w:-]+)/g)) {
          assert.ok(
            pkg.scripts[match[1]],
            `${wf.file} uses npm run ${match[1]}, which package.json must define`,
          );
        }
      }
    }
  });
});
