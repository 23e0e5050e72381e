import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { parseStackConfig } from "../program/config";
import { fillPlaceholders } from "./support/fixtures";
import { toRawConfig } from "./support/program";

const ROOT = path.resolve(__dirname, "..");

/** Starts a project script as `npm run` does; resolves when it exits or `until` appears in its stdout. */
function start(script: string, args: readonly string[], until?: string) {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string; running: boolean }>(
    (resolve) => {
      child.on("exit", (code) => resolve({ code, stdout, stderr, running: false }));
      if (until !== undefined) {
        child.stdout.on(
          "data",
          () => stdout.includes(until) && resolve({ code: null, stdout, stderr, running: true }),
        );
      }
    },
  );
  return { child, done };
}

describe("npm scripts a newcomer runs", function () {
  this.timeout(30_000);

  it("answer --help with their usage and exit, without starting a server or a benchmark", async () => {
    const scripts: [string, RegExp][] = [
      ["tools/emulators/serve-tenant.ts", /^Usage: npm run emulator:tenant/],
      ["tools/emulators/serve-smartspace.ts", /^Usage: npm run emulator -- \[options\]/],
      ["tools/bench/index.ts", /^Usage: npm run bench/],
      ["cli/lint-workflows.ts", /^usage: npm run lint:workflows/i],
    ];
    const results = await Promise.all(scripts.map(([script]) => start(script, ["--help"]).done));
    results.forEach((result, index) => {
      assert.equal(result.code, 0, `${scripts[index][0]}: ${result.stderr}`);
      assert.match(result.stdout, scripts[index][1]);
      assert.doesNotMatch(result.stdout, /listening|https:\/\/127\.0\.0\.1|Median of/);
    });
  });

  it("npm run emulator prints commands that point the named stack at it through the npm scripts", async () => {
    const { child, done } = start(
      "tools/emulators/serve-smartspace.ts",
      ["--stack", "qa"],
      "Requests (Ctrl+C to stop):",
    );
    try {
      const { stdout, running } = await done;
      assert.ok(running, stdout);
      const url = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(stdout)![1];
      const commands = stdout
        .slice(stdout.indexOf("Point stack qa at it"))
        .split("\n")
        .filter((line) => line.startsWith("  "))
        .map((line) => line.trim());
      assert.ok(
        commands.every((line) => /^(npm run (pulumi|up) -- |export )/.test(line)),
        commands.join("\n"),
      );
      assert.equal(commands.at(-1), "npm run up -- qa");
      // Apply the printed config commands as `pulumi config set --stack qa --path` would, to the example.
      const config = fillPlaceholders(
        (
          parse(readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as {
            config: Record<string, unknown>;
          }
        ).config,
      );
      for (const line of commands.filter((command) => command.includes(" config set "))) {
        const match = /^npm run pulumi -- config set --stack qa --path '?([^' ]+)'? (\S+)$/.exec(line);
        assert.ok(match, line);
        const [top, ...rest] = match[1]
          .split(/\.|\[(\d+)\]/)
          .filter((part) => part !== undefined && part !== "");
        let target = config[`smartspace-integration:${top}`] as Record<string, unknown>;
        rest.slice(0, -1).forEach((key) => (target = target[key] as Record<string, unknown>));
        target[rest.at(-1)!] = match[2];
      }
      const parsed = parseStackConfig(toRawConfig(config), "qa");
      assert.equal(parsed.smartspace.adminApiUrl, url);
      const workspace = /workspace: +([0-9a-f-]{36}) /.exec(stdout)![1];
      assert.deepEqual(parsed.integrations[0].workspaces, [workspace]);
      assert.match(stdout, /\n {2}export NODE_EXTRA_CA_CERTS=\S+\.pem\n/);
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  });
});
