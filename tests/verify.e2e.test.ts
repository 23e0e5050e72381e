/**
 * `npm run verify` end to end: the real CLI, in a child process, with the real @azure/identity, against the
 * emulated tenant over HTTPS (its certificate trusted through NODE_EXTRA_CA_CERTS, its authority selected
 * with AZURE_AUTHORITY_HOST). Workspace access is granted and revoked with the stack's own
 * WorkspaceAccessProvider, so the chain tested is the one a deployment builds.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "mocha";
import {
  WORKSPACE_ACCESS_PROVIDER_VERSION,
  WorkspaceAccessProvider,
  type WorkspaceAccessInputs,
} from "../components/workspaceAccess";
import { type RegisteredClient, TenantEmulator } from "../tools/emulators/tenantEmulator";
import { createEmulatorTls, type EmulatorTls } from "../tools/emulators/tls";
import { type CliResult, ROOT, runScript } from "./support/runScript";

const SECRET_VAR = "E2E_SMARTSPACE_CLIENT_SECRET";
const WORKSPACE = "3f1c2b7a-9d4e-4b8a-a1c3-5e6f7a8b9c0d";
const SLOW_WORKSPACE = "7b2d4f6a-1c3e-4a5b-8d9e-0f1a2b3c4d5e";

type SecretClient = RegisteredClient & { readonly clientSecret: string };

function client(roles: readonly string[]): SecretClient {
  // Shaped like a real Entra secret, but a fresh random value: its absence from the output proves redaction.
  return {
    clientId: randomUUID(),
    clientSecret: `e2e8Q~${randomUUID().replace(/-/g, "")}`.slice(0, 40),
    servicePrincipalObjectId: randomUUID(),
    roles,
  };
}

describe("verify end to end (CLI + real @azure/identity + emulated tenant over HTTPS)", function () {
  this.timeout(20_000);

  const integration = client(["Integrations"]);
  const withoutRole = client([]);
  let tls: EmulatorTls;
  let emulator: TenantEmulator;
  let provider: WorkspaceAccessProvider;
  const savedAdminToken = process.env.SMARTSPACE_ADMIN_TOKEN;

  before(async () => {
    tls = await createEmulatorTls();
    emulator = await TenantEmulator.start({
      tls,
      workspaces: [
        { id: WORKSPACE, name: "Sales" },
        { id: SLOW_WORKSPACE, name: "Research" },
      ],
      clients: [integration, withoutRole],
    });
    // The provider resolves its admin token at call time; the emulator's admin token stands in for the
    // deployer's. This process trusts the emulator's certificate through an agent (Node reads
    // NODE_EXTRA_CA_CERTS only at start-up); the CLI children trust it through NODE_EXTRA_CA_CERTS.
    process.env.SMARTSPACE_ADMIN_TOKEN = emulator.token;
    provider = new WorkspaceAccessProvider({ clientOptions: { agent: emulator.agent() } });
  });

  after(async () => {
    if (savedAdminToken === undefined) {
      delete process.env.SMARTSPACE_ADMIN_TOKEN;
    } else {
      process.env.SMARTSPACE_ADMIN_TOKEN = savedAdminToken;
    }
    await emulator?.close();
    tls?.cleanup();
  });

  async function grantInputs(workspaceId: string, who: RegisteredClient): Promise<WorkspaceAccessInputs> {
    const checked = await provider.check(
      {} as WorkspaceAccessInputs,
      {
        adminApiUrl: emulator.url,
        workspaceId,
        principalId: who.servicePrincipalObjectId,
        displayName: "smartspace-crm-sync-e2e",
        tokenScope: `api://${emulator.smartspaceAppClientId}/.default`,
        providerVersion: WORKSPACE_ACCESS_PROVIDER_VERSION,
      } as WorkspaceAccessInputs,
    );
    assert.deepEqual(checked.failures, []);
    return checked.inputs!;
  }

  async function verifyCli(
    who: SecretClient,
    secret: string,
    workspaceId: string,
    extra: string[] = [],
  ): Promise<CliResult> {
    const args = [
      "--tenant-id",
      emulator.tenantId,
      "--client-id",
      who.clientId,
      "--client-secret-env",
      SECRET_VAR,
      "--smartspace-app-client-id",
      emulator.smartspaceAppClientId,
      "--chat-api-url",
      emulator.url,
      "--workspace",
      workspaceId,
      ...extra,
    ];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      [SECRET_VAR]: secret,
      NODE_EXTRA_CA_CERTS: tls.caFile,
      AZURE_AUTHORITY_HOST: emulator.authorityHost,
    };
    delete env.SMARTSPACE_ADMIN_TOKEN;
    const result = await runScript(path.join("cli", "verify", "main.ts"), args, env);
    // In every case: no secret, and none of the tokens the emulator issued, in either stream.
    const output = result.stdout + result.stderr;
    for (const value of [
      integration.clientSecret,
      withoutRole.clientSecret,
      secret,
      ...emulator.issuedTokens,
    ]) {
      assert.ok(!output.includes(value), `a secret or token was printed:\n${output}`);
    }
    return result;
  }

  it("succeeds once WorkspaceAccessProvider has granted the workspace, printing the thread and output", async () => {
    await provider.create(await grantInputs(WORKSPACE, integration));
    assert.ok(emulator.store.getAccess(WORKSPACE, integration.servicePrincipalObjectId));

    const result = await verifyCli(integration, integration.clientSecret, WORKSPACE, [
      "--message",
      "ping from e2e",
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(emulator.issuedTokens.length, 1);
    const thread = emulator.threads.at(-1)!;
    assert.match(result.stdout, /\[1\/3\] ok {4}token/);
    assert.match(result.stdout, /\[2\/3\] ok {4}role/);
    assert.match(result.stdout, new RegExp(`\\[3/3\\] ok {4}chat: .*thread ${thread.id}`));
    assert.match(result.stdout, /Response: Hello from Sales\. You said: ping from e2e/);
    assert.equal(result.stderr, "");
  });

  it("exits 5 after WorkspaceAccessProvider has revoked the grant", async () => {
    const inputs = await grantInputs(WORKSPACE, integration);
    await provider.delete(`${WORKSPACE}/${integration.servicePrincipalObjectId}`, inputs);
    assert.equal(emulator.store.getAccess(WORKSPACE, integration.servicePrincipalObjectId), undefined);

    const result = await verifyCli(integration, integration.clientSecret, WORKSPACE);
    assert.equal(result.code, 5, result.stdout + result.stderr);
    assert.match(result.stderr, new RegExp(`\\[3/3\\] FAIL  chat: no access to workspace ${WORKSPACE}`));
    assert.match(result.stderr, /check the WorkspaceAccess grant/);
  });

  it("exits 3 for a wrong secret, as JSON when asked", async () => {
    const result = await verifyCli(integration, `${integration.clientSecret}x`, WORKSPACE, ["--json"]);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.exitCode, 3);
    assert.equal(report.error.step, "token");
    assert.match(report.error.cause, /the client secret is wrong or expired \(AADSTS7000215/);
  });

  it("exits 4 for a client that does not hold the Integrations role", async () => {
    const result = await verifyCli(withoutRole, withoutRole.clientSecret, WORKSPACE);
    assert.equal(result.code, 4, result.stdout + result.stderr);
    assert.match(result.stdout, /\[1\/3\] ok {4}token/);
    assert.match(result.stderr, /\[2\/3\] FAIL {2}role: the Integrations app role is not assigned/);
  });

  it("reports a slow flow's thread as still running instead of waiting for it", async () => {
    await provider.create(await grantInputs(SLOW_WORKSPACE, integration));
    emulator.flowDelayMs = 4_000;
    try {
      const result = await verifyCli(integration, integration.clientSecret, SLOW_WORKSPACE, [
        "--timeout",
        "0.5",
      ]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const thread = emulator.threads.at(-1)!;
      assert.equal(thread.workspaceId, SLOW_WORKSPACE);
      assert.match(
        result.stdout,
        new RegExp(`thread ${thread.id} in workspace ${SLOW_WORKSPACE}; the flow is still running`),
      );
    } finally {
      emulator.flowDelayMs = 0;
    }
  });

  it("credits a slow flow with its own thread, not a newer one another run started in the workspace", async () => {
    // Another pipeline's run of verify, on a machine whose clock is a little ahead: by time alone, its
    // thread is the newest in the workspace.
    const foreign = emulator.addThread(
      SLOW_WORKSPACE,
      "Hello from the Smartspace integration check. Please reply briefly. [verify ffffffff]",
      { createdAt: new Date(Date.now() + 5_000) },
    );
    emulator.flowDelayMs = 4_000;
    try {
      const result = await verifyCli(integration, integration.clientSecret, SLOW_WORKSPACE, [
        "--timeout",
        "0.5",
        "--json",
      ]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const report = JSON.parse(result.stdout);
      const own = emulator.threads.at(-1)!;
      assert.notEqual(own.id, foreign.id);
      assert.ok(own.prompt.endsWith(` ${report.target.marker}`), `${own.prompt} / ${report.target.marker}`);
      assert.equal(report.steps[2].details.threadId, own.id);
      assert.ok(!result.stdout.includes(foreign.id));
    } finally {
      emulator.flowDelayMs = 0;
    }
  });

  it("exits 6 rather than claim another run's thread when its own message never reached Smartspace", async () => {
    const foreign = emulator.addThread(SLOW_WORKSPACE, "ping from another run [verify eeeeeeee]");
    const threadsBefore = emulator.threads.length;
    // The gateway gives up before the chat API has seen the message: no thread of this run exists.
    emulator.faults.unavailable({ method: "POST", path: "/messages", status: 504 });
    const result = await verifyCli(integration, integration.clientSecret, SLOW_WORKSPACE);
    assert.equal(result.code, 6, result.stdout + result.stderr);
    assert.equal(emulator.threads.length, threadsBefore);
    assert.match(
      result.stderr,
      /no message thread carrying this run's marker \[verify [0-9a-f]{8}\] appeared/,
    );
    assert.ok(!(result.stdout + result.stderr).includes(foreign.id));
  });

  it("npm run emulator:tenant's script serves a tenant that verify succeeds against, and stops on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "tools", "emulators", "serve-tenant.ts")],
      {
        cwd: ROOT,
        env: { ...process.env, SMARTSPACE_ADMIN_TOKEN: undefined },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      let printed = "";
      child.stdout.on("data", (chunk: Buffer) => (printed += chunk.toString()));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", () => printed.includes("Ctrl-C stops the emulator.") && resolve());
        child.on("exit", (code) => reject(new Error(`the emulator exited (${code}) before it was ready`)));
      });
      const envFile = /^ {2}\. (.+)$/m.exec(printed)![1];
      const exported = Object.fromEntries(
        [...fs.readFileSync(envFile, "utf8").matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]),
      );
      // The printed command line, without the shell's line continuations.
      const command = printed.slice(printed.indexOf("npm run verify -- ")).replace(/\\\n\s*/g, "");
      const args = command.split("\n")[0].replace("npm run verify -- ", "").trim().split(/\s+/);
      const result = await runScript(path.join("cli", "verify", "main.ts"), args, {
        ...process.env,
        ...exported,
        SMARTSPACE_ADMIN_TOKEN: undefined,
      });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /Response: Hello from Sales\./);
      assert.ok(!(result.stdout + result.stderr).includes(exported.SMARTSPACE_CLIENT_SECRET));

      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
      assert.ok(!fs.existsSync(envFile), "the emulator left its certificate and env file behind");
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
      }
    }
  });
});
