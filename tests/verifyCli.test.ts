import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "mocha";
import { ExitCode, Redactor } from "../cli/verify/engine";
import {
  createPulumiRunner,
  type KeyVaultSecret,
  main,
  type PulumiRunner,
  type SecretReader,
} from "../cli/verify/main";
import {
  APP_CLIENT_ID,
  CHAT_API_URL,
  chatReply,
  CLIENT_ID,
  fakeCredentials,
  fakeTransport,
  issuing,
  SECRET,
  Sink,
  TENANT_ID,
  fakeJwt,
  type TokenBehaviour,
  tokenWithRoles,
  WORKSPACE_ID,
} from "./support/verifyFakes";
import { type TestCertificate, testCertificate } from "./support/certificates";

const SECOND_WORKSPACE = "7b2d4f6a-1c3e-4a5b-8d9e-0f1a2b3c4d5e";
const SECRET_URI = "https://kv-dev-abc123.vault.azure.net/secrets/smartspace-crm-sync-client-secret";

/** What `pulumi stack output --json` prints for a deployed stack. */
function stackOutputs(integration: Record<string, unknown> = {}) {
  return {
    keyVaultId:
      "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
    smartspaceAppClientId: APP_CLIENT_ID,
    smartspaceRoleValue: "Integrations",
    integrations: {
      "crm-sync": {
        clientId: CLIENT_ID,
        tenantId: TENANT_ID,
        applicationObjectId: "a0000000-0000-4000-8000-000000000001",
        servicePrincipalObjectId: "a0000000-0000-4000-8000-000000000002",
        displayName: "smartspace-crm-sync-dev",
        workspaces: [WORKSPACE_ID, SECOND_WORKSPACE],
        keyVaultSecretUris: {
          clientId: "https://kv-dev-abc123.vault.azure.net/secrets/smartspace-crm-sync-client-id",
          tenantId: "https://kv-dev-abc123.vault.azure.net/secrets/smartspace-crm-sync-tenant-id",
          clientSecret: SECRET_URI,
        },
        ...integration,
      },
    },
  };
}

/** What `pulumi config --json` prints: structured values as JSON strings plus `objectValue`. */
function stackConfig(smartspace: Record<string, unknown> = {}) {
  const value = { appClientId: APP_CLIENT_ID, chatApiUrl: CHAT_API_URL, ...smartspace };
  return {
    "azure-native:location": { value: "australiaeast", secret: false },
    "smartspace-integration:smartspace": { value: JSON.stringify(value), objectValue: value, secret: false },
    "smartspace-integration:someSecret": { secret: true },
  };
}

interface CliRun {
  argv: string[];
  env?: Record<string, string | undefined>;
  outputs?: unknown;
  config?: unknown;
  pulumiFails?: string;
  readSecret?: SecretReader;
  lookupMs?: number;
  now?: () => number;
  redactor?: Redactor;
  getToken?: TokenBehaviour;
}

async function cli(options: CliRun) {
  const stdout = new Sink();
  const stderr = new Sink();
  const pulumiCalls: (readonly string[])[] = [];
  const runPulumi: PulumiRunner = async (args) => {
    pulumiCalls.push(args);
    if (options.pulumiFails) {
      throw new Error(options.pulumiFails);
    }
    return JSON.stringify(
      args[0] === "stack" ? (options.outputs ?? stackOutputs()) : (options.config ?? stackConfig()),
    );
  };
  const secretReads: string[] = [];
  const readSecret: SecretReader =
    options.readSecret ??
    (async (uri): Promise<KeyVaultSecret> => {
      secretReads.push(uri);
      return { value: SECRET, version: "0123456789abcdef", expiresOn: new Date("2030-01-01T00:00:00Z") };
    });
  const credentials = fakeCredentials(options.getToken ?? issuing(tokenWithRoles(["Integrations"])));
  const http = fakeTransport({ "POST /messages": () => chatReply() });
  const code = await main(options.argv, {
    stdout,
    stderr,
    env: options.env ?? {},
    runPulumi,
    readSecret,
    createCredential: credentials.factory,
    transport: http.transport,
    timeouts: options.lookupMs !== undefined ? { lookupMs: options.lookupMs } : undefined,
    now: options.now,
    redactor: options.redactor,
  });
  const all = stdout.text + stderr.text;
  assert.ok(!all.includes(SECRET), `the secret was printed:\n${all}`);
  return { code, stdout: stdout.text, stderr: stderr.text, pulumiCalls, secretReads, credentials, http };
}

const EXPLICIT = [
  "--tenant-id",
  TENANT_ID,
  "--client-id",
  CLIENT_ID,
  "--client-secret-env",
  "CRM_SECRET",
  "--smartspace-app-client-id",
  APP_CLIENT_ID,
  "--chat-api-url",
  CHAT_API_URL,
  "--workspace",
  WORKSPACE_ID,
];

describe("verify CLI", () => {
  it("prints help with both modes and the exit codes, and exits 0", async () => {
    const result = await cli({ argv: ["--help"] });
    assert.equal(result.code, ExitCode.Ok);
    assert.match(result.stdout, /Usage: verify \[options\]/);
    assert.match(result.stdout, /--stack <stack>/);
    assert.match(result.stdout, /--client-secret-env <VAR>/);
    for (const flag of [
      "--certificate-path <file>",
      "--federated-token-file <file>",
      "--managed-identity-client-id <id>",
      "--assertion-managed-identity-client-id <id>",
    ]) {
      assert.ok(result.stdout.includes(flag), flag);
    }
    assert.match(result.stdout, /Credentials \(exactly one per run\):/);
    assert.match(result.stdout, /5 {2}step 3 failed: 403\/404/);
    assert.doesNotMatch(result.stdout, /--client-secret <value>/);
  });

  it("recommends npm run --silent for JSON, and explains the marker and the timeout's range", async () => {
    const { stdout } = await cli({ argv: ["--help"] });
    // Without --silent, npm prints its "> verify" banner to stdout ahead of the JSON document.
    assert.match(stdout, /npm run --silent verify -- .*--json/);
    assert.match(stdout, /ends with a marker unique to the run, such as \[verify 1a2b3c4d\]/);
    assert.match(stdout, /--timeout <seconds> .*\(more\s+than 0, at most 3600\)/s);
  });

  describe("stack mode", () => {
    it("reads outputs and config through the Pulumi CLI and the secret from Key Vault, then verifies", async () => {
      const result = await cli({ argv: ["--stack", "dev", "--integration", "crm-sync"] });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.deepEqual(result.pulumiCalls, [
        ["stack", "output", "--json", "--stack", "dev"],
        ["config", "--json", "--stack", "dev"],
      ]);
      assert.deepEqual(result.secretReads, [SECRET_URI]);
      const [call] = result.credentials.calls;
      assert.equal(call.clientId, CLIENT_ID);
      assert.equal(call.tenantId, TENANT_ID);
      assert.deepEqual(call.credential.secrets, [SECRET]);
      assert.equal(call.scopes, `api://${APP_CLIENT_ID}/.default`);
      // The first configured workspace, unless one is named.
      assert.equal((result.http.calls[0].body as { workSpaceId: string }).workSpaceId, WORKSPACE_ID);
      assert.match(
        result.stdout,
        /credential: client secret from Key Vault https:\/\/kv-dev-abc123\.vault\.azure\.net\/secrets\/smartspace-crm-sync-client-secret \(version 0123456789abcdef, expires 2030-01-01/,
      );
    });

    it("uses the named workspace and the options that override the stack's values", async () => {
      const result = await cli({
        argv: [
          "--stack",
          "dev",
          "--integration",
          "crm-sync",
          "--workspace",
          SECOND_WORKSPACE,
          "--chat-api-url",
          "https://other-chat.example.com",
        ],
      });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.equal(result.http.calls[0].url, "https://other-chat.example.com/messages");
      assert.equal((result.http.calls[0].body as { workSpaceId: string }).workSpaceId, SECOND_WORKSPACE);
    });

    it("prefers the Smartspace app the stack resolved (deployed) over config, which may name it by display name", async () => {
      for (const smartspace of [
        { appClientId: undefined, appDisplayName: "Smartspace" },
        { appClientId: "12121212-3434-4565-8787-909090909090" },
      ]) {
        const result = await cli({
          argv: ["--stack", "dev", "--integration", "crm-sync"],
          config: stackConfig(smartspace),
        });
        assert.equal(result.code, ExitCode.Ok, result.stderr);
        assert.equal(result.credentials.calls[0].scopes, `api://${APP_CLIENT_ID}/.default`);
      }
    });

    it("falls back to config for the Smartspace app when the stack does not export it", async () => {
      const { smartspaceAppClientId: _omitted, ...outputs } = stackOutputs();
      const result = await cli({ argv: ["--stack", "dev", "--integration", "crm-sync"], outputs });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.equal(result.credentials.calls[0].scopes, `api://${APP_CLIENT_ID}/.default`);
    });

    it("checks for the role value the stack resolved", async () => {
      const outputs = {
        ...stackOutputs(),
        smartspaceRoleValue: "Smartspace.Integrations",
      };
      const result = await cli({ argv: ["--stack", "dev", "--integration", "crm-sync"], outputs });
      assert.equal(result.code, ExitCode.RoleMissing);
      assert.match(result.stderr, /but not "Smartspace\.Integrations", the value asked for\n/);
    });

    it("exits 2 naming the known integrations when the name is wrong", async () => {
      const result = await cli({ argv: ["--stack", "dev", "--integration", "crm"] });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /stack dev has no integration named "crm"/);
      assert.match(result.stderr, /use one of: crm-sync/);
      assert.equal(result.credentials.calls.length, 0);
    });

    it("exits 2 when the integration has no workspaces and none is named", async () => {
      const result = await cli({
        argv: ["--stack", "dev", "--integration", "crm-sync"],
        outputs: stackOutputs({ workspaces: [] }),
      });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /integration crm-sync in stack dev has no workspaces/);
    });

    it("exits 2 when the chat API URL is configured nowhere", async () => {
      const result = await cli({
        argv: ["--stack", "dev", "--integration", "crm-sync"],
        config: {
          "smartspace-integration:smartspace": { value: JSON.stringify({ appClientId: APP_CLIENT_ID }) },
        },
      });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /has no smartspace-integration:smartspace\.chatApiUrl/);
    });

    it("exits 2 with the Pulumi error when the stack cannot be read", async () => {
      const result = await cli({
        argv: ["--stack", "nope", "--integration", "crm-sync"],
        pulumiFails: "error: no stack named 'nope' found",
      });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(
        result.stderr,
        /pulumi stack output --json --stack nope failed: error: no stack named 'nope' found/,
      );
    });

    it("exits 2 and explains the Key Vault role when the secret cannot be read", async () => {
      const result = await cli({
        argv: ["--stack", "dev", "--integration", "crm-sync"],
        readSecret: async () => {
          throw new Error("Caller is not authorized to perform action on resource.\nStatus code: 403");
        },
      });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(
        result.stderr,
        /could not read the client secret from Key Vault \(https:\/\/kv-dev-abc123/,
      );
      assert.match(result.stderr, /Key Vault Secrets User/);
    });

    it("gives up on Key Vault after the look-up timeout, aborting the read, and exits 2", async () => {
      let aborted = false;
      const started = Date.now();
      const result = await cli({
        argv: ["--stack", "dev", "--integration", "crm-sync"],
        lookupMs: 50,
        // A read that never answers (as DefaultAzureCredential can, waiting on a credential source) and
        // ignores its signal except to note it.
        readSecret: (_uri, { abortSignal }) =>
          new Promise(() => abortSignal.addEventListener("abort", () => (aborted = true))),
      });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(
        result.stderr,
        /Key Vault gave no answer within 50 ms when asked for the client secret \(https:\/\/kv-dev-abc123/,
      );
      assert.match(result.stderr, /fix: check network access to kv-dev-abc123\.vault\.azure\.net/);
      assert.ok(aborted, "the Key Vault read was not aborted");
      assert.ok(Date.now() - started < 2000);
      assert.equal(result.credentials.calls.length, 0);
    });

    describe('outputs the CLI prints as "[secret]"', () => {
      const argv = ["--stack", "dev", "--integration", "crm-sync"];

      it("refuses a secret Key Vault URI instead of reading it as one", async () => {
        const result = await cli({
          argv,
          outputs: stackOutputs({
            keyVaultSecretUris: { clientId: "[secret]", tenantId: "[secret]", clientSecret: "[secret]" },
          }),
        });
        assert.equal(result.code, ExitCode.Usage);
        assert.match(
          result.stderr,
          /stack dev output integrations\.crm-sync\.keyVaultSecretUris\.clientSecret is secret: pulumi stack output prints "\[secret\]" instead of the value/,
        );
        assert.match(
          result.stderr,
          /fix: run pulumi up for the stack .*npm run up -- dev.*use the explicit options/,
        );
        assert.deepEqual(result.secretReads, []);
        assert.equal(result.credentials.calls.length, 0);
      });

      it("refuses a wholly secret integrations output instead of saying the integration does not exist", async () => {
        const result = await cli({ argv, outputs: { ...stackOutputs(), integrations: "[secret]" } });
        assert.equal(result.code, ExitCode.Usage);
        assert.match(result.stderr, /stack dev output integrations is secret/);
      });

      it("names every secret output it would use, and the options that replace them", async () => {
        const result = await cli({
          argv,
          outputs: {
            ...stackOutputs({ workspaces: ["[secret]"] }),
            smartspaceAppClientId: "[secret]",
          },
        });
        assert.equal(result.code, ExitCode.Usage);
        assert.match(
          result.stderr,
          /output integrations\.crm-sync\.workspaces, smartspaceAppClientId are secret/,
        );
        assert.match(result.stderr, /until then, pass --workspace and --smartspace-app-client-id/);
      });

      it("does not mind secret outputs it does not use", async () => {
        const result = await cli({
          argv: [...argv, "--smartspace-app-client-id", APP_CLIENT_ID, "--workspace", WORKSPACE_ID],
          outputs: {
            ...stackOutputs({ workspaces: "[secret]", applicationObjectId: "[secret]" }),
            smartspaceAppClientId: "[secret]",
            keyVaultId: "[secret]",
          },
        });
        assert.equal(result.code, ExitCode.Ok, result.stderr);
      });

      it("refuses secret Smartspace config when it needs it, rather than calling it missing", async () => {
        const result = await cli({
          argv,
          config: { "smartspace-integration:smartspace": { secret: true } },
        });
        assert.equal(result.code, ExitCode.Usage);
        assert.match(result.stderr, /smartspace-integration:smartspace config is secret/);
      });
    });

    it("refuses explicit identity options alongside --stack", async () => {
      const result = await cli({
        argv: ["--stack", "dev", "--integration", "crm-sync", "--client-id", CLIENT_ID],
      });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /--client-id cannot be combined with --stack/);
      assert.equal(result.pulumiCalls.length, 0);
    });
  });

  describe("explicit mode", () => {
    it("reads the secret from the named environment variable and verifies", async () => {
      const result = await cli({
        argv: [...EXPLICIT, "--message", "hello there"],
        env: { CRM_SECRET: SECRET },
      });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.deepEqual(result.credentials.calls[0].credential.secrets, [SECRET]);
      const [prompt] = (
        result.http.calls[0].body as { inputs: { name: string; value: { text: string }[] }[] }
      ).inputs;
      assert.equal(prompt.name, "prompt");
      assert.match(prompt.value[0].text, /^hello there \[verify [0-9a-f]{8}\]$/);
      assert.equal(result.pulumiCalls.length, 0);
    });

    it("exits 2 when the variable is not set", async () => {
      const result = await cli({ argv: EXPLICIT, env: {} });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /environment variable CRM_SECRET \(from --client-secret-env\) is not set/);
    });

    it("names every missing option", async () => {
      const result = await cli({ argv: ["--tenant-id", TENANT_ID, "--client-id", CLIENT_ID] });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /missing --smartspace-app-client-id, --chat-api-url, --workspace/);
    });

    it("refuses a secret on the command line without repeating it", async () => {
      // A secret of no recognisable shape, so only knowing the value can keep it out of the output.
      const plain = "hunter2-plain-secret";
      for (const argv of [
        [...EXPLICIT, "--client-secret", plain],
        [...EXPLICIT, `--client-secret=${plain}`],
        ["--json", `--client-secret=${plain}`],
      ]) {
        const result = await cli({ argv, env: { CRM_SECRET: SECRET } });
        assert.equal(result.code, ExitCode.Usage);
        assert.match(result.stdout + result.stderr, /--client-secret is not accepted/);
        assert.ok(!(result.stdout + result.stderr).includes(plain));
        assert.equal(result.credentials.calls.length, 0);
      }
    });

    it("does not repeat a secret given where the variable name belongs", async () => {
      const plain = "hunter2-plain.secret";
      const argv = [...EXPLICIT];
      argv[argv.indexOf("CRM_SECRET")] = plain;
      const result = await cli({ argv });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /--client-secret-env takes the NAME of an environment variable/);
      assert.ok(!result.stderr.includes(plain));
    });

    it("exits 2 for a timeout that is not a number of seconds more than 0 and at most 3600", async () => {
      for (const value of ["soon", "0", "-1", "3601"]) {
        const result = await cli({ argv: [...EXPLICIT, "--timeout", value], env: { CRM_SECRET: SECRET } });
        assert.equal(result.code, ExitCode.Usage, value);
        assert.match(
          result.stderr,
          new RegExp(`--timeout "${value}" is not a number of seconds more than 0 and at most 3600`),
        );
        assert.match(
          result.stderr,
          /fix: give the bound on the chat request in seconds: more than 0, at most 3600/,
        );
        assert.equal(result.credentials.calls.length, 0);
      }
    });

    it("accepts any timeout the message allows, fractions and the bounds included", async () => {
      for (const value of ["0.5", "1", "3600"]) {
        const result = await cli({ argv: [...EXPLICIT, "--timeout", value], env: { CRM_SECRET: SECRET } });
        assert.equal(result.code, ExitCode.Ok, `${value}: ${result.stderr}`);
      }
    });
  });

  describe("a bug (an unexpected error)", () => {
    const plain = "hunter2-plain-secret";
    const crashingClock = () => {
      throw new Error(`clock failed while holding ${plain}`);
    };

    it("exits 6 with the error, redacted with the secret the run had learned", async () => {
      const redactor = new Redactor();
      const result = await cli({ argv: EXPLICIT, env: { CRM_SECRET: plain }, now: crashingClock, redactor });
      assert.equal(result.code, ExitCode.Other);
      assert.match(result.stderr, /unexpected error: Error: clock failed while holding \[REDACTED\]/);
      assert.match(result.stderr, /this is a bug in the verify command/);
      assert.ok(!result.stderr.includes(plain));
      // The caller's redactor knows the secret too, for anything printed after main() returns or throws.
      assert.equal(redactor.redact(plain), "[REDACTED]");
    });

    it("reports it as JSON in JSON mode", async () => {
      const result = await cli({
        argv: [...EXPLICIT, "--json"],
        env: { CRM_SECRET: plain },
        now: crashingClock,
      });
      assert.equal(result.code, ExitCode.Other);
      const report = JSON.parse(result.stdout);
      assert.equal(report.exitCode, 6);
      assert.equal(report.error.step, "internal");
      assert.match(report.error.cause, /clock failed while holding \[REDACTED\]/);
      assert.ok(!result.stdout.includes(plain));
    });
  });

  describe("--json", () => {
    it("reports parse errors as JSON with exit code 2", async () => {
      const result = await cli({ argv: ["--json", "--bogus"] });
      assert.equal(result.code, ExitCode.Usage);
      assert.equal(result.stderr, "");
      const report = JSON.parse(result.stdout);
      assert.equal(report.exitCode, 2);
      assert.equal(report.error.step, "usage");
      assert.match(report.error.cause, /unknown option '--bogus'/);
    });

    it("reports a full stack-mode run as one JSON document", async () => {
      const result = await cli({ argv: ["--stack", "dev", "--integration", "crm-sync", "--json"] });
      assert.equal(result.code, ExitCode.Ok);
      const report = JSON.parse(result.stdout);
      assert.equal(report.ok, true);
      assert.equal(report.target.clientId, CLIENT_ID);
      assert.match(report.target.source, /stack dev, integration crm-sync/);
    });
  });
});

describe("verify CLI: credential modes", () => {
  const VAULT = "https://kv-dev-abc123.vault.azure.net";
  const CERT_SECRET_URI = `${VAULT}/secrets/smartspace-onprem-agent-client-cert`;
  const MI_CLIENT_ID = "c1c1c1c1-0000-4000-8000-000000000001";
  const MI_PRINCIPAL_ID = "d2d2d2d2-0000-4000-8000-000000000002";
  const GITHUB = "https://token.actions.githubusercontent.com";
  let certificate: TestCertificate;
  let other: TestCertificate;
  let dir: string;

  before(async () => {
    [certificate, other] = await Promise.all([
      testCertificate("verify-cli"),
      testCertificate("verify-cli-other"),
    ]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-cli-modes-"));
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function write(name: string, content: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content, { mode: 0o600 });
    return file;
  }

  /** The private key's lines: none may be printed. */
  const keyLines = (c: TestCertificate) =>
    c.privateKeyPem.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----"));

  function assertNoKey(result: { stdout: string; stderr: string }, c: TestCertificate = certificate) {
    for (const line of keyLines(c)) {
      assert.ok(!(result.stdout + result.stderr).includes(line), "a line of the private key was printed");
    }
  }

  /**
   * Outputs of a stack whose crm-sync integration uses `credential`: no client secret, but the client and
   * tenant ID secrets a type with readers keeps.
   */
  function outputsWith(credential: Record<string, unknown>) {
    const outputs = stackOutputs(credential);
    const integration = outputs.integrations["crm-sync"] as Record<string, unknown>;
    const { clientSecret: _none, ...kept } = integration.keyVaultSecretUris as Record<string, string>;
    integration.keyVaultSecretUris = kept;
    return outputs;
  }

  const certificateOutputs = (thumbprints: Record<string, string> = { current: certificate.thumbprint }) =>
    outputsWith({
      credentialType: "certificate",
      certificate: {
        name: "smartspace-crm-sync-client-cert",
        certificateUri: `${VAULT}/certificates/smartspace-crm-sync-client-cert`,
        secretUri: CERT_SECRET_URI,
        thumbprints,
        expiresOn: "2030-01-01T00:00:00Z",
        nextRotationOn: "2029-10-03T00:00:00Z",
      },
    });

  const federatedOutputs = () =>
    outputsWith({
      credentialType: "federated",
      federatedCredentials: {
        "github-contoso-crm-environment-prod": {
          issuer: GITHUB,
          subject: "repo:contoso/crm:environment:prod",
          audience: "api://AzureADTokenExchange",
        },
      },
    });

  const stack = ["--stack", "dev", "--integration", "crm-sync"];

  describe("stack mode picks the credential from credentialType", () => {
    it("secret, and stacks deployed before credentialType existed: the client secret from Key Vault", async () => {
      for (const outputs of [stackOutputs(), stackOutputs({ credentialType: "secret" })]) {
        const result = await cli({ argv: stack, outputs });
        assert.equal(result.code, ExitCode.Ok, result.stderr);
        assert.equal(result.credentials.calls[0].credential.kind, "secret");
        assert.deepEqual(result.secretReads, [SECRET_URI]);
      }
    });

    it("certificate: reads the PEM from Key Vault's versionless secret, and never prints its key", async () => {
      const reads: string[] = [];
      const redactor = new Redactor();
      const result = await cli({
        argv: stack,
        outputs: certificateOutputs(),
        redactor,
        readSecret: async (uri) => {
          reads.push(uri);
          return { value: certificate.pem, version: "v2", contentType: "application/x-pem-file" };
        },
      });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.deepEqual(reads, [CERT_SECRET_URI]);
      const [call] = result.credentials.calls;
      assert.equal(call.credential.kind, "certificate");
      assert.equal(call.clientId, CLIENT_ID);
      assert.match(
        result.stdout,
        new RegExp(
          `credential: certificate ${certificate.thumbprint} \\(valid until .*\\) from Key Vault ${CERT_SECRET_URI} \\(version v2\\)\\n`,
        ),
      );
      assertNoKey(result);
      // The caller's redactor knows the key too, for anything printed after main() returns.
      assert.equal(redactor.redact(keyLines(certificate)[3]), "[REDACTED]");
    });

    it("certificate: says so when Key Vault's version is not one the application holds", async () => {
      const result = await cli({
        argv: stack,
        outputs: certificateOutputs({ current: other.thumbprint }),
        readSecret: async () => ({ value: certificate.pem, contentType: "application/x-pem-file" }),
      });
      assert.match(
        result.stdout,
        new RegExp(`not one of the stack's registered thumbprints ${other.thumbprint}`),
      );
    });

    it("certificate: a PEM file the runner holds replaces Key Vault", async () => {
      const result = await cli({
        argv: [...stack, "--certificate-path", write("agent.pem", certificate.pem)],
        outputs: certificateOutputs(),
        readSecret: async () => assert.fail("Key Vault was read"),
      });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.equal(result.credentials.calls[0].credential.kind, "certificate");
    });

    it("certificate: exits 2 when Key Vault holds it as PKCS#12 or refuses to hand it out", async () => {
      const pfx = await cli({
        argv: stack,
        outputs: certificateOutputs(),
        readSecret: async () => ({
          value: "MIIKYQIBAzCCCh0GCSqGSIb3DQEHAaCCCg4Egg",
          contentType: "application/x-pkcs12",
        }),
      });
      assert.equal(pfx.code, ExitCode.Usage);
      assert.match(pfx.stderr, /holds the certificate as application\/x-pkcs12, not as a PEM file/);
      const denied = await cli({
        argv: stack,
        outputs: certificateOutputs(),
        readSecret: async () => {
          throw new Error("Caller is not authorized to perform action on resource.\nStatus code: 403");
        },
      });
      assert.equal(denied.code, ExitCode.Usage);
      assert.match(denied.stderr, /could not read the certificate from Key Vault \(https:\/\/kv-dev-abc123/);
      assert.match(denied.stderr, /Key Vault Secrets User/);
    });

    it("federated: exits 2 without the external token, naming what the app trusts and how to pass it", async () => {
      const result = await cli({ argv: stack, outputs: federatedOutputs() });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(
        result.stderr,
        /integration crm-sync in stack dev is federated: verify needs the external token/,
      );
      assert.match(
        result.stderr,
        /the app trusts issuer https:\/\/token\.actions\.githubusercontent\.com, subject repo:contoso\/crm:environment:prod/,
      );
      assert.match(result.stderr, /--federated-token-file <file> or set AZURE_FEDERATED_TOKEN_FILE/);
      assert.equal(result.credentials.calls.length, 0);
    });

    it("federated: takes the token file from AZURE_FEDERATED_TOKEN_FILE, as in an AKS pod, and never prints it", async () => {
      const token = fakeJwt({
        iss: GITHUB,
        sub: "repo:contoso/crm:environment:prod",
        aud: "api://AzureADTokenExchange",
        exp: 1893456000,
      });
      const file = write("oidc-token", `${token}\n`);
      const result = await cli({
        argv: stack,
        outputs: federatedOutputs(),
        env: { AZURE_FEDERATED_TOKEN_FILE: file },
      });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.equal(result.credentials.calls[0].credential.kind, "federated");
      assert.match(
        result.stdout,
        /federated token from .*oidc-token \(issuer https:\/\/token\.actions\.githubusercontent\.com, subject repo:contoso\/crm:environment:prod, audience api:\/\/AzureADTokenExchange, expires 2030-01-01T00:00:00\.000Z\)/,
      );
      assert.ok(!(result.stdout + result.stderr).includes(token.split(".")[1]));
    });

    it("federated: explains a refused subject with the subjects the stack trusts for that issuer", async () => {
      const token = fakeJwt({
        iss: GITHUB,
        sub: "repo:contoso/crm:ref:refs/heads/main",
        aud: "api://AzureADTokenExchange",
      });
      const result = await cli({
        argv: [...stack, "--federated-token-file", write("branch-token", token)],
        outputs: federatedOutputs(),
        getToken: async () => {
          throw new Error(
            "WorkloadIdentityCredential authentication failed: AADSTS700213: No matching federated identity record found for presented assertion subject 'repo:contoso/crm:ref:refs/heads/main'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. Trace ID: 1",
          );
        },
      });
      assert.equal(result.code, ExitCode.Authentication);
      assert.match(
        result.stderr,
        /no federated credential matches the subject of .*, repo:contoso\/crm:ref:refs\/heads\/main \(AADSTS700213/,
      );
      assert.match(
        result.stderr,
        /fix: the app trusts issuer https:\/\/token\.actions\.githubusercontent\.com, subject repo:contoso\/crm:environment:prod; matching is exact/,
      );
    });

    it("federated: a managed identity the app trusts can supply the assertion", async () => {
      const result = await cli({
        argv: [...stack, "--assertion-managed-identity-client-id", MI_CLIENT_ID],
        outputs: federatedOutputs(),
      });
      assert.equal(result.code, ExitCode.Ok, result.stderr);
      assert.equal(result.credentials.calls[0].credential.kind, "managedIdentityAssertion");
      assert.equal(result.credentials.calls[0].clientId, CLIENT_ID);
    });

    it("managedIdentity: authenticates as the identity the stack names, and says how long its tokens live", async () => {
      const outputs = outputsWith({
        credentialType: "managedIdentity",
        clientId: MI_CLIENT_ID,
        servicePrincipalObjectId: MI_PRINCIPAL_ID,
        applicationObjectId: undefined,
        managedIdentity: { clientId: MI_CLIENT_ID, principalId: MI_PRINCIPAL_ID },
      });
      const result = await cli({
        argv: stack,
        outputs,
        readSecret: async () => assert.fail("Key Vault was read"),
        getToken: issuing(tokenWithRoles(undefined)),
      });
      assert.equal(result.code, ExitCode.RoleMissing);
      const [call] = result.credentials.calls;
      assert.equal(call.credential.kind, "managedIdentity");
      assert.equal(call.clientId, MI_CLIENT_ID);
      assert.match(result.stderr, /caches managed identity tokens for up to 24 hours/);
    });

    it("refuses a credential flag that does not fit the integration's credentialType", async () => {
      const certificatePath = await cli({
        argv: [...stack, "--certificate-path", write("unfit.pem", certificate.pem)],
      });
      assert.equal(certificatePath.code, ExitCode.Usage);
      assert.match(
        certificatePath.stderr,
        /--certificate-path does not fit integration crm-sync in stack dev: its credentialType is secret/,
      );
      assert.match(certificatePath.stderr, /fix: drop --certificate-path, or use --client-secret-env/);
      assert.deepEqual(certificatePath.secretReads, []);
    });

    it("refuses a credentialType it does not know instead of guessing", async () => {
      const result = await cli({ argv: stack, outputs: stackOutputs({ credentialType: "passkey" }) });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /has credentialType "passkey", which this version of verify does not know/);
    });

    it('refuses a certificate URI the CLI prints as "[secret]"', async () => {
      const outputs = certificateOutputs();
      const integration = outputs.integrations["crm-sync"] as Record<string, unknown>;
      integration.certificate = { ...(integration.certificate as object), secretUri: "[secret]" };
      const result = await cli({ argv: stack, outputs });
      assert.equal(result.code, ExitCode.Usage);
      assert.match(result.stderr, /output integrations\.crm-sync\.certificate\.secretUri is secret/);
    });
  });

  describe("explicit mode takes exactly one credential", () => {
    // EXPLICIT without its --client-id and --client-secret-env.
    const base = [...EXPLICIT.slice(0, 2), ...EXPLICIT.slice(6)];

    it("exits 2 naming the credential flags when none is given, or when two are", async () => {
      const none = await cli({ argv: [...base, "--client-id", CLIENT_ID] });
      assert.equal(none.code, ExitCode.Usage);
      assert.match(none.stderr, /no credential given/);
      assert.match(
        none.stderr,
        /--client-secret-env, --certificate-path, --federated-token-file, --managed-identity-client-id, --assertion-managed-identity-client-id/,
      );
      const two = await cli({
        argv: [
          ...base,
          "--client-id",
          CLIENT_ID,
          "--client-secret-env",
          "CRM_SECRET",
          "--certificate-path",
          write("two.pem", certificate.pem),
        ],
        env: { CRM_SECRET: SECRET },
      });
      assert.equal(two.code, ExitCode.Usage);
      assert.match(two.stderr, /give one credential per run, not --client-secret-env and --certificate-path/);
      assert.equal(two.credentials.calls.length, 0);
    });

    it("takes a managed identity's client ID as the client ID, and refuses another --client-id", async () => {
      const alone = await cli({ argv: [...base, "--managed-identity-client-id", MI_CLIENT_ID] });
      assert.equal(alone.code, ExitCode.Ok, alone.stderr);
      assert.equal(alone.credentials.calls[0].clientId, MI_CLIENT_ID);
      const clash = await cli({
        argv: [...base, "--managed-identity-client-id", MI_CLIENT_ID, "--client-id", CLIENT_ID],
      });
      assert.equal(clash.code, ExitCode.Usage);
      assert.match(
        clash.stderr,
        /--client-id 11111111-2222-4333-8444-555555555555 differs from --managed-identity-client-id/,
      );
    });

    it("exits 2 for a PEM without its key, with another certificate's key, or missing, never printing a key", async () => {
      const cases: [string, RegExp][] = [
        [write("cert-only.pem", certificate.certificatePem), /it holds no private key/],
        [
          write("mixed.pem", `${other.privateKeyPem}${certificate.certificatePem}`),
          /its private key does not belong to its \(first\) certificate/,
        ],
        [path.join(dir, "absent.pem"), /could not read --certificate-path .*absent\.pem/],
      ];
      for (const [file, message] of cases) {
        const result = await cli({ argv: [...base, "--client-id", CLIENT_ID, "--certificate-path", file] });
        assert.equal(result.code, ExitCode.Usage, file);
        assert.match(result.stderr, message);
        assertNoKey(result, other);
      }
    });

    it("redacts the private key and the external token from a crash report", async () => {
      const line = keyLines(certificate)[5];
      const token = fakeJwt({ iss: GITHUB, sub: "s", aud: "api://AzureADTokenExchange" });
      const leaky = (secret: string) => () => {
        throw new Error(`clock failed while holding ${secret}`);
      };
      for (const [flag, file, secret] of [
        ["--certificate-path", write("crash.pem", certificate.pem), line],
        ["--federated-token-file", write("crash-token", token), token],
      ] as const) {
        const result = await cli({
          argv: [...base, "--client-id", CLIENT_ID, flag, file],
          now: leaky(secret),
        });
        assert.equal(result.code, ExitCode.Other);
        assert.match(result.stderr, /clock failed while holding \[REDACTED\]/);
        assert.ok(!result.stderr.includes(secret));
      }
    });

    it("exits 2 for a token file that holds no JWT, or a managed identity ID that is no GUID", async () => {
      const notJwt = await cli({
        argv: [...base, "--client-id", CLIENT_ID, "--federated-token-file", write("junk", "not a token")],
      });
      assert.equal(notJwt.code, ExitCode.Usage);
      assert.match(notJwt.stderr, /does not hold a JWT/);
      const notGuid = await cli({
        argv: [...base, "--client-id", CLIENT_ID, "--assertion-managed-identity-client-id", "my-identity"],
      });
      assert.equal(notGuid.code, ExitCode.Usage);
      assert.match(notGuid.stderr, /--assertion-managed-identity-client-id "my-identity" is not a client ID/);
    });
  });
});

describe("the Pulumi CLI runner", function () {
  // Each case starts a node process.
  this.timeout(10_000);
  let dir: string;
  let script: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-pulumi-runner-"));
    // Stands in for pulumi/run.js: behaviour chosen by the first argument it is given after the CLI's.
    script = path.join(dir, "fake-pulumi.js");
    fs.writeFileSync(
      script,
      `const args = process.argv.slice(2);
if (process.env.FAKE_PULUMI === "fail") {
  process.stderr.write("Downloading the Pulumi CLI...\\nerror: no stack named 'nope' found\\n");
  process.exit(255);
} else if (process.env.FAKE_PULUMI === "hang") {
  setInterval(() => {}, 1000);
} else {
  process.stdout.write(JSON.stringify({ args, backend: process.env.PULUMI_BACKEND_URL, cwd: process.cwd() }));
}
`,
    );
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const env = (extra: Record<string, string>) => ({ PATH: process.env.PATH, ...extra });

  it("runs the CLI's launcher with node (no .cmd shim), non-interactively, on the project's backend", async () => {
    const run = createPulumiRunner({ script, env: env({}) });
    const printed = JSON.parse(await run(["stack", "output", "--json", "--stack", "dev"]));
    assert.deepEqual(printed.args, ["stack", "output", "--json", "--stack", "dev", "--non-interactive"]);
    const root = path.resolve(__dirname, "..");
    assert.equal(printed.backend, pathToFileURL(path.join(root, ".pulumi-state")).href);
    assert.equal(fs.realpathSync(printed.cwd), fs.realpathSync(root));
  });

  it("keeps a backend named by PULUMI_BACKEND_URL", async () => {
    const run = createPulumiRunner({ script, env: env({ PULUMI_BACKEND_URL: "azblob://state" }) });
    assert.equal(JSON.parse(await run(["config", "--json"])).backend, "azblob://state");
  });

  it("rejects with the CLI's last stderr line when it fails", async () => {
    const run = createPulumiRunner({ script, env: env({ FAKE_PULUMI: "fail" }) });
    await assert.rejects(run(["stack", "output"]), { message: "error: no stack named 'nope' found" });
  });

  it("gives up at its time limit", async () => {
    const started = Date.now();
    const run = createPulumiRunner({ script, env: env({ FAKE_PULUMI: "hang" }), timeoutMs: 300 });
    await assert.rejects(run(["stack", "output"]), {
      message: "the Pulumi CLI gave no answer within 300 ms",
    });
    assert.ok(Date.now() - started < 5000);
  });
});
