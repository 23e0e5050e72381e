import * as assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as fc from "fast-check";
import {
  classifyPreview,
  EXIT_NO_CHANGES_EXPECTED,
  main,
  parsePreviewJson,
  parseUrn,
  type PreviewDigestJson,
  type PreviewStepJson,
  renderMarkdown,
} from "../cli/classify-preview";
import { MAX_INPUT_BYTES } from "../cli/report";
import { KeyVaultCertificateProvider } from "../providers/keyVaultCertificate";
import { READER_OBJECT_ID, baseConfig } from "./support/fixtures";
import { type ProgramRun, type RecordedResource, runProgram, toRawConfig } from "./support/program";

const PREFIX = "urn:pulumi:dev::smartspace-integration::";
const PASSWORD = "azuread:index/applicationPassword:ApplicationPassword";
const SECRET = "azure-native:keyvault:Secret";
const CREDENTIALS = "smartspace:index:SmartspaceIntegration$smartspace:credentials:IntegrationCredentials";
const parentOf = (integration: string) => `${PREFIX}${CREDENTIALS}::${integration}-credentials`;
const urn = (qualifiedType: string, name: string) => `${PREFIX}${qualifiedType}::${name}`;
const slotUrn = (integration: string, slot: string) =>
  urn(`${CREDENTIALS}$${PASSWORD}`, `${integration}-credentials-slot-${slot}`);
const secretUrn = (integration: string, kind: string) =>
  urn(`${CREDENTIALS}$${SECRET}`, `${integration}-credentials-${kind}`);
/** A value as it would look if the digest ever carried it unmasked; the report must never print inputs. */
const LEAK_CANARY = "Q~canary-value-never-printed";

function state(stepUrn: string, parent: string, inputs: Record<string, unknown>) {
  return { urn: stepUrn, type: parseUrn(stepUrn).type, parent, inputs };
}

/** The older slot's replacement when its rotation period has ended, as `pulumi preview --json` shows it. */
function slotRotation(integration: string, slot: string): PreviewStepJson {
  const stepUrn = slotUrn(integration, slot);
  return {
    op: "replace",
    urn: stepUrn,
    oldState: state(stepUrn, parentOf(integration), {
      startDate: "2026-03-21T00:00:00Z",
      endDate: "2026-09-17T00:00:00Z",
      rotateWhenChanged: { generation: "9" },
    }),
    newState: state(stepUrn, parentOf(integration), {
      startDate: "2026-09-17T00:00:00Z",
      endDate: "2027-03-16T00:00:00Z",
      rotateWhenChanged: { generation: "11" },
    }),
    replaceReasons: ["endDate", "rotateWhenChanged", "startDate"],
    diffReasons: ["endDate", "rotateWhenChanged", "startDate"],
    detailedDiff: {
      endDate: { kind: "update-replace", inputDiff: true },
      "rotateWhenChanged.generation": { kind: "update-replace", inputDiff: true },
      startDate: { kind: "update-replace", inputDiff: true },
    },
  };
}

/** The Key Vault client-secret update that follows a rotation. */
function secretFollowUp(integration: string): PreviewStepJson {
  const stepUrn = secretUrn(integration, "client-secret");
  const inputs = {
    secretName: `smartspace-${integration}-client-secret`,
    properties: { value: "[secret]", contentType: "Entra ID client secret (slot a)" },
    tags: { slot: "a", "smartspace-integration": integration },
  };
  return {
    op: "update",
    urn: stepUrn,
    oldState: state(stepUrn, parentOf(integration), { ...inputs, canary: LEAK_CANARY }),
    newState: state(stepUrn, parentOf(integration), inputs),
    diffReasons: ["properties", "tags"],
    detailedDiff: {
      "properties.value": { kind: "update", inputDiff: true },
      "properties.attributes.expires": { kind: "update", inputDiff: true },
      "properties.contentType": { kind: "update", inputDiff: true },
      "tags.slot": { kind: "update", inputDiff: true },
      "tags.key-id": { kind: "update", inputDiff: true },
    },
  };
}

function passive(): PreviewStepJson[] {
  const stack = urn("pulumi:pulumi:Stack", "smartspace-integration-dev");
  return [
    { op: "same", urn: stack },
    { op: "refresh", urn: slotUrn("crm-sync", "a") },
    { op: "same", urn: slotUrn("crm-sync", "a") },
    { op: "read", urn: urn("azure-native:keyvault:Vault", "existing") },
  ];
}

function digest(steps: PreviewStepJson[], extra: Partial<PreviewDigestJson> = {}): PreviewDigestJson {
  return {
    config: {
      "smartspace-integration:integrations": JSON.stringify([
        { name: "crm" },
        { name: "crm-sync" },
        { name: "billing" },
      ]),
      "smartspace-integration:smartspace": JSON.stringify({ appClientId: "x" }),
    },
    steps: [...passive(), ...steps],
    changeSummary: { same: 20 },
    ...extra,
  };
}

/** The verdict for a preview text, as the CLI would compute it (parse, validate, classify). */
function classifyPreviewText(text: string, previewExitCode = 7): string {
  try {
    return classifyPreview(parsePreviewJson(text), { previewExitCode }).verdict;
  } catch {
    return "failed";
  }
}

describe("classify-preview", () => {
  it("reports no changes when every step only reads or refreshes", () => {
    const result = classifyPreview(digest([]), { stack: "dev", previewExitCode: 0 });
    assert.equal(result.verdict, "no-changes");
    assert.deepEqual(result.findings, []);
  });

  it("reports a due rotation, not drift: the older slot's replacement and the client-secret update", () => {
    const result = classifyPreview(digest([slotRotation("crm-sync", "a"), secretFollowUp("crm-sync")]), {
      previewExitCode: EXIT_NO_CHANGES_EXPECTED,
    });
    assert.equal(result.verdict, "rotation-due");
    assert.deepEqual(
      result.findings.map((f) => [f.category, f.name, f.op]),
      [
        ["rotation", "crm-sync-credentials-slot-a", "replace"],
        ["rotation", "crm-sync-credentials-client-secret", "update"],
      ],
    );
    assert.deepEqual(result.findings[0].properties, [
      "endDate",
      "rotateWhenChanged",
      "rotateWhenChanged.generation",
      "startDate",
    ]);
  });

  it("counts the identifier secrets' renewed expiry as part of a rotation", () => {
    const renewal = (kind: string): PreviewStepJson => {
      const stepUrn = secretUrn("crm-sync", kind);
      return {
        op: "update",
        urn: stepUrn,
        newState: state(stepUrn, parentOf("crm-sync"), { secretName: `smartspace-crm-sync-${kind}` }),
        diffReasons: ["properties"],
        detailedDiff: { "properties.attributes.expires": { kind: "update", inputDiff: true } },
      };
    };
    const result = classifyPreview(
      digest([
        slotRotation("crm-sync", "a"),
        secretFollowUp("crm-sync"),
        renewal("client-id"),
        renewal("tenant-id"),
      ]),
      { previewExitCode: 7 },
    );
    assert.equal(result.verdict, "rotation-due");
    assert.equal(result.findings.length, 4);
    // Without a rotation in the same preview, a changed expiry is drift (edited by hand, or code not deployed).
    assert.equal(classifyPreview(digest([renewal("client-id")]), { previewExitCode: 7 }).verdict, "drift");
  });

  it("reports each rotation once even with the replacement's companion steps", () => {
    const rotation = slotRotation("crm-sync", "b");
    const result = classifyPreview(
      digest([{ ...rotation, op: "create-replacement" }, rotation, { ...rotation, op: "delete-replaced" }]),
    );
    assert.equal(result.verdict, "rotation-due");
    assert.equal(result.findings.length, 1);
    assert.equal(result.findings[0].op, "replace");
  });

  it("reports a revoked workspace grant and a renamed app registration as drift, with what to do", () => {
    const grant = urn(
      "smartspace:index:SmartspaceIntegration$pulumi-nodejs:dynamic/smartspace:WorkspaceAccess",
      "crm-sync-workspace-3f1c2b7a",
    );
    const app = urn(
      "smartspace:identity:IntegrationIdentity$azuread:index/application:Application",
      "crm-sync-identity-app",
    );
    const result = classifyPreview(
      digest([
        { op: "create", urn: grant },
        {
          op: "update",
          urn: app,
          diffReasons: ["displayName"],
          detailedDiff: { displayName: { kind: "update", inputDiff: false } },
        },
      ]),
      { previewExitCode: EXIT_NO_CHANGES_EXPECTED },
    );
    assert.equal(result.verdict, "drift");
    assert.match(result.findings[0].explanation, /workspace grant is gone from Smartspace/);
    assert.match(result.findings[1].explanation, /app registration differs from the program in displayName/);
  });

  it("keeps rotations apart from drift found in the same preview", () => {
    const vault = urn("smartspace:keyvault:CredentialVault$azure-native:keyvault:Vault", "credentials-vault");
    const result = classifyPreview(
      digest([
        slotRotation("crm-sync", "a"),
        secretFollowUp("crm-sync"),
        {
          op: "update",
          urn: vault,
          diffReasons: ["properties"],
          detailedDiff: { "properties.enablePurgeProtection": { kind: "update" } },
        },
      ]),
    );
    assert.equal(result.verdict, "drift");
    assert.deepEqual(
      result.findings.map((f) => f.category),
      ["rotation", "rotation", "drift"],
    );
  });

  it("calls a client-secret update drift when no rotation explains it", () => {
    const alone = classifyPreview(digest([secretFollowUp("crm-sync")]));
    assert.equal(alone.verdict, "drift");
    // A rotation of another integration does not explain it either (crm is a prefix of crm-sync: longest wins).
    const other = classifyPreview(
      digest([slotRotation("crm", "a"), secretFollowUp("crm-sync"), secretFollowUp("crm")]),
    );
    assert.deepEqual(
      other.findings.map((f) => [f.name, f.category]),
      [
        ["crm-credentials-slot-a", "rotation"],
        ["crm-sync-credentials-client-secret", "drift"],
        ["crm-credentials-client-secret", "rotation"],
      ],
    );
  });

  it("calls a client-secret update drift when it touches more than the rotated value and metadata", () => {
    const renamed: PreviewStepJson = {
      ...secretFollowUp("crm-sync"),
      op: "replace",
      replaceReasons: ["secretName"],
      detailedDiff: { secretName: { kind: "update-replace" } },
    };
    assert.equal(classifyPreview(digest([slotRotation("crm-sync", "a"), renamed])).verdict, "drift");
  });

  it("calls slot changes drift unless only the rotation schedule moved", () => {
    const rotation = slotRotation("crm-sync", "a");
    const cases: PreviewStepJson[] = [
      // The application was replaced: the slot must follow, but that is not a scheduled rotation.
      {
        ...rotation,
        replaceReasons: ["applicationId"],
        diffReasons: ["applicationId"],
        detailedDiff: { applicationId: { kind: "update-replace" } },
      },
      // rotationDays changed in config and is not deployed: dates and the display name move together.
      { ...rotation, replaceReasons: [...(rotation.replaceReasons ?? []), "displayName"] },
      // The credential was deleted in the portal: refresh dropped it, the preview recreates it.
      { op: "create", urn: rotation.urn },
      // Replaced for no schedule reason (e.g. --replace) without saying it was intended.
      { op: "replace", urn: rotation.urn },
    ];
    for (const step of cases) {
      const result = classifyPreview(digest([step, secretFollowUp("crm-sync")]));
      assert.equal(result.verdict, "drift", JSON.stringify(step.replaceReasons ?? step.op));
      assert.equal(result.findings[0].category, "drift");
    }
  });

  it("treats a requested replacement (forced rotation after a leak) as a rotation", () => {
    const forcedUrn = slotUrn("crm-sync", "b");
    const result = classifyPreview(digest([{ op: "replace", urn: forcedUrn }, secretFollowUp("crm-sync")]), {
      forcedReplacements: [forcedUrn],
    });
    assert.equal(result.verdict, "rotation-due");
    assert.match(result.findings[0].explanation, /Replaced on request/);
  });

  it("fails when the preview failed, logged errors, or claimed changes it did not list", () => {
    const failed = classifyPreview(digest([slotRotation("crm-sync", "a")]), { previewExitCode: 1 });
    assert.equal(failed.verdict, "failed");
    assert.match(failed.problems[0], /exit code 1/);
    const errored = classifyPreview(
      digest([], {
        diagnostics: [
          { severity: "error", urn: slotUrn("crm-sync", "a"), message: "authorization failed\n" },
        ],
      }),
      { previewExitCode: 0 },
    );
    assert.equal(errored.verdict, "failed");
    assert.match(errored.problems[0], /authorization failed$/);
    const unlisted = classifyPreview(digest([], { changeSummary: { same: 3, update: 1 } }), {
      previewExitCode: EXIT_NO_CHANGES_EXPECTED,
    });
    assert.equal(unlisted.verdict, "drift");
    assert.equal(unlisted.findings[0].op, "update 1");
  });

  it("reads the JSON even when something printed before it", () => {
    const text = `Downloading Pulumi CLI 3.265.0...\n${JSON.stringify(digest([secretFollowUp("crm-sync")]), null, 4)}\n`;
    assert.equal(parsePreviewJson(text).steps?.length, 5);
    assert.throws(() => parsePreviewJson(""), /no JSON/);
    assert.throws(() => parsePreviewJson("error: could not load plugin"), /not a JSON object/);
  });

  it("renders a report that names resources and paths but never input values", () => {
    const result = classifyPreview(
      digest([
        slotRotation("crm-sync", "a"),
        secretFollowUp("crm-sync"),
        { op: "delete", urn: secretUrn("billing", "client-id") },
      ]),
      { stack: "prod" },
    );
    const markdown = renderMarkdown(result, new Date("2026-09-18T05:17:00Z"));
    assert.match(markdown, /^## Drift check of stack `prod`: drift detected/);
    assert.match(markdown, /### Drift \(1\)/);
    assert.match(markdown, /`billing-credentials-client-id` \| `Key Vault secret` \| `delete`/);
    assert.match(markdown, /### Rotation due \(2\)/);
    assert.match(markdown, /`properties\.value`/);
    assert.match(markdown, /docs\/operations\.md#drift-findings/);
    assert.doesNotMatch(markdown, new RegExp(LEAK_CANARY.replace(/[~]/g, "\\~")));
    assert.doesNotMatch(markdown, /\[secret\]/);
  });

  describe("over the real program's rotation, in every credential mode", () => {
    // rotationDays 90: period 10 is in effect on 2026-08-01; period 11 from 2026-09-16 (a day before its boundary).
    const NOW = new Date("2026-08-01T10:00:00Z");
    const NEXT_PERIOD = new Date("2026-09-16T00:00:01Z");
    const config = baseConfig({
      integrations: [
        { name: "crm-sync", secretReaders: [READER_OBJECT_ID] },
        { name: "agent", credential: { type: "certificate", readers: [READER_OBJECT_ID] } },
        {
          name: "ci-bot",
          credential: {
            type: "federated",
            readers: [READER_OBJECT_ID],
            subjects: [{ github: { repository: "contoso/crm", environment: "prod" } }],
          },
        },
      ],
    });
    const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const VERSION = "pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate";
    const CERTIFICATE_SLOT = "azuread:index/applicationCertificate:ApplicationCertificate";

    /** Dotted paths of the leaves that differ (lists compared whole, as the engine's detailed diff shows them). */
    function leafPaths(a: unknown, b: unknown, at = ""): string[] {
      const isObject = (v: unknown): v is Record<string, unknown> =>
        v !== null && typeof v === "object" && !Array.isArray(v);
      if (isObject(a) && isObject(b)) {
        return [...new Set([...Object.keys(a), ...Object.keys(b)])].flatMap((key) =>
          leafPaths(a[key], b[key], at ? `${at}.${key}` : key),
        );
      }
      return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
    }

    function masked(resource: RecordedResource): Record<string, unknown> {
      const inputs = structuredClone(resource.inputs);
      for (const secretPath of resource.secretInputs) {
        const keys = secretPath.split(".");
        const last = keys.pop()!;
        const holder = keys.reduce<Record<string, unknown>>(
          (node, key) => node[key] as Record<string, unknown>,
          inputs,
        );
        holder[last] = "[secret]";
      }
      return inputs;
    }

    /**
     * The steps `pulumi preview --refresh` shows when the stack deployed as `before` meets the program as `after`
     * (nothing changed in Azure): the KeyVaultCertificate provider's own diff for its versions (a dynamic
     * provider names what forces a replacement, no detailed diff); every azuread credential input forces
     * replacement, and a certificate slot's new key and end date are unknown until its new version exists;
     * Key Vault secrets update in place.
     */
    async function previewBetween(before: ProgramRun, after: ProgramRun): Promise<PreviewStepJson[]> {
      const provider = new KeyVaultCertificateProvider();
      const steps: PreviewStepJson[] = [];
      for (const resource of after.resources.filter((candidate) => candidate.custom)) {
        const old = before.resources.find((candidate) => candidate.urn === resource.urn);
        assert.ok(old, `${resource.urn} existed before`);
        const paths = leafPaths(old.inputs, resource.inputs);
        if (paths.length === 0) continue;
        const tops = [...new Set(paths.map((p) => p.split(".")[0]))].sort();
        const state = (r: RecordedResource, inputs = masked(r)) => ({
          urn: r.urn,
          type: r.type,
          parent: r.parentUrn,
          inputs,
        });
        const step = { urn: resource.urn, oldState: state(old), newState: state(resource) };
        if (resource.type === VERSION) {
          const news = (await provider.check(old.inputs as never, resource.inputs as never)).inputs!;
          const diff = await provider.diff("id", { ...old.inputs, enabled: true } as never, news);
          // The old current version, now the previous one, no longer names a version to follow: no change.
          if (!diff.changes) continue;
          steps.push({
            ...step,
            op: diff.replaces?.length ? "replace" : "update",
            replaceReasons: diff.replaces,
          });
        } else if (resource.type === CERTIFICATE_SLOT || resource.type.startsWith("azuread:")) {
          const unknown = Object.fromEntries(tops.map((key) => [key, UNKNOWN]));
          steps.push({
            ...step,
            op: "replace",
            newState: state(resource, {
              ...masked(resource),
              ...(resource.type === CERTIFICATE_SLOT ? unknown : {}),
            }),
            replaceReasons: tops,
            diffReasons: tops,
            detailedDiff: Object.fromEntries(
              paths.map((p) => [p, { kind: "update-replace", inputDiff: true }]),
            ),
          });
        } else {
          steps.push({
            ...step,
            op: "update",
            diffReasons: tops,
            detailedDiff: Object.fromEntries(paths.map((p) => [p, { kind: "update", inputDiff: true }])),
          });
        }
      }
      return steps;
    }

    /**
     * The steps `pulumi preview --replace <urn>...` shows for certificate versions of the deployed stack: each
     * named version replaced with nothing changed, the version that names a replaced one as its predecessor
     * diffed by the provider with that ID unknown, and the slots of replaced versions with their key unknown.
     */
    async function forcedPreview(deployed: ProgramRun, names: string[]): Promise<PreviewStepJson[]> {
      const provider = new KeyVaultCertificateProvider();
      const replaced = new Set(names.map((name) => deployed.resources.find((r) => r.name === name)!.urn));
      const steps: PreviewStepJson[] = [];
      const state = (r: RecordedResource, inputs = r.inputs) => ({
        urn: r.urn,
        type: r.type,
        parent: r.parentUrn,
        inputs,
      });
      for (const resource of deployed.resources.filter((r) => r.type === VERSION)) {
        const follows = deployed.resources.find(
          (r) =>
            r.urn !== resource.urn &&
            r.type === VERSION &&
            resource.inputs.issuedAfter !== undefined &&
            replaced.has(r.urn),
        );
        if (replaced.has(resource.urn)) {
          steps.push({
            op: "replace",
            urn: resource.urn,
            oldState: state(resource),
            newState: state(resource),
            replaceReasons: [],
          });
          continue;
        }
        if (follows === undefined) continue;
        const news = { ...resource.inputs, issuedAfter: UNKNOWN };
        const diff = await provider.diff(
          "id",
          { ...resource.inputs, enabled: true, latest: true } as never,
          news as never,
        );
        steps.push({
          op: "replace",
          urn: resource.urn,
          oldState: state(resource),
          newState: state(resource, news),
          replaceReasons: diff.replaces,
        });
        replaced.add(resource.urn);
      }
      for (const slot of deployed.resources.filter((r) => r.type === CERTIFICATE_SLOT)) {
        const version = deployed.resources.find(
          (r) => r.type === VERSION && slot.dependencies.includes(r.urn),
        )!;
        if (!replaced.has(version.urn)) continue;
        steps.push({
          op: "replace",
          urn: slot.urn,
          oldState: state(slot, masked(slot)),
          newState: state(slot, { ...masked(slot), value: UNKNOWN, endDate: UNKNOWN }),
          replaceReasons: ["endDate", "value"],
          diffReasons: ["endDate", "value"],
          detailedDiff: {
            endDate: { kind: "update-replace", inputDiff: true },
            value: { kind: "update-replace", inputDiff: true },
          },
        });
      }
      return steps;
    }

    let deployed: ProgramRun;
    let steps: PreviewStepJson[];
    before(async function () {
      this.timeout(30_000);
      deployed = await runProgram(config, { now: NOW });
      steps = await previewBetween(deployed, await runProgram(config, { now: NEXT_PERIOD }));
    });

    it("reports each mode's boundary as a rotation due, the stored IDs' renewed expiry included", () => {
      const result = classifyPreview(
        { config: toRawConfig(config), steps, changeSummary: { update: 7, replace: 3 } },
        { previewExitCode: EXIT_NO_CHANGES_EXPECTED, expectNoChanges: true },
      );
      assert.deepEqual(result.findings.map((f) => [f.name, f.op, f.category]).sort(), [
        ["agent-credentials-certificate-slot-b", "replace", "rotation"],
        ["agent-credentials-certificate-version-b", "replace", "rotation"],
        ["agent-credentials-client-id", "update", "rotation"],
        ["agent-credentials-tenant-id", "update", "rotation"],
        ["ci-bot-credentials-client-id", "update", "rotation"],
        ["ci-bot-credentials-tenant-id", "update", "rotation"],
        ["crm-sync-credentials-client-id", "update", "rotation"],
        ["crm-sync-credentials-client-secret", "update", "rotation"],
        ["crm-sync-credentials-slot-b", "replace", "rotation"],
        ["crm-sync-credentials-tenant-id", "update", "rotation"],
      ]);
      assert.equal(result.verdict, "rotation-due");
      const byName = (name: string) => result.findings.find((f) => f.name === name)!;
      assert.match(
        byName("agent-credentials-certificate-version-b").explanation,
        /Key Vault issues the next generation's version/,
      );
      assert.match(byName("ci-bot-credentials-client-id").explanation, /next period's expiry, nothing else/);
      assert.match(
        renderMarkdown(result),
        /\| `agent-credentials-certificate-version-b` \| `Key Vault certificate version` \|/,
      );
    });

    it("accepts a forced replacement of a certificate version with what must follow it, and nothing less", async () => {
      const urnOf = (name: string) => deployed.resources.find((r) => r.name === name)!.urn;
      const classify = (forced: string[], stepsOf: PreviewStepJson[]) =>
        classifyPreview(
          { config: toRawConfig(config), steps: stepsOf },
          { forcedReplacements: forced.map(urnOf) },
        );
      const summary = (result: ReturnType<typeof classifyPreview>) =>
        result.findings.map((f) => [f.name, f.category]).sort();

      // The current key leaked (slot a holds generation 10 on this date): its version, then its slot.
      const current = ["agent-credentials-certificate-version-a"];
      const onlyCurrent = classify(current, await forcedPreview(deployed, current));
      assert.equal(onlyCurrent.verdict, "rotation-due");
      assert.deepEqual(summary(onlyCurrent), [
        ["agent-credentials-certificate-slot-a", "rotation"],
        ["agent-credentials-certificate-version-a", "rotation"],
      ]);
      assert.match(onlyCurrent.findings.find((f) => f.name.endsWith("version-a"))!.explanation, /a new key/);

      // The previous key leaked: the current version is re-issued after it, and both slots register the new keys.
      const previous = ["agent-credentials-certificate-version-b"];
      const previousSteps = await forcedPreview(deployed, previous);
      const both = classify(previous, previousSteps);
      assert.equal(both.verdict, "rotation-due");
      assert.deepEqual(summary(both), [
        ["agent-credentials-certificate-slot-a", "rotation"],
        ["agent-credentials-certificate-slot-b", "rotation"],
        ["agent-credentials-certificate-version-a", "rotation"],
        ["agent-credentials-certificate-version-b", "rotation"],
      ]);
      assert.match(
        both.findings.find((f) => f.name.endsWith("version-a"))!.explanation,
        /Re-issued after the other slot's new version/,
      );

      // Both asked for (cannot tell which leaked): the same four replacements.
      assert.deepEqual(summary(classify([...previous, ...current], previousSteps)), summary(both));

      // The previous version alone (a program that does not re-issue the current one): Key Vault would serve it.
      const alone = classify(
        previous,
        previousSteps.filter((step) => !step.urn.endsWith("-a")),
      );
      assert.equal(alone.verdict, "drift");
      assert.deepEqual(summary(alone), [
        ["agent-credentials-certificate-slot-b", "drift"],
        ["agent-credentials-certificate-version-b", "drift"],
      ]);
      assert.match(
        alone.findings.find((f) => f.name.endsWith("version-b"))!.explanation,
        /previous slot's new version would be served/,
      );

      // Unasked, a current version Key Vault no longer serves is drift, said plainly.
      const unserved = classify([], [{ op: "replace", urn: urnOf(current[0]), replaceReasons: ["latest"] }]);
      assert.equal(unserved.verdict, "drift");
      assert.match(unserved.findings[0].explanation, /Key Vault no longer serves this slot's version/);

      // A slot re-registered with the same key revokes nothing.
      const slot = ["agent-credentials-certificate-slot-b"];
      const sameKey = classify(slot, [{ op: "replace", urn: urnOf(slot[0]), replaceReasons: [] }]);
      assert.equal(sameKey.verdict, "drift");
    });

    it("still calls drift what only looks like a rotation", () => {
      const find = (name: string) => steps.find((step) => parseUrn(step.urn).name === name)!;
      const verdictOf = (changed: PreviewStepJson[]) => {
        const names = new Set(changed.map((step) => step.urn));
        return classifyPreview(
          {
            config: toRawConfig(config),
            steps: [...steps.filter((step) => !names.has(step.urn)), ...changed],
          },
          { previewExitCode: EXIT_NO_CHANGES_EXPECTED },
        )
          .findings.filter((f) => f.category === "drift")
          .map((f) => f.name);
      };
      const version = find("agent-credentials-certificate-version-b");
      const slot = find("agent-credentials-certificate-slot-b");
      const clientId = find("ci-bot-credentials-client-id");
      const expiresAt = (step: PreviewStepJson, expires: number) => {
        const inputs = structuredClone(step.oldState!.inputs!) as {
          properties: { attributes: { expires: number } };
        };
        inputs.properties.attributes.expires = expires;
        return { ...step.oldState!, inputs };
      };
      const oldExpiry = (clientId.oldState!.inputs!.properties as { attributes: { expires: number } })
        .attributes.expires;
      // A version replaced for another subject (code not deployed), or back to an older generation.
      assert.deepEqual(verdictOf([{ ...version, replaceReasons: ["generation", "subject"] }]), [
        "agent-credentials-certificate-slot-b",
        "agent-credentials-certificate-version-b",
      ]);
      assert.deepEqual(
        verdictOf([
          {
            ...version,
            oldState: { ...version.oldState!, inputs: { ...version.oldState!.inputs, generation: "12" } },
          },
        ]),
        ["agent-credentials-certificate-slot-b", "agent-credentials-certificate-version-b"],
      );
      // A slot replaced while its version stays (its key credential removed or changed by hand).
      assert.deepEqual(verdictOf([version].map((step) => ({ ...step, op: "same" })).concat([slot])), [
        "agent-credentials-certificate-slot-b",
      ]);
      // The federated integration's stored ID: an expiry shortened by hand, or moved off the schedule.
      assert.deepEqual(verdictOf([{ ...clientId, oldState: expiresAt(clientId, oldExpiry - 86_400) }]), [
        "ci-bot-credentials-client-id",
      ]);
      // Moved back a period: the preview would shorten it, which no rotation does.
      const later = { ...clientId, oldState: expiresAt(clientId, oldExpiry + 2 * 90 * 86_400) };
      assert.deepEqual(verdictOf([later]), ["ci-bot-credentials-client-id"]);
    });
  });

  describe("command line", () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), "classify-preview-"));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    function run(args: string[], stdin = "") {
      const out: string[] = [];
      const err: string[] = [];
      const code = main(args, {
        stdin: () => stdin,
        stdout: (text) => out.push(text),
        stderr: (text) => err.push(text),
        now: new Date("2026-09-18T05:17:00Z"),
      });
      return { code, stdout: out.join(""), stderr: err.join("") };
    }

    it("writes the verdict for the workflow and the report, and exits 0 when classified", () => {
      const input = path.join(dir, "preview.json");
      writeFileSync(
        input,
        JSON.stringify(digest([slotRotation("crm-sync", "a"), secretFollowUp("crm-sync")])),
      );
      const output = path.join(dir, "github-output");
      const report = path.join(dir, "report.md");
      const result = run([
        "--input",
        input,
        "--preview-exit-code",
        "7",
        "--stack",
        "dev",
        "--github-output",
        output,
        "--markdown",
        report,
      ]);
      assert.equal(result.code, 0);
      assert.match(result.stdout, /rotation due \(not drift\)/);
      assert.equal(
        readFileSync(output, "utf8"),
        "verdict=rotation-due\ndrift-count=0\nrotation-count=2\nheadline=rotation due (not drift)\n",
      );
      assert.equal(readFileSync(report, "utf8"), result.stdout);
    });

    it("maps verdicts to exit codes with --exit-code, reading standard input", () => {
      const drift = JSON.stringify(digest([secretFollowUp("crm-sync")]));
      assert.equal(run(["--exit-code"], drift).code, 1);
      assert.equal(run(["--exit-code", "--preview-exit-code", "255"], drift).code, 2);
      assert.equal(run(["--exit-code"], "not json").code, 2);
      assert.equal(run(["--exit-code"], JSON.stringify(digest([]))).code, 0);
    });

    it("prints the classification as JSON and rejects bad arguments", () => {
      const json = JSON.parse(run(["--json", "--stack", "dev"], JSON.stringify(digest([]))).stdout) as {
        verdict: string;
      };
      assert.equal(json.verdict, "no-changes");
      const bad = run(["--preview-exit-code", "seven"]);
      assert.equal(bad.code, 64);
      assert.match(bad.stderr, /numeric exit code/);
    });
  });

  describe("fails closed", () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), "classify-closed-"));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** Runs the CLI over a preview text; returns its exit code and what it wrote for the workflow. */
    function classifyText(text: string, args: string[] = ["--preview-exit-code", "7"]) {
      const input = path.join(dir, "preview.json");
      const output = path.join(dir, "github-output");
      writeFileSync(input, text);
      writeFileSync(output, "");
      const code = main(["--input", input, "--github-output", output, "--stack", "dev", ...args], {
        stdin: () => "",
        stdout: () => undefined,
        stderr: () => undefined,
      });
      return { code, output: readFileSync(output, "utf8") };
    }

    const valid = JSON.stringify(digest([slotRotation("crm-sync", "a"), secretFollowUp("crm-sync")]));

    it("gives the verdict failed and exit 2 for malformed and type-confused previews", () => {
      const cases: Record<string, string> = {
        empty: "",
        whitespace: "  \n",
        "JSON null": "null",
        "a list": "[]",
        "a number": "7",
        "an error message": "error: could not load plugin azure-native",
        "steps as an object": JSON.stringify({ steps: { op: "update" } }),
        "a step that is a number": JSON.stringify({ steps: [1] }),
        "a step without a URN": JSON.stringify({ steps: [{ op: "update" }] }),
        "an op that is a number": JSON.stringify({ steps: [{ op: 3, urn: "urn:pulumi:a::b::c::d" }] }),
        "replace reasons as a string": JSON.stringify({
          steps: [{ op: "replace", urn: "urn:pulumi:a::b::c::d", replaceReasons: "endDate" }],
        }),
        "diagnostics as a string": JSON.stringify({ steps: [], diagnostics: "error" }),
        "a count that is a string": JSON.stringify({ steps: [], changeSummary: { update: "1" } }),
        "a negative count": JSON.stringify({ steps: [], changeSummary: { update: -1 } }),
        "config as a list": JSON.stringify({ config: [], steps: [] }),
      };
      for (const [name, text] of Object.entries(cases)) {
        const result = classifyText(text);
        assert.equal(result.code, 2, name);
        assert.match(result.output, /^verdict=failed$/m, name);
      }
    });

    it("gives the verdict failed for every truncation of a valid preview", () => {
      assert.match(classifyText(valid).output, /^verdict=rotation-due$/m);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: valid.length - 1 }), (length) => {
          const result = classifyPreviewText(valid.slice(0, length));
          return result === "failed";
        }),
        { numRuns: 300 },
      );
    });

    it("never reports no changes for a preview that exited 7, whatever the JSON says", () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
          const verdict = classifyPreviewText(JSON.stringify(value), 7);
          return verdict !== "no-changes";
        }),
        { numRuns: 300 },
      );
      // Type-confused fields of an otherwise valid digest: any one field replaced by any JSON value.
      const base = JSON.parse(valid) as Record<string, unknown>;
      fc.assert(
        fc.property(
          fc.constantFrom("steps", "diagnostics", "changeSummary", "config"),
          fc.jsonValue({ maxDepth: 3 }),
          (field, value) => {
            const verdict = classifyPreviewText(JSON.stringify({ ...base, [field]: value }), 7);
            return verdict !== "no-changes";
          },
        ),
        { numRuns: 300 },
      );
    });

    it("refuses a preview larger than it reads, without reading it", () => {
      const input = path.join(dir, "huge.json");
      writeFileSync(input, "{");
      truncateSync(input, MAX_INPUT_BYTES + 1);
      const output = path.join(dir, "github-output");
      const code = main(["--input", input, "--github-output", output], {
        stdin: () => "",
        stdout: () => undefined,
        stderr: () => undefined,
      });
      assert.equal(code, 2);
      assert.match(readFileSync(output, "utf8"), /^verdict=failed$/m);
      // Large but within the limit: thousands of steps are classified, and the report still fits an issue.
      const many = digest(
        Array.from({ length: 3000 }, (_, index) => ({
          op: "update",
          urn: urn("azuread:index/application:Application", `app-${index}`),
          diffReasons: ["displayName"],
        })),
      );
      const result = classifyPreview(many, { stack: "dev", previewExitCode: 7 });
      assert.equal(result.verdict, "drift");
      assert.ok(renderMarkdown(result).length <= 60_000);
    });

    it("fails when the exit code contradicts the steps, or when the preview did not run", () => {
      assert.match(
        classifyText(valid, ["--preview-exit-code", "0", "--expected-no-changes"]).output,
        /^verdict=failed$/m,
      );
      assert.match(classifyText(valid, ["--preview-exit-code", "0"]).output, /^verdict=rotation-due$/m);
      const missing = path.join(dir, "absent.json");
      const output = path.join(dir, "github-output-2");
      const io = { stdin: () => "", stdout: () => undefined, stderr: () => undefined };
      assert.equal(main(["--input", missing, "--github-output", output], io), 2);
      assert.match(readFileSync(output, "utf8"), /^verdict=failed$/m);
      // An empty exit code (the preview step was skipped) is a usage error, and still a failed verdict.
      const usage = path.join(dir, "github-output-3");
      assert.equal(main(["--preview-exit-code", "", "--github-output", usage], io), 64);
      assert.equal(readFileSync(usage, "utf8"), "verdict=failed\nheadline=drift check failed\n");
    });

    it("renders text from the preview so that it cannot mention, link, or forge a marker", () => {
      const hostile =
        "denied for @octocat see [docs](https://evil.example) <!-- drift-check:prod --> `x` | y\n## heading <img src=x>";
      const result = classifyPreview(
        digest([{ op: "update", urn: urn("azuread:index/application:Application", `app ${hostile}`) }], {
          diagnostics: [{ severity: "error", message: hostile }],
        }),
        { stack: "dev <!-- drift-check:prod -->", previewExitCode: 7 },
      );
      const markdown = renderMarkdown(result);
      assert.doesNotMatch(markdown, /<!--|<img/);
      const outsideCode = markdown.replace(/`[^`\n]*`/g, "");
      assert.doesNotMatch(outsideCode, /@octocat|evil\.example|## heading/);
      for (const line of markdown.split("\n").filter((l) => l.startsWith("| `app"))) {
        assert.equal(line.split(/(?<!\\)\|/).length, 7, `a hostile name stays in one table cell: ${line}`);
      }
    });
  });
});
