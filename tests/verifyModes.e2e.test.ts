/**
 * `npm run verify` end to end in each secretless credential mode: the real CLI in a child process, the real
 * @azure/identity credentials (certificate, workload identity, managed identity, client assertion), against
 * one emulated tenant over HTTPS that checks what Entra ID checks, including the failures a user meets.
 * The managed identity endpoint is App Service's, over plain http on 127.0.0.1 as in Azure.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "mocha";
import {
  type ManagedIdentity,
  type OidcIssuer,
  TenantEmulator,
  type TenantEmulatorOptions,
  TOKEN_EXCHANGE_AUDIENCE,
} from "../tools/emulators/tenantEmulator";
import { createEmulatorTls, type EmulatorTls } from "../tools/emulators/tls";
import { type TestCertificate, testCertificate } from "./support/certificates";
import { type CliResult, runScript } from "./support/runScript";

const WORKSPACE = "3f1c2b7a-9d4e-4b8a-a1c3-5e6f7a8b9c0d";
const SUBJECT = "system:serviceaccount:crm:crm-sync";

describe("verify end to end in each credential mode (CLI + real @azure/identity + emulated tenant)", function () {
  this.timeout(20_000);

  const certApp = { clientId: randomUUID(), servicePrincipalObjectId: randomUUID(), roles: ["Integrations"] };
  const fedApp = { clientId: randomUUID(), servicePrincipalObjectId: randomUUID(), roles: ["Integrations"] };
  // The principal ID differs from the client ID, as for every managed identity.
  const principal: ManagedIdentity = {
    clientId: randomUUID(),
    principalId: randomUUID(),
    roles: ["Integrations"],
  };
  const trustedByApp: ManagedIdentity = { clientId: randomUUID(), principalId: randomUUID(), roles: [] };
  let tls: EmulatorTls;
  let emulator: TenantEmulator;
  let aks: OidcIssuer;
  let registered: TestCertificate;
  let unregistered: TestCertificate;
  let dir: string;

  before(async () => {
    [tls, registered, unregistered] = await Promise.all([
      createEmulatorTls(),
      testCertificate("onprem-agent"),
      testCertificate("someone-else"),
    ]);
    const options: TenantEmulatorOptions = {
      tls,
      workspaces: [{ id: WORKSPACE, name: "Sales" }],
      clients: [{ ...certApp, certificates: [registered.certificatePem] }],
      managedIdentities: [principal, trustedByApp],
    };
    emulator = await TenantEmulator.start(options);
    aks = emulator.addIssuer("aks-prod", { trailingSlash: true });
    emulator.registerClient({
      ...fedApp,
      displayName: "smartspace-ci-bot-dev",
      federatedCredentials: [
        { issuer: aks.issuer, subject: SUBJECT, audiences: [TOKEN_EXCHANGE_AUDIENCE] },
        { issuer: emulator.issuer, subject: trustedByApp.principalId, audiences: [TOKEN_EXCHANGE_AUDIENCE] },
      ],
    });
    for (const principalId of [
      certApp.servicePrincipalObjectId,
      fedApp.servicePrincipalObjectId,
      principal.principalId,
    ]) {
      emulator.store.putAccess(WORKSPACE, {
        principalId,
        principalType: "ServicePrincipal",
        displayName: "e2e",
      });
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-modes-"));
  });

  after(async () => {
    await emulator?.close();
    tls?.cleanup();
    if (dir) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  function file(name: string, content: string): string {
    const target = path.join(dir, name);
    fs.writeFileSync(target, content, { mode: 0o600 });
    return target;
  }

  /** Runs the CLI and checks that nothing secret reached either stream, whatever the outcome. */
  async function verifyCli(args: readonly string[]): Promise<CliResult> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_EXTRA_CA_CERTS: tls.caFile,
      AZURE_AUTHORITY_HOST: emulator.authorityHost,
      IDENTITY_ENDPOINT: emulator.identityEndpoint,
      IDENTITY_HEADER: emulator.identityHeader,
    };
    for (const name of [
      "AZURE_FEDERATED_TOKEN_FILE",
      "AZURE_TENANT_ID",
      "AZURE_CLIENT_ID",
      "SMARTSPACE_ADMIN_TOKEN",
    ]) {
      delete env[name];
    }
    const result = await runScript(
      path.join("cli", "verify", "main.ts"),
      [
        "--tenant-id",
        emulator.tenantId,
        "--smartspace-app-client-id",
        emulator.smartspaceAppClientId,
        "--chat-api-url",
        emulator.url,
        "--workspace",
        WORKSPACE,
        ...args,
      ],
      env,
    );
    const output = result.stdout + result.stderr;
    const keyLines = [registered, unregistered].flatMap((c) =>
      c.privateKeyPem.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----")),
    );
    for (const secret of [...keyLines, ...aks.minted, ...emulator.issuedTokens, emulator.identityHeader]) {
      assert.ok(!output.includes(secret), `something secret was printed:\n${output}`);
    }
    return result;
  }

  const lastToken = () =>
    JSON.parse(Buffer.from(emulator.issuedTokens.at(-1)!.split(".")[1], "base64url").toString("utf8"));

  describe("certificate", () => {
    it("verifies with the PEM Key Vault holds (private key and certificate), exit 0", async () => {
      const pem = file("onprem-agent.pem", registered.pem);
      const result = await verifyCli(["--client-id", certApp.clientId, "--certificate-path", pem]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(
        result.stdout,
        new RegExp(`credential: certificate ${registered.thumbprint} \\(valid until`),
      );
      assert.match(result.stdout, /Response: Hello from Sales\./);
      // Entra ID marks a token gained with a certificate (azpacr 2), not a secret (1).
      assert.equal(lastToken().appid, certApp.clientId);
      assert.equal(lastToken().azpacr, "2");
    });

    it("exits 3 for a certificate not registered on the application, naming its thumbprint", async () => {
      const pem = file("someone-else.pem", unregistered.pem);
      const result = await verifyCli(["--client-id", certApp.clientId, "--certificate-path", pem]);
      assert.equal(result.code, 3, result.stdout + result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `certificate ${unregistered.thumbprint} is not registered on application ${certApp.clientId} \\(AADSTS700027`,
        ),
      );
      assert.match(result.stderr, /fix: use the PEM of Key Vault's current version/);
    });
  });

  describe("federated token (workload identity)", () => {
    const federated = (token: string, extra: string[] = []) =>
      verifyCli([
        "--client-id",
        fedApp.clientId,
        "--federated-token-file",
        file(`token-${randomUUID()}`, token),
        ...extra,
      ]);

    it("exchanges the cluster's token for one with the Integrations role, exit 0", async () => {
      const result = await federated(aks.mint({ subject: SUBJECT, audience: TOKEN_EXCHANGE_AUDIENCE }));
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(
        result.stdout,
        new RegExp(`federated token from .* \\(issuer ${aks.issuer}, subject ${SUBJECT}`),
      );
      assert.equal(lastToken().oid, fedApp.servicePrincipalObjectId);
    });

    it("exits 3 for a subject no federated credential names (AADSTS700213), saying which subject it was", async () => {
      const other = "system:serviceaccount:crm:crm-reports";
      const result = await federated(aks.mint({ subject: other, audience: TOKEN_EXCHANGE_AUDIENCE }));
      assert.equal(result.code, 3, result.stdout + result.stderr);
      assert.match(
        result.stderr,
        new RegExp(`no federated credential matches the subject of .*, ${other} \\(AADSTS700213`),
      );
      assert.match(result.stderr, /exact and case-sensitive/);
    });

    it("exits 3 for a token meant for another audience (AADSTS700212), as JSON", async () => {
      const result = await federated(
        aks.mint({ subject: SUBJECT, audience: "https://kubernetes.default.svc" }),
        ["--json"],
      );
      assert.equal(result.code, 3, result.stdout + result.stderr);
      const report = JSON.parse(result.stdout);
      assert.equal(report.error.step, "token");
      assert.match(
        report.error.cause,
        /is for audience https:\/\/kubernetes\.default\.svc, not api:\/\/AzureADTokenExchange \(AADSTS700212/,
      );
      assert.match(report.error.fix, /request the token for audience api:\/\/AzureADTokenExchange/);
    });

    it("exits 3 for an expired token (AADSTS700024), with when it expired", async () => {
      const issuedAt = new Date(Date.now() - 3600_000);
      const result = await federated(
        aks.mint({ subject: SUBJECT, audience: TOKEN_EXCHANGE_AUDIENCE, issuedAt }),
      );
      assert.equal(result.code, 3, result.stdout + result.stderr);
      const expiry = new Date(issuedAt.getTime() + 600_000).toISOString().slice(0, 19);
      assert.match(
        result.stderr,
        new RegExp(`is expired or not yet valid \\(it expires ${expiry}.*\\(AADSTS700024`),
      );
      assert.match(result.stderr, /fix: present a fresh token/);
    });
  });

  describe("managed identity", () => {
    it("verifies with the identity itself as the principal (no app registration), exit 0", async () => {
      const result = await verifyCli(["--managed-identity-client-id", principal.clientId]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, new RegExp(`client ${principal.clientId}, workspace`));
      assert.match(
        result.stdout,
        /managed identity .* through the App Service \/ Functions \/ Container Apps identity endpoint/,
      );
      // The grant and the role belong to the principal (object) ID, not the client ID.
      assert.equal(lastToken().oid, principal.principalId);
    });

    it("verifies an app that trusts a managed identity, whose token is the client assertion, exit 0", async () => {
      const result = await verifyCli([
        "--client-id",
        fedApp.clientId,
        "--assertion-managed-identity-client-id",
        trustedByApp.clientId,
      ]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(lastToken().appid, fedApp.clientId);
      const [assertion] = emulator.issuedTokens.slice(-2);
      assert.equal(
        JSON.parse(Buffer.from(assertion.split(".")[1], "base64url").toString()).aud,
        TOKEN_EXCHANGE_AUDIENCE,
      );
    });

    it("exits 3 for an identity not assigned where verify runs, in App Service's words, in both roles", async () => {
      const unassigned = randomUUID();
      for (const args of [
        ["--managed-identity-client-id", unassigned],
        ["--client-id", fedApp.clientId, "--assertion-managed-identity-client-id", unassigned],
      ]) {
        const result = await verifyCli(args);
        assert.equal(result.code, 3, result.stdout + result.stderr);
        assert.match(
          result.stderr,
          new RegExp(
            `no token from managed identity ${unassigned}: it is not assigned to this resource .*"Unable to load the proper Managed Identity\\."`,
          ),
        );
      }
    });
  });
});
