/**
 * Input handling every dynamic provider of the project shares: the engine's marker for a value not known
 * until apply, and the one-failure-per-property check that `check` reports.
 */
import type * as pulumi from "@pulumi/pulumi";

/** The SDK's placeholder for a value not known until apply (`pulumi.runtime.unknownValue`). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/**
 * Checks each named input with its rule, reporting one failure per bad property (prefixed with its name), and
 * returns the inputs in their canonical form. Values unknown during preview pass unchecked and unchanged.
 */
export function checkInputs<Name extends string>(
  raw: Readonly<Record<string, unknown>>,
  checks: Readonly<Record<Name, (value: unknown) => string | undefined>>,
  normalize: (name: Name, value: unknown) => unknown,
): { inputs: Record<string, unknown>; failures: pulumi.dynamic.CheckFailure[] } {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const inputs: Record<string, unknown> = {};
  for (const name of Object.keys(checks) as Name[]) {
    const value = raw[name];
    const problem = value === UNKNOWN ? undefined : checks[name](value);
    if (problem !== undefined) {
      failures.push({ property: name, reason: `${name} ${problem}` });
    }
    inputs[name] = value === UNKNOWN ? value : normalize(name, value);
  }
  return { inputs, failures };
}
