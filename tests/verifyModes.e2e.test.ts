/**
 * `npm run verify` end to end in each secretless credential mode: the real CLI in child processes, the real
 * @azure/identity credentials (certificate, workload identity, managed identity, client assertion), against
 * one emulated tenant over HTTPS that checks what Entra ID checks, including the failures a user meets.
 * The managed identity endpoint is App Service's, over plain http on 127.0.0.1 as in Azure.
 *
 * The runs are independent, so they all start in `before`, a few at a time (each is a Node process that
 * mostly waits); each test then judges its own run.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "mocha";
import { TOKEN_EXCHANGE_AUDIENCE } from "../rules/federated";
import {
  type ManagedIdentity,
  type OidcIssuer,
  TenantEmulator,
  type TenantEmulatorOptions,
} from "../tools/emulators/tenantEmulator";
import { createEmulatorTls, type EmulatorTls } from "../tools/emulators/tls";
import { type TestCertificate, testCertificate } from "./support/certificates";
import { type CliResult, runScript } from "./support/runScript";

const WORKSPACE = "3f1c2b7a-9d4e-4b8a-a1c3-5e6f7a8b9c0d";
const SUBJECT = "system:serviceaccount:crm:crm-sync";
const OTHER_SUBJECT = "system:serviceaccount:crm:crm-reports";
const CONCURRENT_RUNS = 4;

describe("verify end to end in each credential mode (CLI + real @azure/identity + emulated tenant)", function () {
  this.timeout(60_000);

  const certApp = { clientId: randomUUID(), servicePrincipalObjectId: randomUUID(), roles: ["Integrations"] };
  const fedApp = { clientId: randomUUID(), servicePrincipalObjectId: randomUUID(), roles: ["Integrations"] };
  // The principal ID differs from the client ID, as for every managed identity.
  const principal: ManagedIdentity = {
    clientId: randomUUID(),
    principalId: randomUUID(),
    roles: ["Integrations"],
  };
  const trustedByApp: ManagedIdentity = { clientId: randomUUID(), principalId: randomUUID(), roles: [] };
  const unassigned = randomUUID();
  const expiredIssuedAt = new Date(Date.now() - 3600_000);
  let tls: EmulatorTls;
  let emulator: TenantEmulator;
  let aks: OidcIssuer;
  let registered: TestCertificate;
  let unregistered: TestCertificate;
  let dir: string;
  const results = new Map<string, CliResult>();

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

    const federated = (name: string, token: string) => [
      "--client-id",
      fedApp.clientId,
      "--federated-token-file",
      file(name, token),
    ];
    const runs: Record<string, readonly string[]> = {
      certificate: ["--client-id", certApp.clientId, "--certificate-path", file("agent.pem", registered.pem)],
      unregisteredCertificate: [
        "--client-id",
        certApp.clientId,
        "--certificate-path",
        file("someone-else.pem", unregistered.pem),
      ],
      federated: federated("token", aks.mint({ subject: SUBJECT, audience: TOKEN_EXCHANGE_AUDIENCE })),
      otherSubject: federated(
        "other-subject",
        aks.mint({ subject: OTHER_SUBJECT, audience: TOKEN_EXCHANGE_AUDIENCE }),
      ),
      wrongAudience: [
        ...federated(
          "wrong-audience",
          aks.mint({ subject: SUBJECT, audience: "https://kubernetes.default.svc" }),
        ),
        "--json",
      ],
      expired: federated(
        "expired",
        aks.mint({ subject: SUBJECT, audience: TOKEN_EXCHANGE_AUDIENCE, issuedAt: expiredIssuedAt }),
      ),
      managedIdentity: ["--managed-identity-client-id", principal.clientId],
      trustedManagedIdentity: [
        "--client-id",
        fedApp.clientId,
        "--assertion-managed-identity-client-id",
        trustedByApp.clientId,
      ],
      unassignedIdentity: ["--managed-identity-client-id", unassigned],
      unassignedTrustedIdentity: [
        "--client-id",
        fedApp.clientId,
        "--assertion-managed-identity-client-id",
        unassigned,
      ],
    };
    const queue = Object.entries(runs);
    await Promise.all(
      Array.from({ length: CONCURRENT_RUNS }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          results.set(next[0], await verifyCli(next[1]));
        }
      }),
    );
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

  function verifyCli(args: readonly string[]): Promise<CliResult> {
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
    const common = [
      "--smartspace-app-client-id",
      emulator.smartspaceAppClientId,
      "--chat-api-url",
      emulator.url,
    ];
    return runScript(
      path.join("cli", "verify", "main.ts"),
      ["--tenant-id", emulator.tenantId, ...common, "--workspace", WORKSPACE, ...args],
      env,
    );
  }

  /** The run's result, once checked to hold nothing secret: no key line, no token of any run, no header. */
  function result(name: string): CliResult {
    const run = results.get(name);
    assert.ok(run, `run ${name} did not complete`);
    const output = run.stdout + run.stderr;
    const keyLines = [registered, unregistered].flatMap((c) =>
      c.privateKeyPem.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----")),
    );
    for (const secret of [...keyLines, ...aks.minted, ...emulator.issuedTokens, emulator.identityHeader]) {
      assert.ok(!output.includes(secret), `something secret was printed:\n${output}`);
    }
    return run;
  }

  /** The claims of the tokens the emulator issued to `appId` for `audience`. */
  function issuedTo(appId: string, audience = `api://${emulator.smartspaceAppClientId}`) {
    return emulator.issuedTokens
      .map((token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8")))
      .filter((claims) => claims.appid === appId && claims.aud === audience);
  }

  describe("certificate", () => {
    it("verifies with the PEM Key Vault holds (private key and certificate), exit 0", () => {
      const run = result("certificate");
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, new RegExp(`credential: certificate ${registered.thumbprint} \\(valid until`));
      assert.match(run.stdout, /Response: Hello from Sales\./);
      // Entra ID marks a token gained with a certificate (azpacr 2), not a secret (1).
      assert.deepEqual(
        issuedTo(certApp.clientId).map((claims) => claims.azpacr),
        ["2"],
      );
    });

    it("exits 3 for a certificate not registered on the application, naming its thumbprint", () => {
      const run = result("unregisteredCertificate");
      assert.equal(run.code, 3, run.stdout + run.stderr);
      assert.match(
        run.stderr,
        new RegExp(
          `certificate ${unregistered.thumbprint} is not registered on application ${certApp.clientId} \\(AADSTS700027`,
        ),
      );
      assert.match(run.stderr, /fix: use the PEM of Key Vault's current version/);
    });
  });

  describe("federated token (workload identity)", () => {
    it("exchanges the cluster's token for one with the Integrations role, exit 0", () => {
      const run = result("federated");
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(
        run.stdout,
        new RegExp(`federated token from .* \\(issuer ${aks.issuer}, subject ${SUBJECT}`),
      );
    });

    it("exits 3 for a subject no federated credential names (AADSTS700213), saying which subject it was", () => {
      const run = result("otherSubject");
      assert.equal(run.code, 3, run.stdout + run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`no federated credential matches the subject of .*, ${OTHER_SUBJECT} \\(AADSTS700213`),
      );
      assert.match(run.stderr, /exact and case-sensitive/);
    });

    it("exits 3 for a token meant for another audience (AADSTS700212), as JSON", () => {
      const run = result("wrongAudience");
      assert.equal(run.code, 3, run.stdout + run.stderr);
      const report = JSON.parse(run.stdout);
      assert.equal(report.error.step, "token");
      assert.match(
        report.error.cause,
        /is for audience https:\/\/kubernetes\.default\.svc, not api:\/\/AzureADTokenExchange \(AADSTS700212/,
      );
      assert.match(report.error.fix, /request the token for audience api:\/\/AzureADTokenExchange/);
    });

    it("exits 3 for an expired token (AADSTS700024), with when it expired", () => {
      const run = result("expired");
      assert.equal(run.code, 3, run.stdout + run.stderr);
      const expiry = new Date(expiredIssuedAt.getTime() + 600_000).toISOString().slice(0, 19);
      assert.match(
        run.stderr,
        new RegExp(`is expired or not yet valid \\(it expires ${expiry}.*\\(AADSTS700024`),
      );
      assert.match(run.stderr, /fix: present a fresh token/);
    });

    it("issued the Integrations token to the app's service principal only for the good token", () => {
      assert.deepEqual(
        issuedTo(fedApp.clientId).map((claims) => claims.oid),
        // Once for the cluster's good token, once through the trusted managed identity (below).
        [fedApp.servicePrincipalObjectId, fedApp.servicePrincipalObjectId],
      );
    });
  });

  describe("managed identity", () => {
    it("verifies with the identity itself as the principal (no app registration), exit 0", () => {
      const run = result("managedIdentity");
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, new RegExp(`client ${principal.clientId}, workspace`));
      assert.match(
        run.stdout,
        /managed identity .* through the App Service \/ Functions \/ Container Apps identity endpoint/,
      );
      // The grant and the role belong to the principal (object) ID, not the client ID.
      assert.deepEqual(
        issuedTo(principal.clientId).map((claims) => claims.oid),
        [principal.principalId],
      );
    });

    it("verifies an app that trusts a managed identity, whose token is the client assertion, exit 0", () => {
      const run = result("trustedManagedIdentity");
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(issuedTo(trustedByApp.clientId, TOKEN_EXCHANGE_AUDIENCE).length, 1);
    });

    it("exits 3 for an identity not assigned where verify runs, in App Service's words, in both roles", () => {
      for (const name of ["unassignedIdentity", "unassignedTrustedIdentity"]) {
        const run = result(name);
        assert.equal(run.code, 3, run.stdout + run.stderr);
        assert.match(
          run.stderr,
          new RegExp(
            `no token from managed identity ${unassigned}: it is not assigned to this resource .*"Unable to load the proper Managed Identity\\."`,
          ),
        );
      }
    });
  });
});
