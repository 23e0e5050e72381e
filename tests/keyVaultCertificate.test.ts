/**
 * The KeyVaultCertificate dynamic resource: its provider's checks and diffs, its CRUD against the Key Vault
 * emulator through the real `@azure/keyvault-certificates` client, the failures a deployer meets, and the
 * shim in Pulumi's real provider host.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as https from "node:https";
import * as pulumi from "@pulumi/pulumi";
import {
  KEYVAULT_TIME_SCALE_ENV,
  KEYVAULT_TOKEN_ENV,
  KeyVaultCertificatesClient,
} from "../clients/keyVaultCertificates";
import {
  KEY_VAULT_CERTIFICATE_PROVIDER_VERSION,
  KeyVaultCertificate,
  type KeyVaultCertificateInputs,
  type KeyVaultCertificateOutputs,
  KeyVaultCertificateProvider,
} from "../components/keyVaultCertificate";
import { versionChanges } from "../providers/keyVaultCertificate";
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

/**
 * What a consumer gets from the versionless URIs: the certificate's `cer`, and the certificate in the secret's
 * PEM (which also holds the key), as base64 DER.
 */
async function served(
  emulator: KeyVaultEmulator,
  name: string,
): Promise<{ certificate: string; secret: string }> {
  const get = (path: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      https
        .get(
          `${emulator.url}${path}?api-version=7.6`,
          { agent: emulator.agent(), headers: { authorization: `Bearer ${emulator.token}` } },
          (response) => {
            let body = "";
            response.on("data", (chunk: Buffer) => (body += chunk.toString()));
            response.on("end", () =>
              response.statusCode === 200
                ? resolve(JSON.parse(body) as Record<string, unknown>)
                : reject(new Error(`GET ${path}: ${response.statusCode} ${body}`)),
            );
          },
        )
        .on("error", reject);
    });
  const pem = String((await get(`secrets/${name}`)).value);
  const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  assert.ok(block, "the secret holds the certificate");
  return {
    certificate: String((await get(`certificates/${name}`)).cer),
    secret: new X509Certificate(block[0]).raw.toString("base64"),
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

  it("re-issues the current slot's version when the one it follows is, and never a version deployed before", async () => {
    const previousId = (version: string) =>
      `https://kv-ss-dev-x1y2z.vault.azure.net/certificates/${NAME}/${version}`;
    const current = (issuedAfter?: string) => inputs({ issuedAfter });
    const olds = (issuedAfter?: string, latest = true) =>
      ({ ...current(issuedAfter), version: "v1", enabled: true, latest }) as KeyVaultCertificateOutputs;
    const diff = async (old: KeyVaultCertificateOutputs, news: KeyVaultCertificateInputs) => {
      const result = await provider.diff("id", old, news);
      return [result.changes, result.replaces];
    };
    const p1 = previousId("0123456789abcdef0123456789abcdef");
    const p2 = previousId("fedcba9876543210fedcba9876543210");
    // Deployed before issuedAfter existed: recorded by an update, never a new key (unless Key Vault says the
    // version it follows came later: below, against the emulator).
    assert.deepEqual(versionChanges(olds(), current(p1)), { replaces: [], updates: ["issuedAfter"] });
    assert.deepEqual(await diff(olds(p1), current(p1)), [false, []]);
    // The previous slot's version is being re-issued (preview: its ID is unknown), or was (up).
    assert.deepEqual(await diff(olds(p1), current(UNKNOWN)), [true, ["issuedAfter"]]);
    assert.deepEqual(await diff(olds(), current(UNKNOWN)), [true, ["issuedAfter"]]);
    assert.deepEqual(await diff(olds(p1), current(p2)), [true, ["issuedAfter"]]);
    // Now the previous slot's version: it follows nothing, and need not be the latest.
    assert.deepEqual(await diff(olds(p1, false), current()), [false, []]);
    // The current slot's version that Key Vault no longer serves.
    assert.deepEqual(await diff(olds(p1, false), current(p1)), [true, ["latest"]]);

    const checked = await provider.check(inputs(), current(p1.replace(NAME, "other-cert")));
    assert.deepEqual(
      checked.failures?.map((f) => f.property),
      ["issuedAfter"],
    );
    assert.deepEqual((await provider.check(inputs(), current(UNKNOWN))).failures, []);
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
    // Key Vault records when each version was created, in seconds: a second passes between requests here.
    let clock = Date.now();
    emulator = await KeyVaultEmulator.start({ createPolls: 2, now: () => (clock += 1_000) });
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

  it("issues a new key when a create is retried after a lost answer, and leaves no enabled duplicate once deleted", async function () {
    this.timeout(20_000);
    const retried = inputs({ vaultUrl: emulator.url, certificateName: "retry-cert" });
    // Key Vault issued the first version, but its answer never reached the engine, which recorded nothing.
    const lost = (await provider.create(retried)).outs!;
    const kept = (await provider.create(retried)).outs!;
    assert.notEqual(
      kept.version,
      lost.version,
      "a create cannot tell a lost create's version from a replaced one",
    );
    assert.notEqual(kept.thumbprint, lost.thumbprint);
    await provider.delete("id", kept);
    const certificate = emulator.certificates.get("retry-cert")!;
    assert.deepEqual(
      certificate.versions.map((version) => version.enabled),
      [false, false],
      "the lost create's version goes with the resource's own",
    );
    assert.ok(certificate.deleted, "nothing else used the certificate");
  });

  it("never disables a version issued after its own: the replacement's, for the same slot and generation", async function () {
    this.timeout(20_000);
    const own = (await provider.create(inputs({ vaultUrl: emulator.url, certificateName: "replace-cert" })))
      .outs!;
    // What `pulumi up --replace` issues before it deletes the old resource: a version with the same tags.
    const client = new KeyVaultCertificatesClient({
      vaultUrl: emulator.url,
      agent: emulator.agent(),
      env: env(),
      timings: FAST,
    });
    const replacement = await client.createVersion(
      "replace-cert",
      {
        subject: own.subject,
        validityInMonths: 7,
        keySize: 2048,
        contentType: "application/x-pem-file",
        enhancedKeyUsage: [],
        expiryNoticeLifetimePercentage: 95,
      },
      emulator.certificates.get("replace-cert")!.versions[0].tags,
    );
    await provider.delete("id", own);
    const versions = emulator.certificates.get("replace-cert")!.versions;
    assert.deepEqual(
      versions.map((version) => [version.version, version.enabled]),
      [
        [own.version, false],
        [replacement.version, true],
      ],
    );
    assert.equal(emulator.certificates.get("replace-cert")!.deleted, undefined, "the replacement uses it");
    assert.equal((await served(emulator, "replace-cert")).certificate, replacement.cer);
  });

  it("disables what a failed replacement left behind once its slot moves on, so the last delete removes the certificate", async function () {
    this.timeout(20_000);
    const at = (overrides: Partial<KeyVaultCertificateInputs>) =>
      inputs({ vaultUrl: emulator.url, certificateName: "leftover-cert", ...overrides });
    const previous = (await provider.create(at({ slot: "b", generation: "9" }))).outs!;
    const current = (await provider.create(at({ issuedAfter: previous.certificateId }))).outs!;
    // `pulumi up --replace` of the previous version issued one, then failed before recording it.
    await provider.create(at({ slot: "b", generation: "9" }));
    // The next period: slot b gets generation 11, and the version it held is deleted; the leftover is newer.
    const next = (
      await provider.create(at({ slot: "b", generation: "11", issuedAfter: current.certificateId }))
    ).outs!;
    await provider.delete("id", previous);
    const enabled = () => emulator.certificates.get("leftover-cert")!.versions.map((v) => v.enabled);
    assert.deepEqual(
      enabled(),
      [false, true, true, true],
      "a version issued after it might be a replacement",
    );
    // The integration is removed: generation 9 of slot b can only be a leftover once generation 11 is deleted.
    await provider.delete("id", current);
    await provider.delete("id", next);
    assert.deepEqual(enabled(), [false, false, false, false]);
    assert.ok(emulator.certificates.get("leftover-cert")!.deleted, "nothing enabled is left behind");
  });

  it("re-issues a current version deployed before issuedAfter only if the one it follows came later", async function () {
    this.timeout(20_000);
    const at = (overrides: Partial<KeyVaultCertificateInputs>) =>
      inputs({ vaultUrl: emulator.url, certificateName: "upgrade-cert", ...overrides });
    // Issued in this order by the code before issuedAfter: the current version names nothing in state.
    const previous = await provider.create(at({ slot: "b", generation: "9" }));
    const current = (await provider.create(at({}))).outs!;
    assert.deepEqual((await provider.diff("id", current, at({ issuedAfter: previous.id }))).replaces, []);
    // The first `pulumi up --replace` of the previous version after the upgrade: its new ID is known at apply.
    const reissued = await provider.create(at({ slot: "b", generation: "9" }));
    assert.deepEqual((await provider.diff("id", current, at({ issuedAfter: reissued.id }))).replaces, [
      "issuedAfter",
    ]);
  });

  it("notices on refresh when Key Vault no longer serves the current slot's version, and re-issues it", async function () {
    this.timeout(20_000);
    const name = "latest-cert";
    const previous = await provider.create(
      inputs({ vaultUrl: emulator.url, certificateName: name, slot: "b", generation: "9" }),
    );
    const declared = inputs({ vaultUrl: emulator.url, certificateName: name, issuedAfter: previous.id });
    const current = (await provider.create(declared)).outs!;
    assert.equal(current.latest, true);
    // A version issued after it by a run that failed before recording it (or by hand): consumers load that one.
    await provider.create(
      inputs({ vaultUrl: emulator.url, certificateName: name, slot: "b", generation: "9" }),
    );
    const refreshed = await provider.read(current.certificateId, current);
    assert.equal(refreshed.props?.latest, false);
    assert.deepEqual((await provider.diff("id", refreshed.props!, declared)).replaces, ["latest"]);
    const previousRefreshed = await provider.read(previous.id, previous.outs!);
    assert.deepEqual(
      (
        await provider.diff(
          "id",
          previousRefreshed.props!,
          inputs({ vaultUrl: emulator.url, certificateName: name, slot: "b", generation: "9" }),
        )
      ).replaces,
      [],
      "only the current slot's version must be the latest",
    );
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
  // What a `pulumi up` stores, serialized while the deployer's environment holds a Key Vault token.
  const TOKEN = "kv-env-token-that-must-not-be-serialized-42";
  let serialized: string;
  before(function () {
    this.timeout(20_000);
    serialized = serializedShim({ [KEYVAULT_TOKEN_ENV]: TOKEN }, "KeyVaultCertificate");
  });

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

  it("answers pulumi up --replace of either slot's version with a new key, served, the old one disabled", async function () {
    this.timeout(40_000);
    const emulator = await KeyVaultEmulator.start();
    const host = await startProviderHost({
      [KEYVAULT_TOKEN_ENV]: emulator.token,
      [KEYVAULT_TIME_SCALE_ENV]: "0.1",
      NODE_EXTRA_CA_CERTS: emulator.tls.caFile,
    });
    const enabled = () =>
      Object.fromEntries(emulator.certificates.get(NAME)!.versions.map((v) => [v.version, v.enabled]));
    try {
      // What the engine does for a create (check, create) and for a replacement (check, create, then at the
      // end of the update delete of the old one), as pulumi/pulumi's step generator orders them.
      const create = async (news: object, olds: object = {}) => {
        const checked = await host.call("check", (r) => {
          r.setUrn(URN);
          r.setOlds(host.struct({ ...olds }));
          r.setNews(host.struct({ ...news, __provider: serialized }));
        });
        assert.deepEqual(checked.getFailuresList(), []);
        const created = await host.call("create", (r) => r.setProperties(checked.getInputs()));
        return { id: created.getId() as string, state: created.getProperties().toJavaScript() };
      };
      const remove = (old: { id: string; state: Record<string, unknown> }) =>
        host.call("delete", (r) => {
          r.setId(old.id);
          r.setProperties(host.struct(old.state));
        });
      const previousInputs = inputs({ vaultUrl: emulator.url, slot: "b", generation: "9" });
      const previous = await create(previousInputs);
      const currentInputs = { ...inputs({ vaultUrl: emulator.url }), issuedAfter: previous.id };
      const current = await create(currentInputs);

      // The current key leaked: --replace its version.
      const replaced = await create(currentInputs, current.state);
      assert.notEqual(replaced.state.version, current.state.version, "a new version");
      assert.notEqual(replaced.state.thumbprint, current.state.thumbprint, "a new key");
      assert.notEqual(replaced.state.cer, current.state.cer, "so the slot's registration changes too");
      await remove(current);
      assert.deepEqual(enabled(), {
        [previous.state.version]: true,
        [current.state.version]: false,
        [replaced.state.version]: true,
      });
      assert.deepEqual(await served(emulator, NAME), {
        certificate: replaced.state.cer,
        secret: replaced.state.cer,
      });

      // The previous key leaked: --replace its version; the current one names it, so it is re-issued after it.
      const reissued = await create(previousInputs, previous.state);
      const diff = await host.call("diff", (r) => {
        r.setId(replaced.id);
        r.setUrn(URN);
        r.setOlds(host.struct(replaced.state));
        r.setNews(host.struct({ ...currentInputs, issuedAfter: UNKNOWN, __provider: serialized }));
      });
      assert.deepEqual(
        diff.getReplacesList(),
        ["issuedAfter"],
        "preview: the current version is re-issued too",
      );
      const following = await create({ ...currentInputs, issuedAfter: reissued.id }, replaced.state);
      await remove(replaced);
      await remove(previous);
      assert.deepEqual(
        (await served(emulator, NAME)).certificate,
        following.state.cer,
        "the current slot's, still",
      );
      assert.deepEqual(
        [previous, current, replaced, reissued, following].map((v) => enabled()[v.state.version as string]),
        [false, false, false, true, true],
      );
      assert.equal(emulator.certificates.get(NAME)!.deleted, undefined);
    } finally {
      await host.stop();
      await emulator.close();
    }
  });

  it("runs check, create, read, diff, update and delete in Pulumi's real provider host", async function () {
    this.timeout(40_000);
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
