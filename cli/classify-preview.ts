/**
 * Classifies the output of `pulumi preview --refresh --expect-no-changes --json` for drift detection.
 *
 * A scheduled drift check must not cry wolf on the one change this stack makes on purpose: the two-slot
 * credential rotation. When a rotation period ends, the next preview shows, per integration:
 *
 * - client secret: the older `ApplicationPassword` slot replaced (its `rotateWhenChanged` generation and dates
 *   moved on) and the Key Vault client-secret updated to the new current slot;
 * - certificate: the older slot's `KeyVaultCertificate` version replaced (its generation moved on) and that
 *   slot's `ApplicationCertificate` replaced with the new version's public key and end date;
 * - in every mode that stores them, the client-id and tenant-id secrets updated with the next period's expiry
 *   (a federated integration rotates nothing else, so for it this renewal is the whole rotation).
 *
 * Those are reported as "rotation due" (the weekly rotation run, or any `pulumi up`, performs them), and so are
 * the replacements asked for with `--replace` after a leak (`--forced-replace`): a client-secret slot, or a
 * certificate version with what follows it (its slot's registration and, when it is the previous slot's, the
 * current slot's version re-issued after it, which Key Vault must keep serving). Everything else that the
 * preview would change is drift: someone changed or deleted a resource outside Pulumi, or the code on main
 * was not deployed.
 *
 * Input: the preview's JSON digest (`{ config, steps: [{ op, urn, oldState, newState, diffReasons,
 * replaceReasons, detailedDiff }], diagnostics, changeSummary }`) and the preview's exit code (Pulumi exits 7,
 * "no changes expected", when `--expect-no-changes` saw changes; anything else non-zero is a failed preview).
 * Nothing secret is read or printed: the digest masks secret values, and the report names resources and
 * property paths only.
 *
 * Fails closed: input that is missing, truncated, too large or of a shape this does not know, an exit code
 * that contradicts the steps, or any error while classifying gives the verdict `failed` and exit code 2, and
 * the verdict is written even when the arguments are wrong. Text from the preview is rendered only inside
 * code spans (see ./report.ts), so it cannot mention people, link, or forge the workflows' marker comments.
 *
 * Usage:
 *   npm run pulumi -- preview --stack dev --refresh --expect-no-changes --json > preview.json; code=$?
 *   npm run --silent classify-preview -- --input preview.json --preview-exit-code "$code" --stack dev \
 *     --markdown report.md --github-output "$GITHUB_OUTPUT"
 */
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { z } from "zod";
import { identifierExpiryPeriod, identifierRenewalDays } from "../rules/identifierRenewal";
import { appendOutputs, code, fitReport, readBounded, recordFailure, schemaProblems } from "./report";

export const EXIT_NO_CHANGES_EXPECTED = 7;
export const PROJECT = "smartspace-integration";
export const DOCS = "docs/operations.md#drift-findings";

const PASSWORD_TYPE = "azuread:index/applicationPassword:ApplicationPassword";
const CERTIFICATE_SLOT_TYPE = "azuread:index/applicationCertificate:ApplicationCertificate";
const CERTIFICATE_VERSION_TYPE = "pulumi-nodejs:dynamic/smartspace:KeyVaultCertificate";
const WORKSPACE_ACCESS_TYPE = /^pulumi-nodejs:dynamic(:Resource|\/smartspace:WorkspaceAccess)$/;
const SECRET_TYPE = /^azure-native[^:]*:keyvault(\/[a-z0-9]+)?:Secret$/i;
const STACK_TYPE = "pulumi:pulumi:Stack";
/** Inputs that move on their own when a rotation period ends; nothing else may differ for a rotation. */
const ROTATION_INPUTS = new Set(["rotateWhenChanged", "startDate", "endDate"]);
/**
 * What differs when a certificate version's period ends: its generation, and the version it is issued after
 * (the slot becomes the current one). The provider's code version and the serialized shim may differ too (a
 * code update the new version is issued with); no input that asks Key Vault for another kind of certificate may.
 */
const CERTIFICATE_VERSION_ROTATION_INPUTS = new Set([
  "generation",
  "issuedAfter",
  "providerVersion",
  "__provider",
]);
/**
 * What differs for the current slot's version when the previous slot's is re-issued: the version it is issued
 * after, which Key Vault's "latest" depends on (and the code version it is issued with).
 */
const CERTIFICATE_VERSION_FOLLOW_INPUTS = new Set(["issuedAfter", "providerVersion", "__provider"]);
/** What a certificate slot's replacement after a new version changes: the public key and its end date. */
const CERTIFICATE_SLOT_ROTATION_INPUTS = new Set(["value", "endDate", "startDate"]);
/** The identifier secrets, whose expiry each period renews. */
const IDENTIFIER_SECRET_NAME = /^smartspace-(.+)-(client-id|tenant-id)$/;
/** What the Key Vault client-secret update that follows a rotation may touch. */
const SECRET_FOLLOW_UP_PATHS = [
  "properties.value",
  "properties.attributes",
  "properties.contentType",
  "tags",
];
/** Steps that read or refresh state; they change nothing in Azure. */
const PASSIVE_OPS = new Set(["same", "refresh", "read", "discard", "discard-replaced", "read-replacement"]);
const REPLACE_OPS = new Set(["replace", "create-replacement", "delete-replaced"]);

interface ResourceStateJson {
  readonly urn?: string;
  readonly type?: string;
  readonly parent?: string;
  readonly inputs?: Record<string, unknown>;
}

export interface PreviewStepJson {
  readonly op: string;
  readonly urn: string;
  readonly oldState?: ResourceStateJson;
  readonly newState?: ResourceStateJson;
  readonly diffReasons?: readonly string[];
  readonly replaceReasons?: readonly string[];
  readonly detailedDiff?: Readonly<Record<string, { kind: string; inputDiff?: boolean }>> | null;
}

export interface PreviewDigestJson {
  readonly config?: Readonly<Record<string, unknown>>;
  readonly steps?: readonly PreviewStepJson[];
  readonly diagnostics?: readonly {
    urn?: string | null;
    message?: string | null;
    severity?: string | null;
  }[];
  readonly changeSummary?: Readonly<Record<string, number>> | null;
}

/**
 * The part of the digest this reads, checked before anything is classified: a field of the wrong type is a
 * digest this does not understand, never "no steps". Other fields are allowed (the CLI adds some over time).
 */
const STATE_SCHEMA = z.looseObject({
  urn: z.string().optional(),
  type: z.string().optional(),
  parent: z.string().optional(),
  inputs: z.record(z.string(), z.unknown()).optional(),
});
const DIGEST_SCHEMA = z.looseObject({
  config: z.record(z.string(), z.unknown()).optional(),
  steps: z
    .array(
      z.looseObject({
        op: z.string().min(1),
        urn: z.string().min(1),
        oldState: STATE_SCHEMA.nullish(),
        newState: STATE_SCHEMA.nullish(),
        diffReasons: z.array(z.string()).nullish(),
        replaceReasons: z.array(z.string()).nullish(),
        detailedDiff: z.record(z.string(), z.looseObject({ kind: z.string() })).nullish(),
      }),
    )
    .optional(),
  diagnostics: z
    .array(
      z.looseObject({
        urn: z.string().nullish(),
        message: z.string().nullish(),
        severity: z.string().nullish(),
      }),
    )
    .optional(),
  changeSummary: z.record(z.string(), z.number().int().nonnegative()).nullish(),
});

/** Checks a parsed digest's shape; throws naming the first few fields that are not what Pulumi writes. */
export function validateDigest(value: unknown): PreviewDigestJson {
  const result = DIGEST_SCHEMA.safeParse(value);
  if (!result.success) {
    throw new Error(
      `the preview JSON does not have the shape pulumi preview --json writes (${schemaProblems(result.error.issues)})`,
    );
  }
  return result.data as PreviewDigestJson;
}

export type Verdict = "no-changes" | "rotation-due" | "drift" | "failed";

export interface Finding {
  readonly category: "rotation" | "drift";
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** The step's operation (create, update, replace, delete, ...). */
  readonly op: string;
  /** Property paths that differ, as Pulumi reports them. */
  readonly properties: readonly string[];
  /** What the finding means and what to do about it. */
  readonly explanation: string;
}

export interface Classification {
  readonly verdict: Verdict;
  readonly stack?: string;
  readonly findings: readonly Finding[];
  /** Why the preview cannot be trusted (failed run, errors, unreadable output). */
  readonly problems: readonly string[];
}

export interface ClassifyOptions {
  readonly stack?: string;
  /** Exit code of `pulumi preview`; 0 and 7 are the only successful outcomes with --expect-no-changes. */
  readonly previewExitCode?: number;
  /** URNs replaced on purpose with `--replace` (a forced rotation); their replacement is a rotation. */
  readonly forcedReplacements?: readonly string[];
  /** The preview ran with --expect-no-changes, so exit 0 means it saw no change. */
  readonly expectNoChanges?: boolean;
}

export function parseUrn(urn: string): { type: string; name: string; qualifiedType: string } {
  // urn:pulumi:<stack>::<project>::<parent types$...$type>::<name>
  const parts = urn.split("::");
  if (parts.length < 4 || !parts[0].startsWith("urn:pulumi:")) {
    return { type: "", name: urn, qualifiedType: "" };
  }
  const qualifiedType = parts[2];
  const type = qualifiedType.split("$").pop() ?? qualifiedType;
  return { type, name: parts.slice(3).join("::"), qualifiedType };
}

/** Reads a preview digest from `pulumi preview --json` output, tolerating noise printed before the JSON. */
export function parsePreviewJson(text: string): PreviewDigestJson {
  const trimmed = text.trim();
  if (trimmed === "") {
    throw new Error("the preview printed no JSON (empty output)");
  }
  const candidates = [trimmed];
  const start = trimmed.search(/^\{/m);
  if (start > 0) candidates.push(trimmed.slice(start));
  for (const candidate of candidates) {
    try {
      const parsed: unknown = JSON.parse(candidate);
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        return validateDigest(parsed);
      }
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      // Not JSON from here: try the next candidate.
    }
  }
  throw new Error(
    `the preview output is not a JSON object (starts with ${JSON.stringify(trimmed.slice(0, 60))})`,
  );
}

function changedPaths(step: PreviewStepJson): string[] {
  const paths = new Set<string>([
    ...(step.replaceReasons ?? []),
    ...(step.diffReasons ?? []),
    ...Object.keys(step.detailedDiff ?? {}),
  ]);
  return [...paths].sort();
}

function topLevel(path: string): string {
  return path.split(/[.[]/, 1)[0];
}

/** What the classification needs of an integration's configuration. */
interface IntegrationConfig {
  readonly name: string;
  /** `credential.type`, `secret` when absent. */
  readonly type: string;
  readonly rotationDays?: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The integrations of the stack's configuration, as the preview recorded it; none when it cannot be read. */
function integrationConfigs(config: PreviewDigestJson["config"]): IntegrationConfig[] {
  const raw = config?.[`${PROJECT}:integrations`];
  if (typeof raw !== "string") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.filter(isRecord).flatMap((entry) => {
    if (typeof entry.name !== "string") return [];
    const credential = isRecord(entry.credential) ? entry.credential : {};
    const days = [credential.rotationDays, entry.rotationDays].find((value) => typeof value === "number");
    return [
      {
        name: entry.name,
        type: typeof credential.type === "string" ? credential.type : "secret",
        rotationDays: days as number | undefined,
      },
    ];
  });
}

/**
 * Keys that tie a resource to an integration: its parent component, the integration whose name prefixes the
 * resource name (longest match), and for Key Vault secrets the integration named in tags or secret name.
 */
function integrationKeys(step: PreviewStepJson, names: readonly string[]): Set<string> {
  const keys = new Set<string>();
  const state = step.newState ?? step.oldState;
  if (state?.parent) keys.add(`parent:${state.parent}`);
  const { name } = parseUrn(step.urn);
  const prefix = [...names]
    .sort((a, b) => b.length - a.length)
    .find((candidate) => name.startsWith(`${candidate}-`));
  if (prefix) keys.add(`integration:${prefix}`);
  const inputs = state?.inputs ?? {};
  const tags = inputs.tags;
  if (tags !== null && typeof tags === "object") {
    const tagged = (tags as Record<string, unknown>)["smartspace-integration"];
    if (typeof tagged === "string") keys.add(`integration:${tagged}`);
  }
  const secretName =
    typeof inputs.secretName === "string"
      ? /^smartspace-(.+)-(client-secret|client-id|tenant-id)$/.exec(inputs.secretName)
      : null;
  if (secretName) keys.add(`integration:${secretName[1]}`);
  return keys;
}

function related(a: Set<string>, b: Set<string>): boolean {
  // When either side cannot be placed, the secret update is attributed to the rotation in the same preview.
  if (a.size === 0 || b.size === 0) return true;
  return [...a].some((key) => b.has(key));
}

/** Top-level inputs that differ between the step's old and new state, when both are known. */
function changedInputs(step: PreviewStepJson): string[] | undefined {
  const before = step.oldState?.inputs;
  const after = step.newState?.inputs;
  if (before === undefined || after === undefined) return undefined;
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
  );
}

function generationOf(state: PreviewStepJson["oldState"]): number | undefined {
  const generation = state?.inputs?.generation;
  return typeof generation === "string" && /^-?\d+$/.test(generation) ? Number(generation) : undefined;
}

/** A client-secret slot's or certificate version's replacement because its rotation period ended (or forced). */
function isRotationReplacement(step: PreviewStepJson, type: string, forced: ReadonlySet<string>): boolean {
  if (!REPLACE_OPS.has(step.op)) return false;
  if (type === PASSWORD_TYPE) {
    if (forced.has(step.urn)) return true;
    const changed = changedPaths(step).map(topLevel);
    return changed.includes("rotateWhenChanged") && changed.every((key) => ROTATION_INPUTS.has(key));
  }
  if (type === CERTIFICATE_VERSION_TYPE) {
    // The dynamic provider names what forces the replacement but not every input that differs: compare the
    // states too. A new version is for a later generation, or on request for the same one (a new key); one
    // that Key Vault no longer served ("latest") is re-issued by the requested replacement anyway.
    const changed = [...changedPaths(step).map(topLevel), ...(changedInputs(step) ?? [])];
    const before = generationOf(step.oldState);
    const after = generationOf(step.newState);
    if (forced.has(step.urn)) {
      return (
        changed.every((key) => CERTIFICATE_VERSION_ROTATION_INPUTS.has(key) || key === "latest") &&
        (before === undefined || after === undefined || after >= before)
      );
    }
    return (
      changed.includes("generation") &&
      changed.every((key) => CERTIFICATE_VERSION_ROTATION_INPUTS.has(key)) &&
      (before === undefined || after === undefined || after > before)
    );
  }
  return false;
}

/** The other slot's version of the same certificate: `<name>-version-a` for `<name>-version-b`, and back. */
function otherSlotVersion(versionUrn: string): string | undefined {
  const slot = /-version-([ab])$/.exec(versionUrn)?.[1];
  return slot === undefined
    ? undefined
    : versionUrn.replace(/-version-[ab]$/, `-version-${slot === "a" ? "b" : "a"}`);
}

/** The current slot's version re-issued after the previous slot's new version (its `issuedAfter` moved on). */
function isIssuedAfterFollowUp(
  step: PreviewStepJson,
  type: string,
  rotatedUrns: ReadonlySet<string>,
): boolean {
  if (type !== CERTIFICATE_VERSION_TYPE || !REPLACE_OPS.has(step.op)) return false;
  const other = otherSlotVersion(step.urn);
  const changed = [...changedPaths(step).map(topLevel), ...(changedInputs(step) ?? [])];
  return (
    other !== undefined &&
    rotatedUrns.has(other) &&
    changed.includes("issuedAfter") &&
    changed.every((key) => CERTIFICATE_VERSION_FOLLOW_INPUTS.has(key))
  );
}

/**
 * A requested certificate version replacement that would leave Key Vault serving the wrong version: the
 * previous slot's version (it follows nothing) re-issued while the current slot's is not re-issued after it.
 * The new version would be the latest, so consumers would load the previous slot's certificate, whose
 * registration ends a period before the current one's.
 */
function leavesOlderVersionServed(step: PreviewStepJson, rotatedUrns: ReadonlySet<string>): boolean {
  const other = otherSlotVersion(step.urn);
  return step.newState?.inputs?.issuedAfter === undefined && (other === undefined || !rotatedUrns.has(other));
}

/** The certificate version a certificate slot registers: `<name>-slot-<s>` holds `<name>-version-<s>`. */
function versionOfSlot(slotUrn: string): string | undefined {
  return /-slot-([ab])$/.test(slotUrn)
    ? slotUrn
        .replace(`$${CERTIFICATE_SLOT_TYPE}::`, `$${CERTIFICATE_VERSION_TYPE}::`)
        .replace(/-slot-([ab])$/, "-version-$1")
    : undefined;
}

/** A certificate slot replaced because its version was: only the public key and its dates change. */
function isCertificateSlotFollowUp(
  step: PreviewStepJson,
  type: string,
  rotatedUrns: ReadonlySet<string>,
): boolean {
  if (type !== CERTIFICATE_SLOT_TYPE || !REPLACE_OPS.has(step.op)) return false;
  const version = versionOfSlot(step.urn);
  const changed = changedPaths(step).map(topLevel);
  return (
    version !== undefined &&
    rotatedUrns.has(version) &&
    changed.length > 0 &&
    changed.every((key) => CERTIFICATE_SLOT_ROTATION_INPUTS.has(key))
  );
}

function isSecretFollowUp(step: PreviewStepJson, type: string): boolean {
  if (!SECRET_TYPE.test(type) || step.op !== "update") return false;
  const changed = changedPaths(step);
  return (
    changed.length > 0 &&
    changed.every(
      (path) =>
        SECRET_FOLLOW_UP_PATHS.some(
          (allowed) => path === allowed || path.startsWith(`${allowed}.`) || path.startsWith(`${allowed}[`),
        ) || path === "properties",
    )
  );
}

function expiresOf(state: PreviewStepJson["oldState"]): number | undefined {
  const properties = state?.inputs?.properties;
  const attributes = isRecord(properties) ? properties.attributes : undefined;
  const expires = isRecord(attributes) ? attributes.expires : undefined;
  return typeof expires === "number" ? expires : undefined;
}

/**
 * An identifier secret whose expiry moved from one period's scheduled value to a later period's, and nothing
 * else: the renewal every rotation period brings, in any credential mode, even when nothing else rotates (a
 * federated integration). An expiry changed by hand lies on no period's schedule.
 */
function isIdentifierRenewal(
  step: PreviewStepJson,
  type: string,
  integrations: readonly IntegrationConfig[],
): boolean {
  if (!SECRET_TYPE.test(type) || step.op !== "update") return false;
  const secretName = step.newState?.inputs?.secretName;
  const match = typeof secretName === "string" ? IDENTIFIER_SECRET_NAME.exec(secretName) : null;
  const integration = integrations.find((candidate) => candidate.name === match?.[1]);
  const changed = changedPaths(step);
  const before = expiresOf(step.oldState);
  const after = expiresOf(step.newState);
  if (
    integration === undefined ||
    before === undefined ||
    after === undefined ||
    changed.length === 0 ||
    !changed.every((path) =>
      ["properties", "properties.attributes", "properties.attributes.expires"].includes(path),
    ) ||
    !(changedInputs(step) ?? []).every((key) => key === "properties")
  ) {
    return false;
  }
  let days: number;
  try {
    days = identifierRenewalDays(integration.type, integration.rotationDays);
    const from = identifierExpiryPeriod(before, days);
    const to = identifierExpiryPeriod(after, days);
    return from !== undefined && to !== undefined && to > from;
  } catch {
    // A rotationDays the program would refuse: not a schedule this can recognise.
    return false;
  }
}

const TYPE_LABELS: Readonly<Record<string, string>> = {
  "azuread:index/application:Application": "app registration",
  "azuread:index/servicePrincipal:ServicePrincipal": "service principal",
  "azuread:index/appRoleAssignment:AppRoleAssignment": "Smartspace app role assignment",
  [PASSWORD_TYPE]: "client secret slot",
  [CERTIFICATE_SLOT_TYPE]: "client certificate slot",
  [CERTIFICATE_VERSION_TYPE]: "Key Vault certificate version",
  "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential":
    "federated identity credential",
  "azure-native:managedidentity:UserAssignedIdentity": "managed identity",
  "azure-native:keyvault:Vault": "Key Vault",
  "azure-native:keyvault:Secret": "Key Vault secret",
  "azure-native:authorization:RoleAssignment": "Key Vault reader role assignment",
  "random:index/randomString:RandomString": "vault name suffix",
};

function label(type: string): string {
  if (TYPE_LABELS[type]) return TYPE_LABELS[type];
  if (WORKSPACE_ACCESS_TYPE.test(type)) return "Smartspace workspace access grant";
  if (type.startsWith("pulumi:providers:")) return "provider configuration";
  return type;
}

function driftExplanation(op: string, type: string, properties: readonly string[]): string {
  const what = label(type);
  if (type.startsWith("pulumi:providers:")) {
    return `The ${what} changed in code (e.g. a provider upgrade) and is not deployed yet; run the deploy workflow.`;
  }
  switch (op) {
    case "create":
      return WORKSPACE_ACCESS_TYPE.test(type)
        ? "The workspace grant is gone from Smartspace (revoked by hand?) or the workspace was added in code but not deployed; the next `pulumi up` grants it again."
        : `The ${what} is missing from Azure (deleted outside Pulumi) or was added in code but not deployed; the next \`pulumi up\` creates it.`;
    case "delete":
      return `The ${what} is in the stack's state but no longer declared (removed from code or config and not deployed); the next \`pulumi up\` deletes it.`;
    case "update":
      return `The ${what} differs from the program in ${properties.join(", ") || "its properties"}: changed outside Pulumi, or a code change is not deployed. The next \`pulumi up\` restores the declared values; keep a manual change only by putting it in code.`;
    default:
      if (REPLACE_OPS.has(op) && type === CERTIFICATE_VERSION_TYPE && properties.includes("latest")) {
        return "Key Vault no longer serves this slot's version from its versionless URIs (a version was issued after it, by hand or by a run that failed before recording it), so consumers load another certificate; the next `pulumi up` issues a new current version.";
      }
      if (REPLACE_OPS.has(op)) {
        return `The ${what} would be replaced (${properties.join(", ") || "forced"}): an input that cannot change in place differs from Azure. Check who changed it before the next \`pulumi up\` replaces it.`;
      }
      return `The preview would ${op} the ${what}.`;
  }
}

/** A failed classification that says why; what every error while classifying turns into. */
export function failedClassification(stack: string | undefined, problem: string): Classification {
  return { verdict: "failed", stack, findings: [], problems: [problem] };
}

/**
 * Classifies a preview digest; pure, so tests can feed it any shape the CLI produces. Never throws: an input it
 * cannot handle is a failed classification, not an exception a caller might swallow as success.
 */
export function classifyPreview(digest: PreviewDigestJson, options: ClassifyOptions = {}): Classification {
  try {
    return classifyValidated(validateDigest(digest), options);
  } catch (error) {
    return failedClassification(options.stack, `could not classify the preview: ${(error as Error).message}`);
  }
}

function classifyValidated(digest: PreviewDigestJson, options: ClassifyOptions): Classification {
  const problems: string[] = [];
  const exitCode = options.previewExitCode;
  if (exitCode !== undefined && exitCode !== 0 && exitCode !== EXIT_NO_CHANGES_EXPECTED) {
    problems.push(
      `pulumi preview failed with exit code ${exitCode}; see the job log (policy violations and errors are printed there)`,
    );
  }
  for (const diagnostic of digest.diagnostics ?? []) {
    if (diagnostic.severity === "error") {
      problems.push(
        `error${diagnostic.urn ? ` on ${diagnostic.urn}` : ""}: ${(diagnostic.message ?? "").trim() || "(no message)"}`,
      );
    }
  }

  const forced = new Set(options.forcedReplacements ?? []);
  const integrations = integrationConfigs(digest.config);
  const names = integrations.map((integration) => integration.name);
  // Logical replacement steps come with create-replacement/delete-replaced companions; report a URN once.
  const byUrn = new Map<string, PreviewStepJson>();
  for (const step of digest.steps ?? []) {
    const { type } = parseUrn(step.urn);
    if (PASSIVE_OPS.has(step.op) || type === STACK_TYPE) continue;
    const seen = byUrn.get(step.urn);
    if (!seen || (step.op === "replace" && seen.op !== "replace")) byUrn.set(step.urn, step);
  }
  const steps = [...byUrn.values()];

  const rotations = steps.filter((step) => isRotationReplacement(step, parseUrn(step.urn).type, forced));
  const rotatedUrns = new Set(rotations.map((step) => step.urn));
  const followers = steps.filter(
    (step) => !rotatedUrns.has(step.urn) && isIssuedAfterFollowUp(step, parseUrn(step.urn).type, rotatedUrns),
  );
  for (const step of followers) rotatedUrns.add(step.urn);
  // Checked once every replacement is known; such a version and what follows it are drift, not a rotation.
  const unsafe = rotations.filter(
    (step) =>
      forced.has(step.urn) &&
      parseUrn(step.urn).type === CERTIFICATE_VERSION_TYPE &&
      leavesOlderVersionServed(step, rotatedUrns),
  );
  for (const step of unsafe) {
    rotations.splice(rotations.indexOf(step), 1);
    rotatedUrns.delete(step.urn);
  }
  const rotationKeys = rotations.map((step) => integrationKeys(step, names));
  const findings: Finding[] = steps.map((step) => {
    const { type, name } = parseUrn(step.urn);
    const properties = changedPaths(step);
    const finding = (category: Finding["category"], explanation: string): Finding => ({
      category,
      urn: step.urn,
      type,
      name,
      op: step.op,
      properties,
      explanation,
    });
    if (unsafe.includes(step)) {
      return finding(
        "drift",
        "Replaced on request, but alone: Key Vault serves the version issued last, so the previous slot's new version would be served instead of the current slot's, whose version must be re-issued after it. The program does that (issuedAfter) once the code on main is deployed; otherwise replace both versions.",
      );
    }
    if (followers.includes(step)) {
      return finding(
        "rotation",
        "Re-issued after the other slot's new version: Key Vault serves the version issued last, which must stay the current slot's. A new key: consumers load it when they next read Key Vault, and the old version is disabled.",
      );
    }
    if (rotations.includes(step)) {
      return finding(
        "rotation",
        forced.has(step.urn)
          ? type === CERTIFICATE_VERSION_TYPE
            ? "Replaced on request (--replace): Key Vault issues a new version (a new key) for the slot, the slot registers it, and the old version is disabled and its registration deleted."
            : "Replaced on request (--replace): a new credential is issued and the old one deleted."
          : type === CERTIFICATE_VERSION_TYPE
            ? "The slot's rotation period ended: Key Vault issues the next generation's version (the latest, which the versionless URIs serve) and the replaced one is disabled. The other slot's certificate stays registered meanwhile."
            : "The slot's rotation period ended: the older slot is re-issued with the next generation's dates. The other slot stays valid meanwhile.",
      );
    }
    if (isCertificateSlotFollowUp(step, type, rotatedUrns)) {
      return finding(
        "rotation",
        "Follows the new certificate version: the slot is registered again with its public key and end date; the other slot stays valid meanwhile.",
      );
    }
    const identifier =
      typeof step.newState?.inputs?.secretName === "string" &&
      IDENTIFIER_SECRET_NAME.test(step.newState.inputs.secretName);
    if (isIdentifierRenewal(step, type, integrations)) {
      return finding(
        "rotation",
        "The rotation period ended: the stored client or tenant ID gets a new version with the next period's expiry, nothing else.",
      );
    }
    if (isSecretFollowUp(step, type)) {
      const keys = integrationKeys(step, names);
      if (rotationKeys.some((rotation) => related(rotation, keys))) {
        return finding(
          "rotation",
          identifier
            ? "Follows the rotation: the stored client or tenant ID gets a new version with the next period's expiry."
            : "Follows the slot rotation: the Key Vault client secret gets a new version holding the current slot; consumers keep the versionless URI.",
        );
      }
    }
    return finding("drift", driftExplanation(step.op, type, properties));
  });

  const summaryChanges = Object.entries(digest.changeSummary ?? {}).filter(
    ([op, count]) => count > 0 && !PASSIVE_OPS.has(op),
  );
  if (findings.length === 0 && (summaryChanges.length > 0 || exitCode === EXIT_NO_CHANGES_EXPECTED)) {
    findings.push({
      category: "drift",
      urn: "",
      type: "",
      name: "(not itemised)",
      op: summaryChanges.map(([op, count]) => `${op} ${count}`).join(", ") || "changes",
      properties: [],
      explanation:
        "The preview reported changes but listed none it could attribute to a resource; read the job log's preview output.",
    });
  }

  if (options.expectNoChanges && exitCode === 0 && findings.length > 0) {
    // With --expect-no-changes, exit 0 means "no changes": steps that change something contradict it.
    problems.push(
      `pulumi preview exited 0 (no changes) but listed ${findings.length} change(s); the output does not belong to this run or was altered`,
    );
  }

  let verdict: Verdict = "no-changes";
  if (problems.length > 0) verdict = "failed";
  else if (findings.some((finding) => finding.category === "drift")) verdict = "drift";
  else if (findings.length > 0) verdict = "rotation-due";
  return { verdict, stack: options.stack, findings, problems };
}

const HEADLINE: Readonly<Record<Verdict, string>> = {
  "no-changes": "no drift",
  "rotation-due": "rotation due (not drift)",
  drift: "drift detected",
  failed: "drift check failed",
};

/** Rows listed per table; a preview that changes more than this is summarised, not itemised. */
const MAX_ROWS = 200;

function table(findings: readonly Finding[]): string[] {
  const cell = (text: string) => code(text, { inTable: true });
  const rows = findings.slice(0, MAX_ROWS).map(
    (finding) =>
      `| ${cell(finding.name)} | ${label(finding.type) ? cell(label(finding.type)) : "-"} | ${cell(finding.op)} | ${
        finding.properties.length > 0
          ? finding.properties
              .slice(0, 10)
              .map((p) => cell(p))
              .join(", ") +
            (finding.properties.length > 10 ? ` and ${finding.properties.length - 10} more` : "")
          : "-"
      } | ${finding.explanation.replace(/\|/g, "\\|")} |`,
  );
  if (findings.length > MAX_ROWS)
    rows.push(`| ... | | | | ${findings.length - MAX_ROWS} more; see the job log |`);
  return ["| Resource | Kind | Operation | Changed | Meaning |", "| --- | --- | --- | --- | --- |", ...rows];
}

/** A Markdown report for the job summary and the drift issue. Text from the preview appears only as code. */
export function renderMarkdown(classification: Classification, now: Date = new Date()): string {
  const stack = code(classification.stack ?? "(stack)");
  const lines = [`## Drift check of stack ${stack}: ${HEADLINE[classification.verdict]}`, ""];
  lines.push(`Checked ${now.toISOString()} with \`pulumi preview --refresh --expect-no-changes\`.`, "");
  if (classification.problems.length > 0) {
    lines.push(
      "### The preview could not be evaluated",
      "",
      ...classification.problems.slice(0, 20).map((p) => `- ${code(p, { max: 2000 })}`),
      ...(classification.problems.length > 20
        ? [`- ${classification.problems.length - 20} more in the job log`]
        : []),
      "",
    );
  }
  const drift = classification.findings.filter((finding) => finding.category === "drift");
  const rotation = classification.findings.filter((finding) => finding.category === "rotation");
  if (drift.length > 0) {
    lines.push(`### Drift (${drift.length})`, "", ...table(drift), "");
    lines.push(
      `Resolve each finding as described in [the operating guide](${DOCS}): either make the change in code and deploy, or run the deploy workflow to restore the declared state.`,
      "",
    );
  }
  if (rotation.length > 0) {
    lines.push(`### Rotation due (${rotation.length})`, "", ...table(rotation), "");
    lines.push(
      "The scheduled rotation workflow (weekly) or any deployment performs it. Consumers must re-read the versionless Key Vault secret URI at least once per rotation period.",
      "",
    );
  }
  if (classification.verdict === "no-changes") {
    lines.push("Azure matches the stack's state and the code on the default branch.", "");
  }
  return fitReport(lines.join("\n"));
}

function appendGithubOutput(file: string, classification: Classification): void {
  const count = (category: Finding["category"]) =>
    classification.findings.filter((finding) => finding.category === category).length;
  appendOutputs(file, {
    verdict: classification.verdict,
    "drift-count": count("drift"),
    "rotation-count": count("rotation"),
    headline: HEADLINE[classification.verdict],
  });
}

export const VERDICT_EXIT_CODES: Readonly<Record<Verdict, number>> = {
  "no-changes": 0,
  "rotation-due": 0,
  drift: 1,
  failed: 2,
};

export interface CliIo {
  /** Standard input, read only when no --input is given. */
  readonly stdin: () => string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly now?: Date;
}

/** Exit code of a usage error (bad or missing arguments); the verdict is `failed` then too. */
export const EXIT_USAGE = 64;

interface CliOptions {
  input?: string;
  previewExitCode?: number;
  stack?: string;
  forcedReplace?: string[];
  expectedNoChanges?: boolean;
  markdown?: string;
  githubOutput?: string;
  json?: boolean;
  exitCode?: boolean;
}

/**
 * Runs the command line; returns the process exit code: 0 when classified (also drift, unless --exit-code),
 * 1 for drift with --exit-code, 2 when the classification failed, 64 for a usage error. Every path that
 * cannot produce a classification still writes `verdict=failed` to --github-output when it was given.
 */
export function main(argv: readonly string[], io: CliIo): number {
  let exitCode = VERDICT_EXIT_CODES.failed;
  let outputWritten = false;
  const program = new Command()
    .name("classify-preview")
    .description("Classify `pulumi preview --json` output as no changes, rotation due, drift, or failed.")
    .option("--input <file>", "preview JSON file (default: standard input)")
    .option(
      "--preview-exit-code <code>",
      "exit code of pulumi preview (7 = changes with --expect-no-changes)",
      (value) => {
        if (!/^\d{1,3}$/.test(value)) throw new InvalidArgumentError("use the preview's numeric exit code");
        return Number(value);
      },
    )
    .option("--stack <name>", "stack name, for the report")
    .option("--forced-replace <urn...>", "URNs replaced on purpose with --replace (forced rotation)")
    .option(
      "--expected-no-changes",
      "the preview ran with --expect-no-changes (exit 0 then means no changes)",
    )
    .option("--markdown <file>", "write the Markdown report to this file")
    .option("--github-output <file>", "append verdict=..., drift-count=..., rotation-count=... to this file")
    .option("--json", "print the classification as JSON instead of Markdown")
    .option("--exit-code", "also exit 1 on drift (a failed classification always exits 2)")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .action((opts: CliOptions) => {
      let classification: Classification;
      try {
        const text = opts.input ? readBounded(opts.input, opts.input) : io.stdin();
        classification = classifyPreview(parsePreviewJson(text), {
          stack: opts.stack,
          previewExitCode: opts.previewExitCode,
          forcedReplacements: opts.forcedReplace,
          expectNoChanges: opts.expectedNoChanges,
        });
      } catch (error) {
        classification = failedClassification(opts.stack, (error as Error).message);
      }
      if (opts.githubOutput) {
        appendGithubOutput(opts.githubOutput, classification);
        outputWritten = true;
      }
      const markdown = renderMarkdown(classification, io.now);
      if (opts.markdown) writeFileSync(opts.markdown, markdown);
      io.stdout(opts.json ? `${JSON.stringify(classification, null, 2)}\n` : markdown);
      exitCode =
        classification.verdict === "failed" || opts.exitCode ? VERDICT_EXIT_CODES[classification.verdict] : 0;
    });
  try {
    program.parse([...argv], { from: "user" });
  } catch (error) {
    const commanderCode = (error as { exitCode?: number }).exitCode;
    if (commanderCode === 0) return 0; // --help
    exitCode = typeof commanderCode === "number" ? EXIT_USAGE : VERDICT_EXIT_CODES.failed;
    if (typeof commanderCode !== "number") io.stderr(`classify-preview: ${(error as Error).message}\n`);
  }
  if (!outputWritten && exitCode !== 0) {
    recordFailure(argv, { verdict: "failed", headline: HEADLINE.failed }, io.stderr, "classify-preview");
  }
  return exitCode;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2), {
    stdin: () => readBounded(0, "standard input"),
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
}
