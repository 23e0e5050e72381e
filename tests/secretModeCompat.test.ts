/**
 * Credential types must not touch a stack deployed before them. tests/fixtures/secretModeBaseline.json holds
 * what the program registered (every resource's URN, parent, inputs with their secretness, replacement
 * options) and exported for two secret-mode configurations, recorded with the code of the commit it names
 * (the last one before credential types; never re-record it from newer code, or it proves nothing). The
 * same configurations must register exactly the same today.
 */
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
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

describe(`secret-mode stacks recorded at ${baseline.recordedFrom.slice(0, 7)}`, () => {
  for (const recorded of baseline.cases) {
    it(`${recorded.name}: registers the same resources with the same inputs, and the same outputs`, async () => {
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
      assert.deepEqual(JSON.parse(JSON.stringify(resources)), recorded.resources);

      // The one addition: each integration now says which credential type it uses.
      const integrations = recorded.outputs.integrations as Record<string, Record<string, unknown>>;
      const expected = {
        ...recorded.outputs,
        integrations: Object.fromEntries(
          Object.entries(integrations).map(([name, value]) => [name, { ...value, credentialType: "secret" }]),
        ),
      };
      assert.deepEqual(JSON.parse(JSON.stringify(run.outputs)), expected);
    });
  }
});
