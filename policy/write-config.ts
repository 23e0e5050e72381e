/**
 * Writes the policy pack config (`--policy-pack-config`) for one environment: the object ID of the Smartspace
 * service principal that every app role assignment must target. Pipelines pass it from the GitHub environment
 * variable SMARTSPACE_SP_OBJECT_ID, so a pull request cannot change what the pack expects.
 *
 *   npx tsx policy/write-config.ts --smartspace-sp <object id> --out policy-config.json
 *   npx pulumi preview --policy-pack policy --policy-pack-config policy-config.json
 *
 * The object ID is the stack output smartspaceServicePrincipalObjectId, or
 * `az ad sp show --id <Smartspace app client ID> --query id --output tsv`.
 */
import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { POLICY, SMARTSPACE_PRINCIPAL_CONFIG_KEY } from "./policies";
import { GUID } from "../rules/ids";

/** The pack config naming the Smartspace service principal; throws on anything but a GUID. */
export function policyPackConfig(
  smartspaceServicePrincipalObjectId: string,
): Record<string, Record<string, string>> {
  const id = smartspaceServicePrincipalObjectId.trim();
  if (!GUID.test(id)) {
    throw new Error(
      `the Smartspace service principal object ID ${JSON.stringify(smartspaceServicePrincipalObjectId)} is not a GUID; ` +
        "use the stack output smartspaceServicePrincipalObjectId (or az ad sp show --id <Smartspace app client ID> --query id --output tsv)",
    );
  }
  return { [POLICY.appRoleAssignment]: { [SMARTSPACE_PRINCIPAL_CONFIG_KEY]: id.toLowerCase() } };
}

if (require.main === module) {
  const program = new Command()
    .name("write-config")
    .description("Write the smartspace-guardrails policy pack config for one environment.")
    .requiredOption(
      "--smartspace-sp <objectId>",
      "object ID of the Smartspace service principal in this tenant",
    )
    .requiredOption("--out <file>", "where to write the JSON config")
    .action((opts: { smartspaceSp: string; out: string }) => {
      try {
        writeFileSync(opts.out, `${JSON.stringify(policyPackConfig(opts.smartspaceSp), null, 2)}\n`);
      } catch (error) {
        process.stderr.write(`write-config: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
  program.parse();
}
