/**
 * Runs the real stack program (index.ts) under mocks that answer like Azure (./azureMocks.ts), through the
 * same evaluator `npm run check` uses (cli/check/evaluate.ts), and gives tests lookups by type and name.
 */
import { evaluateProgram, type Evaluation, type RecordedResource } from "../../cli/check/evaluate";
import { GraphClient } from "../../clients/graph";
import { readTenantCredentialPolicy } from "../../clients/tenantPolicy";
import { GraphEmulator, type GraphEmulatorOptions } from "../../tools/emulators/graphEmulator";
import { azureMocks, MockOptions, MockTenant } from "./azureMocks";

export type { RecordedResource };

export interface ProgramRun extends Evaluation {
  byType(type: string): RecordedResource[];
  one(type: string, name: string): RecordedResource;
}

export interface RunOptions extends MockOptions {
  readonly stack?: string;
  readonly preview?: boolean;
  /** The wall-clock instant the program sees (rotation schedules depend on it). Default: the real time. */
  readonly now?: Date;
  /** Extra environment for the run (restored afterwards). */
  readonly env?: Record<string, string | undefined>;
}

/** Config in the shape of a stack file's `config:` block, keyed without the project prefix. */
export type StackConfigValues = Record<string, unknown>;

/** Turns structured config into what Pulumi hands the program: fully qualified keys, JSON-encoded values. */
export function toRawConfig(
  values: StackConfigValues,
  project = "smartspace-integration",
): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    const fullKey = key.includes(":") ? key : `${project}:${key}`;
    raw[fullKey] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return raw;
}

/**
 * Evaluates index.ts with the given config. Rejects with the program's error (e.g. a ConfigError) when
 * evaluation fails. Fails when the program logs an error, so that no test passes over one unnoticed.
 */
export async function runProgram(config: StackConfigValues, options: RunOptions = {}): Promise<ProgramRun> {
  const tenant = options.tenant ?? new MockTenant();
  const savedEnv: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(options.env ?? {})) {
    savedEnv[key] = process.env[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  // Graph over local HTTPS, answering from the mock tenant: the program's tenant-policy check runs the real
  // client against it.
  const graph = await GraphEmulator.start<GraphEmulator, GraphEmulatorOptions>({
    defaultAppManagementPolicy: () => tenant.appManagementPolicy,
    canReadPolicies: () => tenant.canReadPolicies,
  });
  const readTenantPolicy = () =>
    readTenantCredentialPolicy(
      new GraphClient({
        baseUrl: `${graph.url}/v1.0`,
        agent: graph.agent(),
        credential: {
          getToken: async () => ({ token: graph.graphToken, expiresOnTimestamp: Date.now() + 3_600_000 }),
        },
      }),
    );
  const RealDate = globalThis.Date;
  if (options.now) {
    const fixed = options.now.getTime();
    globalThis.Date = class extends RealDate {
      constructor(...args: unknown[]) {
        if (args.length === 0) super(fixed);
        else super(...(args as [string]));
      }
      static now(): number {
        return fixed;
      }
    } as DateConstructor;
  }
  try {
    const evaluation = await evaluateProgram({
      stack: options.stack ?? "dev",
      config: toRawConfig(config),
      mocks: (registrations) => azureMocks({ ...options, tenant }, registrations),
      preview: options.preview ?? false,
      programOptions: { readTenantPolicy },
    });
    const errors = evaluation.logs.filter((entry) => entry.severity === "error");
    if (errors.length > 0) {
      throw new Error(`the program logged errors: ${errors.map((entry) => entry.message).join("; ")}`);
    }
    const { resources } = evaluation;
    return {
      ...evaluation,
      byType: (type) => resources.filter((resource) => resource.type === type),
      one: (type, name) => {
        const found = resources.filter((resource) => resource.type === type && resource.name === name);
        if (found.length !== 1) {
          throw new Error(
            `expected one ${type} named ${name}, found ${found.length}; registered: ${resources
              .map((r) => `${r.type}::${r.name}`)
              .join(", ")}`,
          );
        }
        return found[0];
      },
    };
  } finally {
    await graph.close();
    globalThis.Date = RealDate;
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
