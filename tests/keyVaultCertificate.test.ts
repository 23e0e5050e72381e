/**
 * The KeyVaultCertificate dynamic resource: its provider's checks and diffs, its CRUD against the Key Vault
 * emulator through the real `@azure/keyvault-certificates` client, the failures a deployer meets, and the
 * shim in Pulumi's real provider host.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { KEYVAULT_TIME_SCALE_ENV, KEYVAULT_TOKEN_ENV } from "../clients/keyVaultCertificates";
import {
  KEY_VAULT_CERTIFICATE_PROVIDER_VERSION,
  KeyVaultCertificate,
  type KeyVaultCertificateInputs,
  type KeyVaultCertificateOutputs,
  KeyVaultCertificateProvider,
} from "../components/keyVaultCertificate";
import { providerSources } from "../components/dynamicProvider";
import * as providers from "../providers/index";
import { KeyVaultEmulator } from "../tools/emulators/keyVaultEmulator";
import { HostileServer } from "./support/hostileServer";
import { everythingVisible } from "./support/httpHelpers";
import { serializedShim, startProviderHost } from "./support/providerHost";

const NAME = "smartspace-crm-sync-client-cert";
const UNKNOWN = pulumi.runtime.unknownValue as string;
const FAST = { pollIntervalMs: 5, retryDelayMs: 5, maxRetryDelayMs: 20, timeoutMs: 5_000 };
const URN =
  "urn:pulumi:test::smartspace-integration::pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate::v";

function inputs(overrides: Partial<KeyVaultCertificateInputs> = {}): KeyVaultCertificateInputs {
  return {
    vaultUrl: "https://kv-ss-dev-x1y2z.vault.azure.net/",
    certificateName: NAME,
    slot: "a",
    generation: "10",
    rotationDays: 90,
    subject: "CN=smartspace-crm-sync",
    validityInMonths: 7,
    keySize: 2048,
    tags: { "smartspace-integration": "crm-sync" },
    providerVersion: KEY_VAULT_CERTIFICATE_PROVIDER_VERSION,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail("expected the call to fail");
}

describe("KeyVaultCertificateProvider.check and diff", () => {
  const provider = new KeyVaultCertificateProvider();

  it("normalizes the vault URL and reports one failure per bad property", async () => {
    const ok = await provider.check(
      inputs(),
      inputs({ vaultUrl: "https://KV-SS-DEV-X1Y2Z.vault.azure.net" }),
    );
    assert.deepEqual(ok.failures, []);
    assert.equal(ok.inputs?.vaultUrl, "https://kv-ss-dev-x1y2z.vault.azure.net/");
    const unknown = await provider.check(inputs(), inputs({ vaultUrl: UNKNOWN }));
    assert.deepEqual(unknown.failures, [], "values unknown in preview pass");

    const bad = await provider.check(
      inputs(),
      inputs({
        vaultUrl: "http://kv.vault.azure.net/secrets",
        certificateName: "smartspace_crm",
        slot: "c" as "a",
        generation: "ten",
        rotationDays: 365,
        subject: "smartspace",
        validityInMonths: 0,
        keySize: 1024,
      }),
    );
    assert.deepEqual(
      bad.failures?.map((f) => f.property),
      [
        "vaultUrl",
        "certificateName",
        "slot",
        "generation",
        "rotationDays",
        "subject",
        "validityInMonths",
        "keySize",
      ],
    );
  });

  it("replaces for another generation or policy, updates for tags, and repairs a disabled version", async () => {
    const olds = { ...inputs(), version: "v1", enabled: true } as unknown as KeyVaultCertificateOutputs;
    assert.deepEqual(await provider.diff("id", olds, inputs()), {
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
    const rotated = await provider.diff("id", olds, inputs({ generation: "12" }));
    assert.deepEqual(rotated.replaces, ["generation"]);
    const period = await provider.diff("id", olds, inputs({ rotationDays: 91 }));
    assert.deepEqual(period.replaces, ["rotationDays"], "generation 10 of 91 days is another certificate");
    assert.equal(
      rotated.deleteBeforeReplace,
      false,
      "the new version is issued before the old one is disabled",
    );
    const spelled = await provider.diff(
      "id",
      olds,
      inputs({ vaultUrl: "https://kv-ss-dev-x1y2z.vault.azure.net/" }),
    );
    assert.equal(spelled.changes, false);
    const tagged = await provider.diff("id", olds, inputs({ tags: { owner: "crm" } }));
    assert.deepEqual([tagged.changes, tagged.replaces], [true, []]);
    const disabled = await provider.diff("id", { ...olds, enabled: false }, inputs());
    assert.deepEqual([disabled.changes, disabled.replaces], [true, []]);
  });

  it("is exported by providers/index.ts under the kind its shim asks for, beside WorkspaceAccess", () => {
    assert.ok(providers.keyVaultCertificate instanceof KeyVaultCertificateProvider);
    assert.ok(providers.workspaceAccess, "existing kinds stay");
    const sources = providerSources("providers/keyVaultCertificate.ts");
    for (const file of [
      "clients/keyVaultCertificates.ts",
      "rules/certificates.ts",
      "components/dynamicProvider.ts",
    ]) {
      assert.ok(sources.includes(file), `${file} is part of the provider version`);
    }
  });
});

describe("KeyVaultCertificateProvider against the Key Vault emulator", () => {
  let emulator: KeyVaultEmulator;
  let provider: KeyVaultCertificateProvider;
  const env = () => ({ [KEYVAULT_TOKEN_ENV]: emulator.token });

  before(async () => {
    emulator = await KeyVaultEmulator.start({ createPolls: 2 });
    provider = new KeyVaultCertificateProvider({
      clientOptions: { agent: emulator.agent(), env: env(), timings: FAST },
    });
  });
  after(() => emulator.close());

  it("issues versions in Key Vault, the last one latest, and reads back only public material", async function () {
    this.timeout(20_000);
    const { outs: previous } = await provider.create(
      inputs({ vaultUrl: emulator.url, slot: "b", generation: "9" }),
    );
    const created = await provider.create(inputs({ vaultUrl: emulator.url }));
    const current = created.outs!;
    const certificate = emulator.certificates.get(NAME)!;
    assert.equal(certificate.versions.length, 2);
    assert.equal(certificate.versions.at(-1)?.version, current.version, "the current slot's is the latest");
    assert.equal(created.id, `${emulator.url}certificates/${NAME}/${current.version}`);
    assert.equal(current.certificateUri, `${emulator.url}certificates/${NAME}`);
    assert.equal(current.secretUri, `${emulator.url}secrets/${NAME}`);

    const x509 = new X509Certificate(Buffer.from(current.cer, "base64"));
    assert.equal(current.thumbprint, x509.fingerprint.replace(/:/g, ""), "SHA-1, upper-case hex");
    assert.notEqual(current.thumbprint, previous!.thumbprint, "a new key pair per version");
    assert.equal(x509.subject, "CN=smartspace-crm-sync");
    assert.ok(Date.parse(current.expiresOn) - Date.parse(current.notBefore) > 200 * 86_400_000);
    assert.equal(current.enabled, true);

    // The policy every version is issued under: key generated in Key Vault, new each time, no AutoRenew.
    assert.deepEqual(certificate.policy.key_props, {
      exportable: true,
      kty: "RSA",
      key_size: 2048,
      reuse_key: false,
    });
    assert.deepEqual(certificate.policy.secret_props, { contentType: "application/x-pem-file" });
    assert.deepEqual(certificate.policy.x509_props.ekus, ["1.3.6.1.5.5.7.3.2"]);
    assert.deepEqual(certificate.policy.lifetime_actions, [
      { trigger: { lifetime_percentage: 95 }, action: { action_type: "EmailContacts" } },
    ]);
    assert.deepEqual(certificate.versions.at(-1)?.tags, {
      "smartspace-integration": "crm-sync",
      "managed-by": "pulumi",
      "rotation-slot": "a",
      "rotation-generation": "10",
      "rotation-days": "90",
    });

    // The private key never left Key Vault: nothing read the secret, nothing returned holds a key.
    assert.ok(
      !emulator.requests.some((request) => request.includes("/secrets/")),
      emulator.requests.join("\n"),
    );
    assert.doesNotMatch(JSON.stringify([previous, current]), /PRIVATE KEY/);
    assert.ok(
      emulator.requests.includes(`GET /certificates/${NAME}/pending`),
      "the long-running create was polled",
    );
  });

  it("takes over a version an earlier run issued but never recorded, instead of issuing another", async () => {
    const again = await provider.create(inputs({ vaultUrl: emulator.url }));
    assert.equal(emulator.certificates.get(NAME)?.versions.length, 2);
    assert.equal(again.outs?.version, emulator.certificates.get(NAME)?.versions.at(-1)?.version);
  });

  it("never takes over a version of another rotation period with the same generation number", async function () {
    this.timeout(10_000);
    const other = await provider.create(inputs({ vaultUrl: emulator.url, certificateName: "period-cert" }));
    const changed = await provider.create(
      inputs({ vaultUrl: emulator.url, certificateName: "period-cert", rotationDays: 91 }),
    );
    assert.notEqual(changed.outs?.version, other.outs?.version);
    assert.equal(emulator.certificates.get("period-cert")?.versions.length, 2);
  });

  it("notices a version disabled by hand, enables it again, and applies tags", async () => {
    const version = emulator.certificates.get(NAME)!.versions[1];
    version.enabled = false;
    const state = {
      ...inputs({ vaultUrl: emulator.url }),
      version: version.version,
    } as KeyVaultCertificateOutputs;
    const read = await provider.read(`${emulator.url}certificates/${NAME}/${version.version}`, state);
    assert.equal(read.props?.enabled, false);
    const diff = await provider.diff("id", read.props!, inputs({ vaultUrl: emulator.url }));
    assert.equal(diff.changes, true);
    const updated = await provider.update(
      "id",
      read.props!,
      inputs({ vaultUrl: emulator.url, tags: { owner: "crm" } }),
    );
    assert.equal(updated.outs?.enabled, true);
    assert.equal(version.enabled, true);
    assert.equal(version.tags.owner, "crm");
    assert.equal(version.tags["rotation-generation"], "10", "the provider's own tags stay");
  });

  it("disables a replaced version, deletes the certificate with the last one, and refresh notices", async function () {
    this.timeout(20_000);
    const certificate = emulator.certificates.get(NAME)!;
    const [older, newer] = certificate.versions;
    const state = (slot: "a" | "b", generation: string, version: string) =>
      ({ ...inputs({ vaultUrl: emulator.url, slot, generation }), version }) as KeyVaultCertificateOutputs;

    await provider.delete("id", state("b", "9", older.version));
    assert.equal(older.enabled, false, "Key Vault cannot delete one version: it is disabled");
    assert.equal(certificate.deleted, undefined, "the other slot still uses the certificate");

    await provider.delete("id", state("a", "10", newer.version));
    assert.ok(certificate.deleted, "soft-deleted with its last version");
    assert.ok(emulator.requests.includes(`GET /deletedcertificates/${NAME}`), "waited for the deletion");
    assert.deepEqual(await provider.read("id", state("a", "10", newer.version)), {}, "refresh drops it");

    // A second delete (a retried destroy) finds nothing and succeeds.
    await provider.delete("id", state("a", "10", newer.version));
  });

  it("says how to recover when the vault still keeps a deleted certificate of that name", async () => {
    const error = await failure(provider.create(inputs({ vaultUrl: emulator.url, generation: "12" })));
    assert.match(
      error.message,
      /Key Vault POST https:\/\/127\.0\.0\.1:\d+\/certificates\/smartspace-crm-sync-client-cert\/create failed with 409 ObjectIsDeletedButRecoverable/,
    );
    assert.match(
      error.message,
      /az keyvault certificate recover --vault-name <vault> --name smartspace-crm-sync-client-cert/,
    );
  });

  it("refuses to add versions to a certificate the stack did not create", async () => {
    await provider.create(inputs({ vaultUrl: emulator.url, certificateName: "foreign-cert" }));
    emulator.certificates.get("foreign-cert")!.versions[0].tags = { owner: "someone" };
    const error = await failure(
      provider.create(inputs({ vaultUrl: emulator.url, certificateName: "foreign-cert", generation: "11" })),
    );
    assert.match(error.message, /already exists .* and was not created by this stack/);
    assert.equal(emulator.certificates.get("foreign-cert")?.versions.length, 1);
  });

  it("names the data-plane role a forbidden deployer lacks, and never shows a token", async () => {
    const forbidden = await KeyVaultEmulator.start({ forbiddenTokens: ["not-an-officer-token-0123456789"] });
    try {
      const denied = new KeyVaultCertificateProvider({
        clientOptions: {
          agent: forbidden.agent(),
          env: { [KEYVAULT_TOKEN_ENV]: "not-an-officer-token-0123456789" },
          timings: FAST,
        },
      });
      const error = await failure(denied.create(inputs({ vaultUrl: forbidden.url })));
      assert.match(error.message, /failed with 403 ForbiddenByRbac/);
      assert.match(error.message, /needs the Key Vault Certificates Officer role/);
      assert.ok(!everythingVisible(error).includes("not-an-officer-token-0123456789"));
    } finally {
      await forbidden.close();
    }
  });

  it("never sends a real Azure token to a loopback vault, and never follows a redirect", async () => {
    const noToken = new KeyVaultCertificateProvider({
      clientOptions: { agent: emulator.agent(), env: {}, timings: FAST },
    });
    const error = await failure(
      noToken.create(inputs({ vaultUrl: emulator.url, certificateName: "other-cert" })),
    );
    assert.match(error.message, /is a local emulator: set SMARTSPACE_KEYVAULT_TOKEN to its token/);

    const hostile = await HostileServer.start();
    try {
      hostile.handler = (_request, response) =>
        response.writeHead(302, { location: `${emulator.url}certificates/${NAME}` }).end();
      const redirected = new KeyVaultCertificateProvider({
        clientOptions: { agent: hostile.agent, env: env(), timings: FAST },
      });
      const state = {
        ...inputs({ vaultUrl: `${hostile.url}/` }),
        version: "v",
      } as KeyVaultCertificateOutputs;
      const redirect = await failure(redirected.read("id", state));
      assert.match(
        redirect.message,
        /failed with 302: answered 302 redirecting to https:\/\/127\.0\.0\.1:\d+\/certificates\/smartspace-crm-sync-client-cert, which is not followed/,
      );
      assert.equal(hostile.requests.length, 1);
    } finally {
      await hostile.close();
    }
  });
});

describe("KeyVaultCertificate in state: the shim and its host", () => {
  it("registers the dynamic resource type with no credential among its inputs", async () => {
    let registered: pulumi.runtime.MockResourceArgs | undefined;
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          registered = args;
          return { id: "v", state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "smartspace-integration",
      "test",
      false,
    );
    const version = new KeyVaultCertificate("v", {
      vaultUrl: "https://kv-ss-dev-x1y2z.vault.azure.net/",
      certificateName: NAME,
      slot: "a",
      generation: 10,
      rotationDays: 90,
      subject: "CN=smartspace-crm-sync",
      validityInMonths: 7,
    });
    await new Promise<void>((resolve) => version.id.apply(() => resolve()));
    assert.equal(registered?.type, "pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate");
    const { __provider, ...rest } = registered!.inputs;
    assert.equal(typeof __provider, "string");
    assert.deepEqual(rest, {
      vaultUrl: "https://kv-ss-dev-x1y2z.vault.azure.net/",
      certificateName: NAME,
      slot: "a",
      generation: "10",
      rotationDays: 90,
      subject: "CN=smartspace-crm-sync",
      validityInMonths: 7,
      keySize: 2048,
      tags: {},
      providerVersion: KEY_VAULT_CERTIFICATE_PROVIDER_VERSION,
    });
  });

  it("runs check, create, read, diff, update and delete in Pulumi's real provider host", async function () {
    this.timeout(40_000);
    const TOKEN = "kv-env-token-that-must-not-be-serialized-42";
    const serialized = serializedShim({ [KEYVAULT_TOKEN_ENV]: TOKEN }, "KeyVaultCertificate");
    assert.ok(Buffer.byteLength(serialized) <= 2048, "the shim stored in state stays small");
    assert.ok(!serialized.includes(TOKEN) && !serialized.includes("KeyVaultCertificatesClient"));
    const emulator = await KeyVaultEmulator.start();
    const host = await startProviderHost({
      [KEYVAULT_TOKEN_ENV]: emulator.token,
      [KEYVAULT_TIME_SCALE_ENV]: "0.1",
      NODE_EXTRA_CA_CERTS: emulator.tls.caFile,
    });
    try {
      const props = { ...inputs({ vaultUrl: emulator.url.slice(0, -1) }), __provider: serialized };
      const checked = await host.call("check", (r) => {
        r.setUrn(URN);
        r.setOlds(host.struct({}));
        r.setNews(host.struct(props));
      });
      assert.equal(checked.getFailuresList().length, 0);
      const news = checked.getInputs().toJavaScript();
      assert.equal(news.vaultUrl, emulator.url, "check normalized the URL in the host");

      const created = await host.call("create", (r) => r.setProperties(host.struct(news)));
      const id = created.getId();
      const state = created.getProperties().toJavaScript();
      assert.equal(state.__provider, serialized, "the host stores the shim with the outputs");
      assert.equal(id, `${emulator.url}certificates/${NAME}/${state.version}`);
      assert.match(state.thumbprint, /^[0-9A-F]{40}$/);

      const rotated = { ...news, generation: "12" };
      const diff = await host.call("diff", (r) => {
        r.setId(id);
        r.setUrn(URN);
        r.setOlds(host.struct(state));
        r.setNews(host.struct(rotated));
      });
      assert.deepEqual(diff.getReplacesList(), ["generation"]);
      await host.call("update", (r) => {
        r.setId(id);
        r.setUrn(URN);
        r.setOlds(host.struct(state));
        r.setNews(host.struct({ ...news, tags: { owner: "crm" } }));
      });
      assert.equal(emulator.certificates.get(NAME)?.versions[0].tags.owner, "crm");

      emulator.deleteOutOfBand(NAME);
      const gone = await host.call("read", (r) => {
        r.setId(id);
        r.setProperties(host.struct(state));
      });
      assert.equal(gone.getId(), "", "refresh notices the deleted certificate");
      await host.call("delete", (r) => {
        r.setId(id);
        r.setProperties(host.struct(state));
      });
      assert.ok(!host.output().includes(emulator.token));
    } finally {
      await host.stop();
      await emulator.close();
    }
  });
});
