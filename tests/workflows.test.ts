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
import { POLICY, SMARTSPACE_PRINCIPAL_CONFIG_KEY } from "../policy/policies";
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
    payload: { pull_request: { head: { sha: "0123456789abcdef" } } },
  };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    await new AsyncFunction("github", "context", "require", script)(github, context, require);
  } finally {
    for (const key of Object.keys(env)) {
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

  it("enforce the policy pack and suppress outputs in every preview and deployment, with the pinned CLI", () => {
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
        for (const flag of [
          "--suppress-outputs",
          "--non-interactive",
          "--policy-pack policy",
          '--policy-pack-config "$RUNNER_TEMP/policy-config.json"',
        ]) {
          assert.ok(command.includes(flag), `${where} has ${flag}`);
        }
      }
      if (runsPulumi(job)) {
        const setupNode = job.steps.find((s) => s.uses?.startsWith("actions/setup-node@"));
        assert.equal(setupNode?.with?.["node-version"], 20, `${wf.file} ${name} uses Node 20`);
        const ci = job.steps.findIndex((s) => /^npm ci( --ignore-scripts)?$/.test(s.run ?? ""));
        const firstPulumi = job.steps.findIndex((s) => /\bnpx pulumi\b/.test(s.run ?? ""));
        assert.ok(ci >= 0 && ci < firstPulumi, `${wf.file} ${name} runs npm ci before the CLI`);
        assert.equal(job.env?.PULUMI_BACKEND_URL, "${{ vars.PULUMI_BACKEND_URL }}");
      }
    }
    assert.equal(
      count,
      6,
      "pull-request preview, dev and prod deployments, drift preview, rotation preview and up",
    );
    for (const wf of loadWorkflows()) {
      assert.doesNotMatch(wf.text, /pulumi\/actions@|get\.pulumi\.com/, `${wf.file} installs no other CLI`);
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

  it("install without install scripts in every job that can request an Azure token, which needs none", () => {
    const covered = new Set<string>();
    for (const { workflow: wf, name, job } of allJobs()) {
      if ((job.permissions ?? wf.permissions)?.["id-token"] !== "write") continue;
      covered.add(wf.file);
      const installs = job.steps.filter((s) => /^npm (ci|install)\b/.test(s.run ?? ""));
      assert.ok(installs.length > 0, `${wf.file} ${name} installs dependencies`);
      for (const install of installs) {
        assert.equal(install.run, "npm ci --ignore-scripts", `${wf.file} ${name}`);
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
    const stacks = workflow("preview.yml").jobs.preview.strategy?.matrix?.stack as string[];
    assert.deepEqual(Object.keys(deploy.jobs).sort(), [...stacks].sort(), "one deployment job per stack");
    for (const [name, job] of Object.entries(deploy.jobs)) {
      // The rotation guard finds a stack's deployment by job name: the job ID, unless a name overrides it.
      assert.equal(job.name, undefined, `deploy.yml ${name} keeps its job ID as its name`);
      assert.equal(job.env?.STACK, name, `deploy.yml job ${name} deploys stack ${name}`);
      assert.equal(job.concurrency?.group, `pulumi-up-${name}`);
      assert.equal(
        job.concurrency?.["cancel-in-progress"],
        false,
        `deploy.yml ${name} never cancels a running one`,
      );
    }
    for (const { workflow: wf, name, job } of allJobs()) {
      if (wf.file === "deploy.yml" || !runsPulumi(job)) continue;
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
          { name: "dev", status: "completed" },
          { name: "prod", status: "completed" },
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
          deployRun(7, status, status === "in_progress" ? [{ name: "dev", status: "in_progress" }] : []),
        ]);
        assert.equal(busy.code, 0, busy.stderr);
        assert.equal(busy.output, "deploying=true\n", `${stack} while a deployment is ${status}`);
        assert.match(busy.stdout, new RegExp(`::notice title=Rotation skipped \\(${stack}\\)::.*run 7\\b`));
      }

      // Prod awaiting approval, dev deployed: dev rotates, prod waits for that deployment.
      const awaitingApproval = [
        deployRun(8, "waiting", [
          { name: "dev", status: "completed" },
          { name: "prod", status: "waiting" },
        ]),
      ];
      assert.equal(guardFor("dev", awaitingApproval).output, "deploying=false\n");
      assert.equal(guardFor("prod", awaitingApproval).output, "deploying=true\n");

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

  it("preview every environment on pull requests and post the diff to the pull request", async () => {
    const wf = workflow("preview.yml");
    assert.ok("pull_request" in wf.on);
    const job = wf.jobs.preview;
    assert.deepEqual(job.strategy?.matrix?.stack, ["dev", "prod"]);
    assert.equal(job.environment, "${{ matrix.stack }}-preview");
    assert.equal(job.permissions?.["pull-requests"], "write");
    assert.match(pulumiCommands(job, "preview")[0], /--diff/);
    const post = job.steps.find((s) => s.uses?.startsWith("actions/github-script@"));
    const script = String(post?.with?.script);
    const dir = mkdtempSync(path.join(tmpdir(), "preview-comment-"));
    try {
      const file = path.join(dir, "preview.txt");
      writeFileSync(
        file,
        `Previewing update (dev)\n~ azuread:index/application:Application\n${"x".repeat(70_000)}`,
      );
      const env = { STACK: "dev", PREVIEW_FILE: file, EXIT_CODE: "0" };
      const created = await runGithubScript(script, env);
      assert.equal(created.length, 1);
      assert.equal(created[0].method, "createComment");
      const body = String(created[0].params.body);
      assert.match(body, /^<!-- pulumi-preview:dev -->\n### Pulumi preview of `dev`: succeeded/);
      assert.match(body, /Commit 0123456/);
      assert.match(body, /truncated; the job log has the full preview/);
      assert.ok(body.length < 65_536, "fits GitHub's comment limit");
      const updated = await runGithubScript(
        script,
        { ...env, EXIT_CODE: "255" },
        {
          comments: [{ id: 99, user: { type: "Bot" }, body: "<!-- pulumi-preview:dev -->\nold" }],
        },
      );
      assert.deepEqual(
        updated.map((c) => [c.method, c.params.comment_id]),
        [["updateComment", 99]],
      );
      assert.match(String(updated[0].params.body), /failed \(exit 255\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("deploy dev on merge, then prod behind the prod environment's approval", () => {
    const wf = workflow("deploy.yml");
    assert.deepEqual((wf.on.push as { branches: string[] }).branches, ["main"]);
    assert.equal(wf.jobs.dev.environment, "dev");
    assert.equal(wf.jobs.prod.environment, "prod");
    assert.equal(wf.jobs.prod.needs, "dev");
    assert.match(pulumiCommands(wf.jobs.dev, "up")[0], /--stack "\$STACK" --yes/);
    assert.equal(wf.jobs.dev.env?.STACK, "dev");
    assert.equal(wf.jobs.prod.env?.STACK, "prod");
  });

  it("check drift daily, classify it, and open, update or close one issue per stack", async () => {
    const wf = workflow("drift.yml");
    const [schedule] = wf.on.schedule as { cron: string }[];
    assert.match(schedule.cron, /^\d+ \d+ \* \* \*$/, "daily");
    const job = wf.jobs.drift;
    assert.equal(job.permissions?.issues, "write");
    // Unattended, so not in <stack>-preview, which may require a reviewer for pull requests.
    assert.equal(job.environment, "${{ matrix.stack }}-drift");
    assert.match(pulumiCommands(job, "preview")[0], /--refresh --expect-no-changes --json/);
    assert.match(
      step(job, "Classify the preview (drift or rotation due)").run ?? "",
      /cli\/classify-preview\.ts/,
    );
    const script = String(job.steps.find((s) => s.uses?.startsWith("actions/github-script@"))?.with?.script);
    const dir = mkdtempSync(path.join(tmpdir(), "drift-issue-"));
    try {
      const report = path.join(dir, "report.md");
      writeFileSync(report, "## Drift check of stack `prod`: drift detected\n");
      const env = { STACK: "prod", REPORT_FILE: report };
      const opened = await runGithubScript(script, { ...env, VERDICT: "drift" });
      assert.deepEqual(
        opened.map((c) => c.method),
        ["create"],
      );
      assert.equal(opened[0].params.title, "Drift detected in stack prod");
      assert.match(String(opened[0].params.body), /^<!-- drift-check:prod -->\n## Drift check/);
      const issue = { number: 12, body: "<!-- drift-check:prod -->\nold" };
      const other = { number: 13, body: "<!-- drift-check:dev -->" };
      const updated = await runGithubScript(
        script,
        { ...env, VERDICT: "failed" },
        { issues: [other, issue] },
      );
      assert.deepEqual(
        updated.map((c) => [c.method, c.params.issue_number]),
        [
          ["update", 12],
          ["createComment", 12],
        ],
      );
      assert.equal(updated[0].params.title, "Drift check failing for stack prod");
      const closed = await runGithubScript(script, { ...env, VERDICT: "rotation-due" }, { issues: [issue] });
      assert.deepEqual(
        closed.map((c) => c.method),
        ["createComment", "update"],
      );
      assert.equal(closed[1].params.state, "closed");
      assert.match(String(closed[0].params.body), /only a due rotation/);
      assert.deepEqual(await runGithubScript(script, { ...env, VERDICT: "no-changes" }), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const verdict = step(job, "Report the verdict").run ?? "";
    for (const [value, code] of [
      ["no-changes", 0],
      ["rotation-due", 0],
      ["drift", 1],
      ["failed", 1],
    ] as const) {
      assert.equal(runStep(verdict, { VERDICT: value, STACK: "prod", HEADLINE: "h" }).code, code, value);
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
    ] as const) {
      assert.equal(runStep(gate, { VERDICT: value, STACK: "dev" }).code, code, value);
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

    const integrations = {
      "crm-sync": { clientId: "c1", workspaces: ["w1", "w2"] },
      "billing-bot": { clientId: "c2", workspaces: [] },
      reporting: { clientId: "c3" },
      "ops-bot": { clientId: "c4", workspaces: ["w3"] },
    };

    function verifyStep(
      verdict: string,
      codes: Record<string, number[]>,
      extra: Record<string, string> = {},
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
        FAKE_INTEGRATIONS: JSON.stringify(integrations),
        FAKE_VERIFY_CODES: JSON.stringify(codes),
        ...extra,
      });
      const verified = toolCalls(bin)
        .filter((call) => call.tool === "npm")
        .map((call) => call.args[call.args.indexOf("--integration") + 1]);
      return { ...result, verified };
    }

    it("verifies only integrations with workspaces, and says which it skipped", () => {
      const run = verifyStep("no-changes", {});
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(run.verified, ["crm-sync", "ops-bot"]);
      assert.deepEqual(run.stdout.match(/::notice title=Not verified \(dev\/[\w-]+\)/g), [
        "::notice title=Not verified (dev/billing-bot)",
        "::notice title=Not verified (dev/reporting)",
      ]);
      assert.doesNotMatch(run.stdout, /::error/);
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

    it("after a rotation, retries a rejected new secret (exit 3) until Entra ID accepts it", () => {
      const run = verifyStep("rotation-due", { "crm-sync": [3, 3, 0] });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(run.verified, ["crm-sync", "crm-sync", "crm-sync", "ops-bot"]);
      assert.equal(
        run.stdout.match(/::notice title=New secret not accepted yet \(dev\/crm-sync\)/g)?.length,
        2,
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

  it("accept only this stack's client-secret slots for a forced rotation", () => {
    const script =
      step(workflow("rotate.yml").jobs.rotate, "Check the requested forced replacements").run ?? "";
    const dir = mkdtempSync(path.join(tmpdir(), "forced-"));
    const slot =
      "urn:pulumi:prod::smartspace-integration::smartspace:credentials:IntegrationCredentials$azuread:index/applicationPassword:ApplicationPassword::crm-sync-credentials-slot-b";
    const check = (replace: string, requested = "prod") =>
      runStep(script, { REPLACE: replace, REQUESTED_STACK: requested, STACK: "prod", RUNNER_TEMP: dir });
    try {
      const accepted = check(`${slot} ${slot.replace("slot-b", "slot-a")}`);
      assert.equal(accepted.code, 0, accepted.stderr);
      assert.equal(
        readFileSync(path.join(dir, "replace.txt"), "utf8"),
        `${slot}\n${slot.replace("slot-b", "slot-a")}\n`,
      );
      assert.equal(check("").code, 0);
      assert.equal(readFileSync(path.join(dir, "replace.txt"), "utf8"), "");
      assert.match(
        check(slot.replace("urn:pulumi:prod", "urn:pulumi:dev")).stdout,
        /is not a client-secret slot .* of stack prod/,
      );
      assert.equal(
        check(
          slot.replace(
            "azuread:index/applicationPassword:ApplicationPassword",
            "azure-native:keyvault:Vault",
          ),
        ).code,
        1,
      );
      assert.match(check(slot, "all").stdout, /run the workflow for that stack only/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("write the policy pack config the pack reads, from the environment's variable", () => {
    const scripts = new Set(
      allJobs().flatMap(({ job }) =>
        job.steps.filter((s) => s.name === "Write the policy pack config").map((s) => s.run ?? ""),
      ),
    );
    assert.equal(scripts.size, 1, "every workflow writes the config the same way");
    const [script] = [...scripts];
    const dir = mkdtempSync(path.join(tmpdir(), "policy-config-"));
    try {
      const ok = runStep(script, {
        SMARTSPACE_SP_OBJECT_ID: SMARTSPACE.objectId,
        STACK: "dev",
        RUNNER_TEMP: dir,
      });
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(JSON.parse(readFileSync(path.join(dir, "policy-config.json"), "utf8")), {
        [POLICY.appRoleAssignment]: { [SMARTSPACE_PRINCIPAL_CONFIG_KEY]: SMARTSPACE.objectId },
      });
      const missing = runStep(script, { SMARTSPACE_SP_OBJECT_ID: "", STACK: "dev", RUNNER_TEMP: dir });
      assert.equal(missing.code, 1);
      assert.match(
        missing.stdout,
        /::error::Set the variable SMARTSPACE_SP_OBJECT_ID of the GitHub environment of stack dev/,
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
        for (const match of (s.run ?? "").matchAll(/\bnpm run ([\w:-]+)/g)) {
          assert.ok(
            pkg.scripts[match[1]],
            `${wf.file} uses npm run ${match[1]}, which package.json must define`,
          );
        }
      }
    }
  });
});
