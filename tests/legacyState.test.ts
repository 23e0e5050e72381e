/**
 * Grants deployed with the previous release keep working with this code. Their state stores that release's
 * serialized provider (tests/fixtures/workspace-access-provider-0.1.0.txt: produced by the SDK's serializer
 * under `node --import tsx`, as `pulumi up` does, from commit 5c1d13f; its provider version is
 * 5acc64e2f30d99ec). `pulumi refresh` and `pulumi destroy` run that stored text, which loads
 * lib/adminApi.ts from the project at run time; `pulumi up` runs the new shim. Both are driven here through
 * Pulumi's real provider host against the emulator.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ADMIN_TIME_SCALE_ENV, ADMIN_TOKEN_ENV } from "../clients/adminApi";
import { WORKSPACE_ACCESS_PROVIDER_VERSION } from "../components/workspaceAccess";
import { SmartspaceEmulator } from "../tools/emulators/smartspaceEmulator";
import { GRANT_URN, type ProviderHost, serializedShim, startProviderHost } from "./support/providerHost";

const LEGACY_PROVIDER = readFileSync(
  path.join(__dirname, "fixtures", "workspace-access-provider-0.1.0.txt"),
  "utf8",
);
const LEGACY_VERSION = "5acc64e2f30d99ec";
const WORKSPACE = "9d2f6c1e-7b3a-4c5d-8e9f-0a1b2c3d4e5f";
const SCOPE = "api://11111111-2222-3333-4444-555555555555/.default";
const DIFF_NONE = 1;
const DIFF_SOME = 2;

describe("grants deployed by the previous release", function () {
  this.timeout(30_000);
  let emulator: SmartspaceEmulator;
  let host: ProviderHost;
  let shim: string;

  before(async () => {
    shim = serializedShim();
    emulator = await SmartspaceEmulator.start({ workspaces: [{ id: WORKSPACE, name: "Claims" }] });
    host = await startProviderHost({
      [ADMIN_TOKEN_ENV]: emulator.token,
      [ADMIN_TIME_SCALE_ENV]: "0.01",
      NODE_EXTRA_CA_CERTS: emulator.tls.caFile,
    });
  });
  after(async () => {
    await host?.stop();
    await emulator?.close();
  });
  beforeEach(() => emulator.reset());

  /** A grant as the previous release left it: live in Smartspace, its outputs and provider in state. */
  function deployedGrant() {
    const principalId = randomUUID();
    emulator.store.putAccess(WORKSPACE, {
      principalId,
      principalType: "ServicePrincipal",
      displayName: "crm-sync",
    });
    const inputs = {
      adminApiUrl: emulator.url,
      workspaceId: WORKSPACE,
      principalId,
      principalType: "ServicePrincipal",
      displayName: "crm-sync",
      tokenScope: SCOPE,
      providerVersion: LEGACY_VERSION,
    };
    return {
      id: `${WORKSPACE}/${principalId}`,
      principalId,
      inputs: { ...inputs, __provider: LEGACY_PROVIDER },
      state: { ...inputs, workspaceName: "Claims", __provider: LEGACY_PROVIDER },
    };
  }

  it("refresh reads them with their stored provider, and notices one revoked by hand", async () => {
    const grant = deployedGrant();
    const read = await host.call("read", (r) => {
      r.setId(grant.id);
      r.setProperties(host.struct(grant.state));
    });
    assert.equal(read.getId(), grant.id);
    assert.equal(read.getProperties().toJavaScript().displayName, "crm-sync");

    emulator.store.deleteAccess(WORKSPACE, grant.principalId);
    const gone = await host.call("read", (r) => {
      r.setId(grant.id);
      r.setProperties(host.struct(grant.state));
    });
    assert.equal(gone.getId(), "");
  });

  it("destroy revokes them with their stored provider", async () => {
    const grant = deployedGrant();
    await host.call("delete", (r) => {
      r.setId(grant.id);
      r.setProperties(host.struct(grant.state));
    });
    assert.equal(emulator.store.getAccess(WORKSPACE, grant.principalId), undefined);
    assert.deepEqual(
      emulator.requests.map((r) => `${r.method} ${r.status}`),
      ["DELETE 204"],
    );
  });

  it("the first pulumi up updates each once, in place, and stores the new shim; the next one changes nothing", async () => {
    const grant = deployedGrant();
    const declared = {
      ...grant.inputs,
      providerVersion: WORKSPACE_ACCESS_PROVIDER_VERSION,
      __provider: shim,
    };
    const checked = await host.call("check", (r) => {
      r.setUrn(GRANT_URN);
      r.setOlds(host.struct(grant.inputs));
      r.setNews(host.struct(declared));
    });
    assert.deepEqual(checked.getFailuresList(), []);
    const news = checked.getInputs().toJavaScript();

    const diff = await host.call("diff", (r) => {
      r.setId(grant.id);
      r.setUrn(GRANT_URN);
      r.setOlds(host.struct(grant.state));
      r.setNews(host.struct(news));
    });
    assert.equal(diff.getChanges(), DIFF_SOME, "the provider version changed");
    assert.deepEqual(diff.getReplacesList(), [], "never a replacement: that would revoke and re-grant");

    const updated = await host.call("update", (r) => {
      r.setId(grant.id);
      r.setUrn(GRANT_URN);
      r.setOlds(host.struct(grant.state));
      r.setNews(host.struct(news));
    });
    const state = updated.getProperties().toJavaScript();
    assert.equal(state.__provider, shim);
    assert.equal(state.providerVersion, WORKSPACE_ACCESS_PROVIDER_VERSION);
    assert.equal(state.workspaceName, "Claims");
    assert.ok(emulator.store.getAccess(WORKSPACE, grant.principalId), "still granted");

    const again = await host.call("diff", (r) => {
      r.setId(grant.id);
      r.setUrn(GRANT_URN);
      r.setOlds(host.struct(state));
      r.setNews(host.struct(news));
    });
    assert.equal(again.getChanges(), DIFF_NONE);
  });
});
