/**
 * Credential types must not touch a stack deployed before them. tests/fixtures/secretModeBaseline.json holds
 * what the program registered (every resource's URN, parent, inputs with their secretness, replacement
 * options) and exported for two secret-mode configurations, recorded with the code of the commit it names
 * (the last one before credential types; never re-record it from newer code, or it proves nothing). The
 * same configurations must register the same resources today, with the same inputs but for the updates this
 * release makes in place on purpose ({@link IN_PLACE_UPDATES}): never a rename or a replacement.
 */
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ISSUE_MARGIN_DAYS } from "../rules/rotation";
import type { MockOptions } from "./support/azureMocks";
import { runProgram } from "./support/program";

interface RecordedCase {
  readonly name: string;
  readonly stack: string;
  readonly now: string;
  readonly config: Record<string, unknown>;
  readonly options: MockOptions;
  readonly resources: readonly Record<string, unknown>[];
  readonly outputs: Record<string, unknown>;
}

const baseline = JSON.parse(
  readFileSync(path.join(__dirname, "fixtures", "secretModeBaseline.json"), "utf8"),
) as { recordedFrom: string; cases: RecordedCase[] };

type Inputs = Record<string, unknown>;

/**
 * Inputs this release changes on existing resources, each an in-place update of the same resource, and why.
 * Anything else that differs from the baseline fails the test.
 */
const IN_PLACE_UPDATES: Readonly<Record<string, (inputs: Inputs) => Inputs>> = {
  // Identifier secrets gained an expiry (tenants deny secrets without one), and the client secret's
  // next-rotation-on tag moved a day earlier (a period now takes effect a day before its boundary): both are
  // new versions of the same secret.
  "azure-native:keyvault:Secret": (inputs) => {
    const properties = { ...(inputs.properties as Inputs) };
    delete properties.attributes;
    const tags = { ...(inputs.tags as Inputs) };
    delete tags["next-rotation-on"];
    return { ...inputs, properties, tags };
  },
  // The grants' provider code changed in this release: its new version re-applies each grant in place (the
  // provider's diff updates on providerVersion, never replaces: tests/workspaceAccess.test.ts).
  "pulumi-nodejs:dynamic/smartspace:WorkspaceAccess": ({ providerVersion: _version, ...inputs }) => inputs,
};

/** A resource's recorded facts without the intended in-place updates; its URN says its type. */
function comparable(resource: Record<string, unknown>): Record<string, unknown> {
  // urn:pulumi:<stack>::<project>::<parent type>$...$<type>::<name>
  const type = String(resource.urn).split("::")[2].split("$").at(-1)!;
  const update = IN_PLACE_UPDATES[type];
  // Replacement options decide how a replacement happens, not whether one does: this release makes identity
  // objects and grants delete first (Graph refuses duplicates), which changes nothing deployed.
  const { deleteBeforeReplace: _options, ...rest } = resource;
  return update === undefined ? rest : { ...rest, inputs: update(resource.inputs as Inputs) };
}

describe(`secret-mode stacks recorded at ${baseline.recordedFrom.slice(0, 7)}`, () => {
  for (const recorded of baseline.cases) {
    it(`${recorded.name}: registers the same resources, changed only by intended in-place updates`, async () => {
      const run = await runProgram(recorded.config, {
        stack: recorded.stack,
        now: new Date(recorded.now),
        ...recorded.options,
      });
      const resources = run.resources
        .map((r) => ({
          urn: r.urn,
          parentUrn: r.parentUrn,
          inputs: r.inputs,
          secretInputs: r.secretInputs,
          deleteBeforeReplace: r.deleteBeforeReplace,
          additionalSecretOutputs: r.additionalSecretOutputs,
        }))
        .sort((a, b) => a.urn.localeCompare(b.urn));
      assert.deepEqual(
        resources.map((r) => r.urn),
        recorded.resources.map((r) => r.urn),
        "same URNs",
      );
      assert.deepEqual(
        JSON.parse(JSON.stringify(resources)).map(comparable),
        recorded.resources.map(comparable),
      );

      // Each integration now says which credential type it uses, and announces the next rotation for when it
      // takes effect: a day before the period boundary.
      const integrations = recorded.outputs.integrations as Record<string, Record<string, unknown>>;
      const dayBefore = (at: unknown) =>
        new Date(Date.parse(String(at)) - ISSUE_MARGIN_DAYS * 86_400_000)
          .toISOString()
          .replace(/\.000Z$/, "Z");
      const expected = {
        ...recorded.outputs,
        integrations: Object.fromEntries(
          Object.entries(integrations).map(([name, value]) => [
            name,
            { ...value, credentialType: "secret", nextRotationOn: dayBefore(value.nextRotationOn) },
          ]),
        ),
      };
      assert.deepEqual(JSON.parse(JSON.stringify(run.outputs)), expected);
    });
  }
});
