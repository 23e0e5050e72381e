import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { placeholderGate, plan, UsageError } from "../cli/pulumi";

const LOCAL_STATE = `file://${path.resolve(__dirname, "..", ".pulumi-state")}`;

describe("npm run up / preview (pinned Pulumi CLI wrapper)", () => {
  it("defaults to the local file backend and creates the stack on first use", () => {
    assert.deepEqual(plan(["up", "dev", "--yes"], {}), {
      stack: "dev",
      env: { PULUMI_BACKEND_URL: LOCAL_STATE },
      commands: [
        ["stack", "select", "dev", "--create"],
        ["up", "--stack", "dev", "--yes"],
      ],
    });
  });

  it("leaves an explicitly chosen backend alone", () => {
    const invocation = plan(["preview", "prod", "--diff"], { PULUMI_BACKEND_URL: "azblob://state" });
    assert.deepEqual(invocation.env, {});
    assert.deepEqual(invocation.commands.at(-1), ["preview", "--stack", "prod", "--diff"]);
  });

  it("does not create stacks for refresh and destroy", () => {
    assert.deepEqual(plan(["destroy", "dev"], {}).commands, [["destroy", "--stack", "dev"]]);
  });

  it("passes other commands through untouched", () => {
    assert.deepEqual(plan(["stack", "output", "--stack", "dev", "--json"], {}).commands, [
      ["stack", "output", "--stack", "dev", "--json"],
    ]);
  });

  it("explains a missing stack name", () => {
    assert.throws(() => plan(["up"], {}), UsageError);
    assert.throws(() => plan(["up", "--yes"], {}), /npm run up -- dev/);
    assert.throws(() => plan([], {}), /name a pulumi command/);
  });
});

const ROOT = path.resolve(__dirname, "..");
const PINNED = (
  JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    devDependencies: Record<string, string>;
  }
).devDependencies.pulumi;

/** Runs a project script as `npm run` would, with a clean environment plus `env`. */
function run(script: string, args: readonly string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the Pulumi CLI wrapper, before and around the CLI", function () {
  // Each case starts node once or twice.
  this.timeout(30_000);
  let dir: string;
  let offline: string;
  let fakeCli: string;
  let calls: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "pulumi-wrapper-"));
    // This machine's real failure, reproduced anywhere: DNS does not resolve get.pulumi.com, so the real
    // launcher's fetch fails with "fetch failed" (cause ENOTFOUND) before any byte leaves the machine.
    offline = path.join(dir, "offline.js");
    writeFileSync(
      offline,
      `const dns = require("node:dns");
dns.lookup = (hostname, options, callback) => {
  const cb = typeof options === "function" ? options : callback;
  const error = Object.assign(new Error("getaddrinfo ENOTFOUND " + hostname), { code: "ENOTFOUND", syscall: "getaddrinfo", hostname });
  process.nextTick(cb, error);
};
`,
    );
    // An installed CLI of another version, which records how it was called.
    calls = path.join(dir, "calls.log");
    fakeCli = path.join(dir, "bin", "pulumi");
    mkdirSync(path.dirname(fakeCli));
    writeFileSync(
      fakeCli,
      `#!${process.execPath}
const args = process.argv.slice(2);
if (args[0] === "version") { process.stdout.write("v3.250.0\\n"); process.exit(0); }
require("node:fs").appendFileSync(${JSON.stringify(calls)}, JSON.stringify({ args, path: process.env.PATH.split(require("node:path").delimiter)[0] }) + "\\n");
`,
      { mode: 0o755 },
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses up and preview of a stack file that still holds placeholders, without starting the CLI", function () {
    if (process.platform === "win32") this.skip();
    rmSync(calls, { force: true });
    const result = run("cli/pulumi.ts", ["up", "dev", "--yes"], { SMARTSPACE_PULUMI_CLI: fakeCli });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^error: Pulumi\.dev\.yaml still holds placeholders from the example; the Pulumi CLI was not started and nothing reached Azure:\n/,
    );
    assert.match(
      result.stderr,
      /\n {2}- smartspace-integration:smartspace\.appClientId "<Smartspace app client ID>": placeholder; fill in /,
    );
    assert.match(result.stderr, /\nFill them in, then check the stack offline with: npm run check -- dev\n$/);
    assert.ok(!existsSync(calls), "the CLI was never called, not even for its version");
    // refresh and destroy do not run the program, so they need no gate.
    assert.deepEqual(placeholderGate(["destroy", "dev"], plan(["destroy", "dev"], {})), []);
    assert.equal(placeholderGate(["preview", "dev"], plan(["preview", "dev"], {})).length, 6);
  });

  it("explains a CLI that cannot be downloaded: what it tried, the likely cause, and the way out", () => {
    const home = path.join(dir, "home-offline");
    const result = run("cli/pulumi.ts", ["stack", "ls"], {
      PULUMI_HOME: home,
      NODE_OPTIONS: `--require ${offline}`,
      HTTPS_PROXY: "http://proxy.contoso.example:3128",
    });
    assert.equal(result.code, 1);
    const cache = path.join(home, "versions", PINNED);
    const archive = `pulumi-v${PINNED}-${process.platform}-${process.arch === "arm64" ? "arm64" : "x64"}.tar.gz`;
    assert.equal(
      result.stderr,
      [
        `Downloading the pinned Pulumi CLI v${PINNED} into ${cache} (first use only)...`,
        `error: the pinned Pulumi CLI v${PINNED} could not be downloaded.`,
        `  tried:  the pulumi npm package's launcher, installing v${PINNED} from https://get.pulumi.com`,
        `          into ${cache} (PULUMI_HOME/versions/<version>)`,
        "  said:   pulumi: fetch failed",
        "  likely: this machine cannot reach get.pulumi.com: no internet access, a firewall, or DNS; HTTPS_PROXY " +
          `is set, but the launcher fetches the install script with Node's fetch, which ignores proxy variables on Node ${process.versions.node.split(".")[0]}`,
        "  way out:",
        "    - allow HTTPS to get.pulumi.com and run this again (only the first run downloads)",
        `    - or download https://get.pulumi.com/releases/sdk/${archive} where you can, then: ` +
          `mkdir -p ${cache} && tar -xzf ${archive} -C ${cache} && mv ${cache}/pulumi ${cache}/bin`,
        `    - or install pulumi v${PINNED} another way and set SMARTSPACE_PULUMI_CLI=/path/to/pulumi`,
        "",
      ].join("\n"),
    );
  });

  it("verify --stack reports the same cause instead of blaming the stack", () => {
    const result = run("cli/verify/main.ts", ["--stack", "dev", "--integration", "crm-sync"], {
      PULUMI_HOME: path.join(dir, "home-verify"),
      NODE_OPTIONS: `--require ${offline}`,
    });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      new RegExp(
        `^error: the pinned Pulumi CLI v${PINNED.replace(/\./g, "\\.")} could not be downloaded \\(pulumi: fetch failed\\); likely this machine cannot reach get\\.pulumi\\.com`,
      ),
    );
    assert.match(
      result.stderr,
      /\n {2}fix: allow HTTPS to get\.pulumi\.com .*; or install pulumi v\S+ another way and set SMARTSPACE_PULUMI_CLI=\/path\/to\/pulumi\n/,
    );
    assert.doesNotMatch(result.stderr, /PULUMI_CONFIG_PASSPHRASE|exists on the backend/);
  });

  it("runs an installed CLI named by SMARTSPACE_PULUMI_CLI, warning that its version differs from the pin", function () {
    if (process.platform === "win32") this.skip();
    rmSync(calls, { force: true });
    const result = run("cli/pulumi.ts", ["stack", "ls", "--json"], { SMARTSPACE_PULUMI_CLI: fakeCli });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `^warning: SMARTSPACE_PULUMI_CLI is pulumi v3\\.250\\.0, but this project pins v${PINNED.replace(/\./g, "\\.")} \\(package\\.json\\); continuing with it\\.`,
      ),
    );
    const [call] = readFileSync(calls, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    // Its own directory first on PATH, as the launcher does, so that its language hosts are found.
    assert.deepEqual(call, { args: ["stack", "ls", "--json"], path: path.dirname(fakeCli) });

    const missing = run("cli/pulumi.ts", ["stack", "ls"], { SMARTSPACE_PULUMI_CLI: path.join(dir, "nope") });
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^error: SMARTSPACE_PULUMI_CLI=\S+nope could not be run as the Pulumi CLI\.\n {2}tried: {2}\S+nope version\n {2}said: {3}spawnSync \S+ ENOENT\n/,
    );
  });

  it("prints its usage for --help, without starting the CLI", () => {
    const result = run("cli/pulumi.ts", ["up", "--help"], {
      SMARTSPACE_PULUMI_CLI: path.join(dir, "never-run"),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Usage:\n {2}npm run up -- <stack> \[pulumi up flags\]/);
    assert.match(result.stdout, /SMARTSPACE_PULUMI_CLI +path of an installed pulumi executable/);
  });
});
