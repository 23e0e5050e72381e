/**
 * `npm run verify` end to end: the real CLI, in a child process, with the real @azure/identity, against the
 * emulated tenant over HTTPS (its certificate trusted through NODE_EXTRA_CA_CERTS, its authority selected
 * with AZURE_AUTHORITY_HOST). Workspace access is granted and revoked with the stack's own
 * WorkspaceAccessProvider, so the chain tested is the one a deployment builds.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { after, before, describe, it } from "mocha";
import { WorkspaceAccessProvider, type WorkspaceAccessInputs } from "../components/workspaceAccess";
import {
  createEmulatorTls,
  type EmulatorTls,
  type RegisteredClient,
  TenantEmulator,
} from "./support/tenantEmulator";

const ROOT = path.resolve(__dirname, "..");
const SECRET_VAR = "E2E_SMARTSPACE_CLIENT_SECRET";
const WORKSPACE = "3f1c2b7a-9d4e-4b8a-a1c3-5e6f7a8b9c0d";
const SLOW_WORKSPACE = "7b2d4f6a-1c3e-4a5b-8d9e-0f1a2b3c4d5e";

function client(roles: readonly string[]): RegisteredClient {
  // Shaped like a real Entra secret, but a fresh random value: its absence from the output proves redaction.
  return {
    clientId: randomUUID(),
    clientSecret: `e2e8Q~${randomUUID().replace(/-/g, "")}`.slice(0, 40),
    servicePrincipalObjectId: randomUUID(),
    roles,
  };
}

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe("verify end to end (CLI + real @azure/identity + emulated tenant over HTTPS)", function () {
  this.timeout(20_000);

  const integration = client(["Integrations"]);
  const withoutRole = client([]);
  let tls: EmulatorTls;
  let emulator: TenantEmulator;
  const provider = new WorkspaceAccessProvider();
  const savedAdminToken = process.env.SMARTSPACE_ADMIN_TOKEN;

  before(async () => {
    tls = await createEmulatorTls();
    emulator = await TenantEmulator.start({
      tls,
      plainHttp: true,
      workspaces: [
        { id: WORKSPACE, name: "Sales" },
        { id: SLOW_WORKSPACE, name: "Research" },
      ],
      clients: [integration, withoutRole],
    });
    // The provider resolves its admin token at call time; the emulator's admin token stands in for the
    // deployer's. It talks to the admin API over loopback HTTP because this process cannot trust a
    // certificate generated after it started; the CLI children trust it through NODE_EXTRA_CA_CERTS.
    process.env.SMARTSPACE_ADMIN_TOKEN = emulator.token;
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
        adminApiUrl: emulator.httpUrl!,
        workspaceId,
        principalId: who.servicePrincipalObjectId,
        displayName: "smartspace-crm-sync-e2e",
        tokenScope: `api://${emulator.smartspaceAppClientId}/.default`,
      } as WorkspaceAccessInputs,
    );
    assert.deepEqual(checked.failures, []);
    return checked.inputs!;
  }

  async function verifyCli(
    who: RegisteredClient,
    secret: string,
    workspaceId: string,
    extra: string[] = [],
  ): Promise<CliResult> {
    const args = [
      "--import",
      "tsx",
      path.join(ROOT, "scripts", "verify.ts"),
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
    const result = await new Promise<CliResult>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
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
});
