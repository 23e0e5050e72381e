import * as assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { parse } from "yaml";
import { parseStackConfig } from "../program/config";

const ROOT = path.resolve(__dirname, "..");
// The schema the Pulumi CLI applies to Pulumi.yaml, kept in the shared reference folder beside the repo.
const SCHEMA = path.resolve(ROOT, "..", "shared", "schemas", "pulumi-project.schema.json");

function readYaml(file: string): Record<string, unknown> {
  return parse(readFileSync(path.join(ROOT, file), "utf8")) as Record<string, unknown>;
}

describe("project files", () => {
  it("Pulumi.yaml satisfies the Pulumi CLI's project schema", function () {
    if (!existsSync(SCHEMA)) {
      this.skip();
    }
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, "utf8")));
    const project = readYaml("Pulumi.yaml");
    assert.ok(validate(project), ajv.errorsText(validate.errors));
    assert.equal(project.name, "smartspace-integration");
  });

  for (const file of readdirSync(ROOT).filter((name) => /^Pulumi\.[^.]+\.yaml$/.test(name))) {
    it(`${file} is a valid, secret-free example configuration`, () => {
      const doc = readYaml(file);
      const raw: Record<string, string> = {};
      for (const [key, value] of Object.entries((doc.config ?? {}) as Record<string, unknown>)) {
        raw[key] = typeof value === "string" ? value : JSON.stringify(value);
      }
      const config = parseStackConfig(raw, file.split(".")[1]);
      assert.ok(config.integrations.length > 0);
      assert.doesNotMatch(readFileSync(path.join(ROOT, file), "utf8"), /secure:/);
    });
  }
});
