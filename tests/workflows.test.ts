/**
 * The GitHub Actions workflows, checked without GitHub: actionlint over every file, the guarantees the
 * operating guide promises (OIDC only, policy pack everywhere, serialised deployments, outputs suppressed),
 * and the workflows' own shell and github-script logic run against fakes.
 */
import { parse as parseYaml } from "yaml";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { POLICY, SMARTSPACE_PRINCIPAL_CONFIG_KEY } from "../policy/policies";
import {
  formatFinding,
  lintWorkflows,
  loadLinter,
  workflowFiles,
  type Linter,
} from "../scripts/lint-workflows";
import { SMARTSPACE } from "./support/azureMocks";

const ROOT = path.resolve(__dirname, "..");
const WORKFLOWS = path.join(ROOT, ".github", "workflows");

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
  let linter: Linter;
  before(async () => {
    linter = await loadLinter();
  });

  it("pass actionlint, which does catch a broken workflow", async () => {
    const report = await lintWorkflows(workflowFiles([WORKFLOWS]), linter);
    assert.deepEqual(report.files.map((file) => path.basename(file)).sort(), [
      "ci.yml",
      "deploy.yml",
      "drift.yml",
      "preview.yml",
      "rotate.yml",
    ]);
    assert.deepEqual(report.findings.map(formatFinding), []);
    const broken = linter.lint(
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
        const ci = job.steps.findIndex((s) => s.run === "npm ci");
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

  it("serialise deployments per stack, and keep previews and drift checks out of that queue", () => {
    for (const { workflow: wf, name, job } of allJobs()) {
      if (!runsPulumi(job)) continue;
      const group = job.concurrency?.group ?? "";
      const stack = job.env?.STACK ?? "";
      assert.ok(
        stack === "${{ matrix.stack }}" || ["dev", "prod"].includes(stack),
        `${wf.file} ${name} names its stack`,
      );
      const stackInGroup = stack.startsWith("${{")
        ? group.includes("${{ matrix.stack }}")
        : group.endsWith(`-${stack}`);
      assert.ok(stackInGroup, `${wf.file} ${name}: concurrency group "${group}" is per stack`);
      if (pulumiCommands(job, "up").length > 0) {
        assert.ok(group.startsWith("pulumi-up-"), `${wf.file} ${name} queues behind other deployments`);
        assert.equal(
          job.concurrency?.["cancel-in-progress"],
          false,
          `${wf.file} ${name} never cancels a running deployment`,
        );
      } else {
        // GitHub cancels the older *pending* run of a group: a preview sharing the deployment group could
        // cancel a queued deployment.
        assert.ok(!group.startsWith("pulumi-up-"), `${wf.file} ${name} stays out of the deployment queue`);
      }
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
    assert.match(pulumiCommands(job, "preview")[0], /--refresh --expect-no-changes --json/);
    assert.match(
      step(job, "Classify the preview (drift or rotation due)").run ?? "",
      /scripts\/classify-preview\.ts/,
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
    assert.equal(up?.if, "${{ steps.classify.outputs.verdict == 'rotation-due' }}");
    assert.match(
      step(job, "npm run verify, for each integration").run ?? "",
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
