/**
 * The stack for each credential type: which resources exist, how they are wired (with provider-shaped IDs:
 * application resource IDs, a managed identity whose principal ID differs from its client ID), what a
 * second run or the next rotation period changes, and what the outputs tell a consumer.
 */
import * as assert from "node:assert/strict";
import { versionChanges } from "../providers/keyVaultCertificate";
import {
  APPLICATION_PRINCIPAL,
  MockTenant,
  SUBSCRIPTION_ID,
  SYSTEM_ASSIGNED_IDENTITY,
  TENANT_ID,
  USER_ASSIGNED_IDENTITY,
} from "./support/azureMocks";
import { baseConfig, READER_OBJECT_ID, WORKSPACE_A } from "./support/fixtures";
import { type ProgramRun, runProgram } from "./support/program";

const APP = "azuread:index/application:Application";
const PASSWORD = "azuread:index/applicationPassword:ApplicationPassword";
const CERTIFICATE = "azuread:index/applicationCertificate:ApplicationCertificate";
const FEDERATED =
  "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential";
const VERSION = "pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate";
const IDENTITY = "azure-native:managedidentity:UserAssignedIdentity";
const ROLE = "azuread:index/appRoleAssignment:AppRoleAssignment";
const SECRET = "azure-native:keyvault:Secret";
const ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const GRANT = "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess";
const SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";

// rotationDays 90 from the 2024-01-01 epoch: period 10 runs 2026-06-19 .. 2026-09-17, so on 2026-08-01 slot a
// holds the current generation 10 (until 2026-12-16) and slot b the previous generation 9 (until 2026-09-17).
const NOW = new Date("2026-08-01T10:00:00Z");
// Periods take effect a day before their boundary (rules/rotation.ts): this one's boundary is 2026-09-17.
const LATER_SAME_PERIOD = new Date("2026-09-15T23:00:00Z");
const NEXT_PERIOD = new Date("2026-09-16T00:00:01Z");

type Outputs = Record<string, Record<string, unknown>>;
const integrationOf = (run: ProgramRun, name = "crm-sync") =>
  (run.outputs.integrations as Outputs)[name] as Record<string, unknown> & {
    certificate: Record<string, unknown> & { thumbprints: Record<string, string> };
  };

function inputsByUrn(run: ProgramRun): Map<string, unknown> {
  return new Map(run.resources.map((resource) => [resource.urn, resource.inputs]));
}

function withCredential(credential: unknown, extra: Record<string, unknown> = {}) {
  return baseConfig({ integrations: [{ name: "crm-sync", credential, ...extra }] });
}

describe("credential type certificate", () => {
  let run: ProgramRun;
  before(async () => {
    run = await runProgram(
      withCredential({ type: "certificate", readers: [READER_OBJECT_ID] }, { workspaces: [WORKSPACE_A] }),
      { now: NOW },
    );
  });

  it("issues one Key Vault certificate, a version per slot, the current one after the previous one", () => {
    const a = run.one(VERSION, "crm-sync-credentials-certificate-version-a");
    const b = run.one(VERSION, "crm-sync-credentials-certificate-version-b");
    for (const version of [a, b]) {
      assert.equal(version.inputs.certificateName, "smartspace-crm-sync-client-cert");
      assert.match(String(version.inputs.vaultUrl), /^https:\/\/kv-ss-dev-[a-z0-9]{5}\.vault\.azure\.net\/$/);
      assert.equal(version.inputs.subject, "CN=smartspace-crm-sync");
      assert.equal(version.inputs.validityInMonths, 7, "valid beyond the 180 days Entra ID trusts it");
      assert.equal(version.inputs.keySize, 2048);
      for (const key of ["privateKey", "key", "pem", "pfx", "password"]) {
        assert.ok(!(key in version.inputs), `no ${key} input: Key Vault generates the key`);
      }
    }
    assert.deepEqual([a.inputs.slot, a.inputs.generation], ["a", "10"]);
    assert.deepEqual([b.inputs.slot, b.inputs.generation], ["b", "9"]);
    assert.ok(a.dependencies.includes(b.urn), "the current version is issued last, so it is the latest");
    assert.ok(!b.dependencies.includes(a.urn));
    assert.deepEqual(a.propertyDependencies.issuedAfter, [b.urn], "and names the version it comes after");
    assert.match(
      String(a.inputs.issuedAfter),
      /^https:\/\/kv-ss-dev-[a-z0-9]{5}\.vault\.azure\.net\/certificates\/smartspace-crm-sync-client-cert\/[0-9a-f]{32}$/,
    );
    assert.equal(b.inputs.issuedAfter, undefined);
  });

  it("registers each version's public certificate with the application, until its generation ends", () => {
    const app = run.one(APP, "crm-sync-identity-app");
    const integration = integrationOf(run);
    for (const [slot, endDate] of [
      ["a", "2026-12-16T00:00:00Z"],
      ["b", "2026-09-17T00:00:00Z"],
    ]) {
      const certificate = run.one(CERTIFICATE, `crm-sync-credentials-certificate-slot-${slot}`);
      const version = run.one(VERSION, `crm-sync-credentials-certificate-version-${slot}`);
      assert.equal(
        certificate.inputs.applicationId,
        `/applications/${String(integration.applicationObjectId)}`,
      );
      assert.ok(certificate.dependencies.includes(app.urn));
      assert.equal(certificate.inputs.type, "AsymmetricX509Cert");
      assert.equal(certificate.inputs.encoding, "base64");
      assert.ok(certificate.dependencies.includes(version.urn), "holds that version's certificate");
      assert.equal(typeof certificate.inputs.value, "string");
      assert.equal(certificate.inputs.endDate, endDate);
      assert.equal(certificate.inputs.startDate, undefined, "never backdated");
    }
    assert.equal(run.byType(PASSWORD).length, 0, "no client secret");
  });

  it("lets readers read the certificate's secret and the IDs, each at its own scope", () => {
    const vault = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-smartspace-dev/providers/Microsoft.KeyVault/vaults/`;
    const reader = run.one(ROLE_ASSIGNMENT, `crm-sync-credentials-certificate-reader-${READER_OBJECT_ID}`);
    assert.match(
      String(reader.inputs.scope),
      new RegExp(`^${vault}kv-ss-dev-[a-z0-9]{5}/secrets/smartspace-crm-sync-client-cert$`),
    );
    assert.equal(reader.inputs.principalId, READER_OBJECT_ID);
    assert.match(String(reader.inputs.roleDefinitionId), new RegExp(`/roleDefinitions/${SECRETS_USER}$`));
    for (const slot of ["a", "b"]) {
      assert.ok(
        reader.dependencies.includes(
          run.one(VERSION, `crm-sync-credentials-certificate-version-${slot}`).urn,
        ),
        "granted once the certificate (and so its secret) exists",
      );
    }
    const secrets = run.byType(SECRET).map((secret) => secret.inputs.secretName);
    assert.deepEqual(secrets.sort(), ["smartspace-crm-sync-client-id", "smartspace-crm-sync-tenant-id"]);
    assert.equal(run.byType(ROLE_ASSIGNMENT).length, 3);
  });

  it("exports where to read it and the thumbprints Entra ID shows, never key material", () => {
    const integration = integrationOf(run);
    const vaultUri = String(run.outputs.keyVaultUri);
    const a = run.one(VERSION, "crm-sync-credentials-certificate-version-a");
    assert.equal(integration.credentialType, "certificate");
    assert.deepEqual(Object.keys(integration.certificate).sort(), [
      "certificateUri",
      "expiresOn",
      "name",
      "nextRotationOn",
      "secretUri",
      "thumbprints",
    ]);
    assert.equal(integration.certificate.name, "smartspace-crm-sync-client-cert");
    assert.equal(
      integration.certificate.certificateUri,
      `${vaultUri}certificates/smartspace-crm-sync-client-cert`,
    );
    assert.equal(integration.certificate.secretUri, `${vaultUri}secrets/smartspace-crm-sync-client-cert`);
    assert.match(integration.certificate.thumbprints.current, /^[0-9A-F]{40}$/);
    assert.match(integration.certificate.thumbprints.previous, /^[0-9A-F]{40}$/);
    assert.notEqual(
      integration.certificate.thumbprints.current,
      integration.certificate.thumbprints.previous,
    );
    assert.equal(integration.certificate.expiresOn, "2026-12-16T00:00:00Z");
    assert.equal(integration.certificate.nextRotationOn, "2026-09-16T00:00:00Z");
    assert.equal(typeof a.inputs.__provider, "string");
    assert.equal(integration.secretExpiresOn, undefined);
    assert.deepEqual(Object.keys(integration.keyVaultSecretUris as object).sort(), ["clientId", "tenantId"]);
    assert.deepEqual(run.secretOutputs, []);
    assert.doesNotMatch(JSON.stringify(run.outputs), /PRIVATE KEY|BEGIN CERTIFICATE/);
  });

  it("declares the same inputs all period, and replaces only the older slot at the boundary", async () => {
    const config = withCredential(
      { type: "certificate", readers: [READER_OBJECT_ID] },
      { workspaces: [WORKSPACE_A] },
    );
    const tenant = new MockTenant();
    const first = await runProgram(config, { now: NOW, tenant });
    const ids = () => new Map([...tenant.stack].map(([key, entry]) => [key, entry.id]));
    const deployed = ids();
    const same = await runProgram(config, { now: LATER_SAME_PERIOD, tenant });
    assert.deepEqual(inputsByUrn(same), inputsByUrn(first));
    const current = tenant.stack.get(`${VERSION}::crm-sync-credentials-certificate-version-a`)!;
    const next = await runProgram(config, { now: NEXT_PERIOD, tenant });
    const replaced = [...ids()]
      .filter(([key, id]) => deployed.get(key) !== id)
      .map(([key]) => key.split("::")[1]);
    assert.deepEqual(replaced.sort(), [
      "crm-sync-credentials-certificate-slot-b",
      "crm-sync-credentials-certificate-version-b",
    ]);
    const before = inputsByUrn(first);
    const changed = next.resources.filter(
      (r) => JSON.stringify(r.inputs) !== JSON.stringify(before.get(r.urn)) && !replaced.includes(r.name),
    );
    assert.deepEqual(changed.map((r) => r.name).sort(), [
      // Now the previous slot's: it follows nothing, which its provider takes as no change.
      "crm-sync-credentials-certificate-version-a",
      // The stored IDs' expiry is renewed each period: an update of the same secrets.
      "crm-sync-credentials-client-id",
      "crm-sync-credentials-tenant-id",
    ]);
    const previous = next.one(VERSION, "crm-sync-credentials-certificate-version-a");
    assert.equal(previous.inputs.issuedAfter, undefined);
    assert.deepEqual(versionChanges(current.state, previous.inputs as never), { replaces: [], updates: [] });
    const b = next.one(VERSION, "crm-sync-credentials-certificate-version-b");
    assert.equal(b.inputs.generation, "11");
    assert.equal(b.inputs.issuedAfter, current.id, "the new current version comes after the other slot's");
    assert.equal(
      integrationOf(next).certificate.thumbprints.previous,
      integrationOf(first).certificate.thumbprints.current,
      "the old current certificate stays trusted as the previous one",
    );
  });

  it("answers a leaked key with new versions, re-issuing the current one when the previous one is replaced", async () => {
    const config = withCredential({ type: "certificate" });
    const tenant = new MockTenant();
    await runProgram(config, { now: NOW, tenant });
    const entry = (type: string, role: string) =>
      tenant.stack.get(`${type}::crm-sync-credentials-certificate-${role}`)!;
    const snapshot = () =>
      Object.fromEntries(
        ["version-a", "version-b"].flatMap((role) => [
          [role, entry(VERSION, role).id],
          [role.replace("version", "slot"), entry(CERTIFICATE, role.replace("version", "slot")).id],
        ]),
      );
    const changedSince = (before: Record<string, string>) =>
      Object.keys(before)
        .filter((role) => snapshot()[role] !== before[role])
        .sort();

    // The current slot's key leaked: its version is re-issued, and its slot registers the new public key.
    let before = snapshot();
    const rotated = await runProgram(config, {
      now: NOW,
      tenant,
      replace: ["crm-sync-credentials-certificate-version-a"],
    });
    assert.deepEqual(changedSince(before), ["slot-a", "version-a"]);
    const slotA = rotated.one(CERTIFICATE, "crm-sync-credentials-certificate-slot-a");
    assert.equal(
      slotA.inputs.value,
      entry(VERSION, "version-a").state.cer,
      "the new version's key is registered",
    );
    assert.equal(
      integrationOf(rotated).certificate.thumbprints.current,
      entry(VERSION, "version-a").state.thumbprint,
    );

    // The previous slot's key leaked: Key Vault would serve its new version, so the current one is issued after it.
    before = snapshot();
    const both = await runProgram(config, {
      now: NOW,
      tenant,
      replace: ["crm-sync-credentials-certificate-version-b"],
    });
    assert.deepEqual(changedSince(before), ["slot-a", "slot-b", "version-a", "version-b"]);
    assert.equal(
      both.one(VERSION, "crm-sync-credentials-certificate-version-a").inputs.issuedAfter,
      entry(VERSION, "version-b").id,
    );
  });

  it("issues new certificates into both slots when rotationDays changes, so no key is registered twice", async () => {
    const changed = await runProgram(
      withCredential(
        { type: "certificate", rotationDays: 91, readers: [READER_OBJECT_ID] },
        { workspaces: [WORKSPACE_A] },
      ),
      { now: NOW },
    );
    for (const slot of ["a", "b"]) {
      const name = `crm-sync-credentials-certificate-version-${slot}`;
      assert.equal(changed.one(VERSION, name).inputs.rotationDays, 91);
      assert.notEqual(
        changed.one(VERSION, name).inputs.rotationDays,
        run.one(VERSION, name).inputs.rotationDays,
      );
    }
  });

  it("stores no IDs in Key Vault without readers", async () => {
    const bare = await runProgram(withCredential({ type: "certificate", rotationDays: 30 }), { now: NOW });
    assert.equal(bare.byType(SECRET).length, 0);
    assert.equal(bare.byType(ROLE_ASSIGNMENT).length, 0);
    assert.equal(integrationOf(bare).keyVaultSecretUris, undefined);
    assert.equal(bare.one(VERSION, "crm-sync-credentials-certificate-version-a").inputs.validityInMonths, 3);
  });
});

describe("credential type federated", () => {
  const CLUSTER =
    "https://oidc.prod-aks.azure.com/72f988bf-86f1-41af-91ab-2d7cd011db47/3c1d2e4f-0000-4000-8000-000000000001/";
  const subjects = [
    { github: { repository: "contoso/crm", environment: "prod" } },
    { github: { repository: "contoso/crm", branch: "release/2.x" } },
    { github: { repository: "contoso/crm", tag: "v1" } },
    { github: { repository: "contoso/crm", pullRequest: true } },
    { kubernetes: { issuer: CLUSTER, namespace: "crm", serviceAccount: "crm-sync" } },
    { managedIdentity: { principalId: USER_ASSIGNED_IDENTITY.principalId.toUpperCase() } },
    { name: "custom-idp", issuer: "https://idp.example.com", subject: "svc-42" },
  ];
  let run: ProgramRun;
  before(async () => {
    run = await runProgram(withCredential({ type: "federated", subjects }, { workspaces: [WORKSPACE_A] }));
  });

  it("creates one federated credential per subject, with the exchange audience and exact claims", () => {
    const integration = integrationOf(run);
    const credentials = run.byType(FEDERATED);
    assert.equal(credentials.length, subjects.length);
    const bySubject = Object.fromEntries(credentials.map((c) => [String(c.inputs.subject), c]));
    const expected: [string, string, string][] = [
      [
        "repo:contoso/crm:environment:prod",
        "https://token.actions.githubusercontent.com",
        "github-contoso-crm-environment-prod",
      ],
      [
        "repo:contoso/crm:ref:refs/tags/v1",
        "https://token.actions.githubusercontent.com",
        "github-contoso-crm-tag-v1",
      ],
      [
        "repo:contoso/crm:pull_request",
        "https://token.actions.githubusercontent.com",
        "github-contoso-crm-pull-request",
      ],
      ["system:serviceaccount:crm:crm-sync", CLUSTER, ""],
      [
        USER_ASSIGNED_IDENTITY.principalId,
        `https://login.microsoftonline.com/${TENANT_ID}/v2.0`,
        `managed-identity-${USER_ASSIGNED_IDENTITY.principalId}`,
      ],
      ["svc-42", "https://idp.example.com", "custom-idp"],
      ["repo:contoso/crm:ref:refs/heads/release/2.x", "https://token.actions.githubusercontent.com", ""],
    ];
    for (const [subject, issuer, displayName] of expected) {
      const credential = bySubject[subject];
      assert.ok(credential, `a credential for ${subject}`);
      assert.equal(credential.inputs.issuer, issuer);
      assert.deepEqual(credential.inputs.audiences, ["api://AzureADTokenExchange"]);
      assert.equal(
        credential.inputs.applicationId,
        `/applications/${String(integration.applicationObjectId)}`,
      );
      assert.equal(credential.deleteBeforeReplace, true, "Entra ID refuses a duplicate issuer and subject");
      if (displayName) assert.equal(credential.inputs.displayName, displayName);
      assert.match(String(credential.inputs.displayName), /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/);
      assert.equal(
        credential.name,
        `crm-sync-credentials-federated-${String(credential.inputs.displayName)}`,
      );
    }
    // A '/' cannot be in a name: the branch's name carries a hash of the exact subject instead.
    assert.match(
      String(bySubject["repo:contoso/crm:ref:refs/heads/release/2.x"].inputs.displayName),
      /^github-contoso-crm-branch-release-2-x-[0-9a-f]{8}$/,
    );
    assert.match(
      String(bySubject["system:serviceaccount:crm:crm-sync"].inputs.displayName),
      /^kubernetes-crm-crm-sync-[0-9a-f]{8}$/,
    );
  });

  it("stores and exposes no credential: no password, no certificate, no Key Vault secret", () => {
    assert.equal(
      run.byType(PASSWORD).length + run.byType(CERTIFICATE).length + run.byType(VERSION).length,
      0,
    );
    assert.equal(run.byType(SECRET).length, 0);
    const integration = integrationOf(run);
    assert.equal(integration.credentialType, "federated");
    assert.equal(integration.keyVaultSecretUris, undefined);
    const exported = integration.federatedCredentials as Record<string, Record<string, string>>;
    assert.deepEqual(exported["github-contoso-crm-environment-prod"], {
      issuer: "https://token.actions.githubusercontent.com",
      subject: "repo:contoso/crm:environment:prod",
      audience: "api://AzureADTokenExchange",
    });
    assert.equal(Object.keys(exported).length, subjects.length);
    const grant = run.one(GRANT, `crm-sync-workspace-${WORKSPACE_A}`);
    assert.equal(grant.inputs.principalId, integration.servicePrincipalObjectId);
  });

  it("checks that a trusted managed identity is user-assigned before declaring its credential", async () => {
    const lookup = run.invokes.find((i) => i.inputs.objectId === USER_ASSIGNED_IDENTITY.principalId);
    assert.equal(lookup?.token, "azuread:index/getServicePrincipal:getServicePrincipal");
    for (const [principal, message] of [
      [
        SYSTEM_ASSIGNED_IDENTITY,
        /is a system-assigned managed identity; an application can only trust a user-assigned/,
      ],
      [APPLICATION_PRINCIPAL, /is the service principal of an application \(legacy-crm-app\)/],
    ] as const) {
      await assert.rejects(
        runProgram(
          withCredential({
            type: "federated",
            subjects: [{ managedIdentity: { principalId: principal.principalId } }],
          }),
        ),
        message,
      );
    }
  });

  it("keys credentials by meaning: reordering subjects changes nothing; readers get the IDs", async () => {
    const reordered = await runProgram(
      withCredential({ type: "federated", subjects: [...subjects].reverse() }, { workspaces: [WORKSPACE_A] }),
    );
    assert.deepEqual(inputsByUrn(reordered), inputsByUrn(run));
    const withReaders = await runProgram(
      withCredential({ type: "federated", subjects: subjects.slice(0, 1), readers: [READER_OBJECT_ID] }),
    );
    assert.deepEqual(
      withReaders
        .byType(SECRET)
        .map((s) => s.inputs.secretName)
        .sort(),
      ["smartspace-crm-sync-client-id", "smartspace-crm-sync-tenant-id"],
    );
    assert.equal(withReaders.byType(ROLE_ASSIGNMENT).length, 2);
  });
});

describe("credential type managedIdentity", () => {
  it("creates a user-assigned identity and gives its principal ID, not its client ID, the role and the grants", async () => {
    const run = await runProgram(
      withCredential(
        {
          type: "managedIdentity",
          create: { resourceGroupName: "rg-smartspace-prod", location: "westeurope" },
        },
        { workspaces: [WORKSPACE_A] },
      ),
      { stack: "prod" },
    );
    assert.equal(run.byType(APP).length, 0, "no application");
    assert.equal(run.byType(SECRET).length + run.byType(PASSWORD).length, 0, "nothing stored");
    const identity = run.one(IDENTITY, "crm-sync-identity-uami");
    assert.equal(identity.inputs.resourceGroupName, "rg-smartspace-prod");
    assert.equal(identity.inputs.resourceName, "smartspace-crm-sync-prod");
    assert.equal(identity.inputs.location, "westeurope");
    assert.equal(identity.deleteBeforeReplace, true, "its name is fixed: a replacement deletes first");
    const integration = integrationOf(run);
    const managed = integration.managedIdentity as Record<string, string>;
    assert.notEqual(managed.principalId, managed.clientId);
    const role = run.one(ROLE, "crm-sync-identity-role");
    assert.equal(role.inputs.principalObjectId, managed.principalId);
    assert.ok(role.dependencies.includes(identity.urn));
    const grant = run.one(GRANT, `crm-sync-workspace-${WORKSPACE_A}`);
    assert.equal(grant.inputs.principalId, managed.principalId);
    assert.equal(grant.inputs.displayName, "smartspace-crm-sync-prod");
    assert.ok(grant.dependencies.includes(role.urn));
    assert.equal(integration.credentialType, "managedIdentity");
    assert.equal(integration.clientId, managed.clientId);
    assert.equal(integration.servicePrincipalObjectId, managed.principalId);
    assert.equal(integration.applicationObjectId, undefined);
    assert.equal(
      managed.resourceId,
      `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-smartspace-prod/providers/Microsoft.ManagedIdentity/userAssignedIdentities/smartspace-crm-sync-prod`,
    );
  });

  it("looks up an existing identity by principal ID, and refuses an application's service principal", async () => {
    const run = await runProgram(
      withCredential({ type: "managedIdentity", principalId: USER_ASSIGNED_IDENTITY.principalId }),
    );
    assert.equal(run.byType(IDENTITY).length, 0);
    const integration = integrationOf(run);
    assert.deepEqual(integration.managedIdentity, {
      clientId: USER_ASSIGNED_IDENTITY.clientId,
      principalId: USER_ASSIGNED_IDENTITY.principalId,
      resourceId: USER_ASSIGNED_IDENTITY.alternativeNames[1],
    });
    assert.equal(integration.displayName, USER_ASSIGNED_IDENTITY.displayName);
    assert.equal(
      run.one(ROLE, "crm-sync-identity-role").inputs.principalObjectId,
      USER_ASSIGNED_IDENTITY.principalId,
    );

    const system = integrationOf(
      await runProgram(
        withCredential({ type: "managedIdentity", principalId: SYSTEM_ASSIGNED_IDENTITY.principalId }),
      ),
    );
    assert.equal(
      (system.managedIdentity as Record<string, unknown>).resourceId,
      undefined,
      "a system-assigned identity has no identity resource",
    );

    await assert.rejects(
      runProgram(withCredential({ type: "managedIdentity", principalId: APPLICATION_PRINCIPAL.principalId })),
      /credential\.principalId 9f8a7b6c-.* is the service principal of an application \(legacy-crm-app\), not of a managed identity/,
    );
  });
});

describe("switching an integration between application-based types", () => {
  it("keeps the application and the stored IDs with their reader grants: the same resources, not new ones", async () => {
    const urnsOf = (run: ProgramRun) =>
      run.resources
        .filter(
          (r) => [APP, SECRET, ROLE_ASSIGNMENT, ROLE].includes(r.type) && !r.name.includes("client-secret"),
        )
        .filter((r) => !r.name.includes("certificate-reader"))
        .map((r) => r.urn)
        .sort();
    const secret = await runProgram(withCredential({ type: "secret", readers: [READER_OBJECT_ID] }), {
      now: NOW,
    });
    const certificate = await runProgram(
      withCredential({ type: "certificate", readers: [READER_OBJECT_ID] }),
      {
        now: NOW,
      },
    );
    const expected = urnsOf(secret);
    assert.equal(expected.length, 6, "application, role, two ID secrets and their two reader grants");
    assert.deepEqual(urnsOf(certificate), expected);
  });
});
