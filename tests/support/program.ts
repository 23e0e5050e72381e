/**
 * Runs the real stack program (index.ts) under Pulumi's mocks and records what it registers, the way the
 * engine would see it: each resource's type, name, parent, inputs (with secret-ness preserved), explicit
 * dependencies and additional secret outputs.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { GraphClient } from "../../clients/graph";
import { readTenantCredentialPolicy } from "../../clients/tenantPolicy";
import { GraphEmulator, type GraphEmulatorOptions } from "../../tools/emulators/graphEmulator";
import { azureMocks, MockOptions, MockTenant } from "./azureMocks";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270";

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isSecretValue(value: unknown): boolean {
  return isPlainObject(value) && value[SECRET_SIG] === SECRET_VALUE_SIG;
}

function containsSecret(value: unknown): boolean {
  if (isSecretValue(value)) return true;
  if (Array.isArray(value)) return value.some(containsSecret);
  return isPlainObject(value) && Object.values(value).some(containsSecret);
}

/**
 * The engine's rule (pkg/resource/plugin: annotateSecrets): for each output key also present in the inputs,
 * recurse when both are objects; otherwise, when the input contains a secret, the whole output value is secret.
 */
function annotateSecrets(
  outputs: Record<string, unknown>,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  const annotated: Record<string, unknown> = { ...outputs };
  for (const [key, output] of Object.entries(outputs)) {
    if (!(key in inputs)) continue;
    const input = inputs[key];
    if (isPlainObject(output) && isPlainObject(input) && !isSecretValue(input) && !isSecretValue(output)) {
      annotated[key] = annotateSecrets(output, input);
    } else if (containsSecret(input) && !isSecretValue(output)) {
      annotated[key] = { [SECRET_SIG]: SECRET_VALUE_SIG, value: output };
    }
  }
  return annotated;
}

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly parentUrn: string;
  readonly custom: boolean;
  /** Inputs with secrets unwrapped, as a provider receives them. */
  readonly inputs: Record<string, unknown>;
  /** Dotted paths of inputs that were secret (`properties.value`). */
  readonly secretInputs: readonly string[];
  /** URNs of explicit and implicit dependencies. */
  readonly dependencies: readonly string[];
  /** URNs each input property depends on, per property, as the engine sends them to a policy pack. */
  readonly propertyDependencies: Record<string, string[]>;
  readonly additionalSecretOutputs: readonly string[];
  readonly deleteBeforeReplace: boolean;
}

export interface ProgramRun {
  readonly resources: RecordedResource[];
  /** The program's exports, fully resolved, with secrets unwrapped. */
  readonly outputs: Record<string, unknown>;
  /** Exports paths whose values are secret. */
  readonly secretOutputs: readonly string[];
  readonly invokes: { token: string; inputs: Record<string, unknown> }[];
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

function unwrapSecrets(value: unknown, at: string, secretPaths: string[]): unknown {
  if (Array.isArray(value)) {
    return value.map((item, index) => unwrapSecrets(item, `${at}[${index}]`, secretPaths));
  }
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG] === SECRET_VALUE_SIG) {
      secretPaths.push(at);
      return unwrapSecrets(record.value, at, []);
    }
    if (record[SECRET_SIG] !== undefined) {
      // Resource references and other special values: keep only what a test may look at.
      return record.urn ?? record.id ?? record.value ?? record;
    }
    return Object.fromEntries(
      Object.entries(record).map(([key, item]) => [
        key,
        unwrapSecrets(item, at ? `${at}.${key}` : key, secretPaths),
      ]),
    );
  }
  return value;
}

/** The program's own modules (index.ts, program/, components/): what each run evaluates afresh. */
function isProgramModule(file: string): boolean {
  return ["index.ts", "program", "components"]
    .map((entry) => path.join(PROJECT_ROOT, entry))
    .some((entry) => file === entry || file.startsWith(`${entry}${path.sep}`));
}

/**
 * Unloads the program's own modules so that the program is evaluated afresh, and returns a function that puts
 * back the ones loaded before. The layers below them (rules/, clients/, providers/) hold no program state and
 * stay loaded: a test file in the same mocha worker may already hold their classes (HttpError, say), and a
 * second copy would fail its `instanceof` checks. The restore does the same for a test helper loaded earlier.
 */
function unloadProgramModules(): () => void {
  const saved = Object.fromEntries(Object.entries(require.cache).filter(([file]) => isProgramModule(file)));
  const unload = () => {
    for (const file of Object.keys(require.cache)) {
      if (isProgramModule(file)) delete require.cache[file];
    }
  };
  unload();
  return () => {
    unload();
    Object.assign(require.cache, saved);
  };
}

async function settle(): Promise<void> {
  const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs;
  await waitForRPCs();
}

/**
 * Evaluates index.ts with the given config. Rejects with the program's error (e.g. a ConfigError) when
 * evaluation fails.
 */
export async function runProgram(config: StackConfigValues, options: RunOptions = {}): Promise<ProgramRun> {
  const stack = options.stack ?? "dev";
  const resources: RecordedResource[] = [];
  const invokes: { token: string; inputs: Record<string, unknown> }[] = [];
  // What the engine knows of each registration's options, for the mocks' model of replacements.
  const deleteBeforeReplace = new Map<string, boolean>();
  const tenant = options.tenant ?? new MockTenant();
  const baseMocks = azureMocks(
    { ...options, tenant },
    {
      deleteBeforeReplace: (type, name) => deleteBeforeReplace.get(`${type}::${name}`) ?? false,
    },
  );
  // Raw inputs per resource, secrets still marked. The engine copies "secretness" from inputs to same-named
  // outputs (recursing into objects present on both sides), as its provider plugin does; the mocks do the
  // same so that tests see the secretness a real deployment's outputs have.
  const rawInputs = new Map<string, Record<string, unknown>>();
  const mocks: pulumi.runtime.Mocks = {
    newResource: async (args) => {
      const result = await baseMocks.newResource(args);
      const raw = rawInputs.get(`${args.type}::${args.name}`) ?? {};
      return { id: result.id, state: annotateSecrets(result.state as Record<string, unknown>, raw) };
    },
    call: (args) => {
      invokes.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
      return baseMocks.call(args);
    },
  };
  await pulumi.runtime.setMocks(mocks, "smartspace-integration", stack, options.preview ?? false);
  pulumi.runtime.setAllConfig(toRawConfig(config));

  // Errors raised inside apply() or by a failed registration surface as unhandled rejections, exactly as
  // they fail `pulumi up`; turn them into this run's rejection instead of a hang.
  let failProgram: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (failProgram = reject));
  failed.catch(() => undefined);

  type Request = {
    getType(): string;
    getName(): string;
    getParent(): string;
    getCustom(): boolean;
    getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
    getDependenciesList(): string[];
    getPropertydependenciesMap(): {
      forEach(cb: (deps: { getUrnsList(): string[] }, property: string) => void): void;
    };
    getAdditionalsecretoutputsList(): string[];
    getDeletebeforereplace(): boolean;
  };
  type Monitor = {
    registerResource(req: Request, cb: (err: unknown, res: { getUrn(): string }) => void): void;
  };
  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    rawInputs.set(`${req.getType()}::${req.getName()}`, req.getObject()?.toJavaScript() ?? {});
    deleteBeforeReplace.set(`${req.getType()}::${req.getName()}`, req.getDeletebeforereplace());
    register(req, (err, res) => {
      if (err) {
        // The engine fails the update when a provider refuses any resource, even one nothing else waits for.
        failProgram(
          new Error(
            `failed to register new resource ${req.getName()} [${req.getType()}]: ${(err as Error).message}`,
          ),
        );
      } else {
        const secretInputs: string[] = [];
        const inputs = unwrapSecrets(req.getObject()?.toJavaScript() ?? {}, "", secretInputs) as Record<
          string,
          unknown
        >;
        const dependencies = new Set(req.getDependenciesList());
        const propertyDependencies: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((deps, property) => {
          propertyDependencies[property] = deps.getUrnsList();
          deps.getUrnsList().forEach((urn) => dependencies.add(urn));
        });
        resources.push({
          type: req.getType(),
          name: req.getName(),
          urn: res.getUrn(),
          parentUrn: req.getParent(),
          custom: req.getCustom(),
          inputs,
          secretInputs,
          dependencies: [...dependencies],
          propertyDependencies,
          additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
          deleteBeforeReplace: req.getDeletebeforereplace(),
        });
      }
      cb(err, res);
    });
  };

  const savedEnv: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(options.env ?? {})) {
    savedEnv[key] = process.env[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  const onUnhandled = (error: unknown) => failProgram(error);
  process.on("unhandledRejection", onUnhandled);
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
  let restoreModules = () => undefined as void;
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
    restoreModules = unloadProgramModules();
    let program: Record<string, unknown>;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const entry = require(path.join(PROJECT_ROOT, "index")) as unknown;
      // As the Pulumi language host does (cmd/run/run.js): an exported function is called and awaited, and
      // what it returns becomes the stack outputs.
      program = (
        typeof entry === "function"
          ? await Promise.race([
              (entry as (options: unknown) => Promise<unknown>)({ readTenantPolicy }),
              failed,
            ])
          : entry
      ) as Record<string, unknown>;
    } catch (error) {
      // Let anything the program managed to start registering arrive, so tests can assert there was none.
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw Object.assign(error as Error, { registeredResources: resources });
    }
    const exported = pulumi.output(program);
    const secretOutputs: string[] = [];
    const resolved = await Promise.race([new Promise<unknown>((resolve) => exported.apply(resolve)), failed]);
    await Promise.race([settle(), failed]);
    // A registration that failed while settling is reported as an unhandled rejection on a later tick.
    await Promise.race([new Promise((resolve) => setImmediate(resolve)), failed]);
    const outputs = await collectSecretPaths(program, resolved as Record<string, unknown>, secretOutputs);
    return {
      resources,
      outputs,
      secretOutputs,
      invokes,
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
    restoreModules();
    globalThis.Date = RealDate;
    process.off("unhandledRejection", onUnhandled);
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** Walks the program's exports and records which leaves are secret Outputs. */
async function collectSecretPaths(
  program: Record<string, unknown>,
  resolved: Record<string, unknown>,
  secretPaths: string[],
): Promise<Record<string, unknown>> {
  async function walk(value: unknown, at: string): Promise<void> {
    if (pulumi.Output.isInstance(value)) {
      if (await pulumi.isSecret(value)) {
        secretPaths.push(at);
        return;
      }
      const inner = await new Promise<unknown>((resolve) => value.apply((v) => resolve(v)));
      await walk(inner, at);
      return;
    }
    if (Array.isArray(value)) {
      await Promise.all(value.map((item, index) => walk(item, `${at}[${index}]`)));
    } else if (value !== null && typeof value === "object" && !pulumi.Resource.isInstance(value)) {
      await Promise.all(Object.entries(value).map(([key, item]) => walk(item, at ? `${at}.${key}` : key)));
    }
  }
  await walk(program, "");
  return resolved;
}
