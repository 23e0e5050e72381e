/**
 * Runs the real stack program (index.ts) under Pulumi's mocks and records what it declares, the way the
 * engine would see it: each resource's type, name, URN, parent, inputs (with secret and unknown values
 * marked), dependencies and options; each invoke; each log message; and the stack outputs.
 *
 * `npm run check` uses it with offline mocks to print a plan that cannot drift from what `pulumi up`
 * declares; the tests use it with mocks that answer like Azure. The mocks model the providers; this module
 * models the engine between them and the program.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const { specialSigKey: SIG_KEY, specialSecretSig: SECRET_SIG, unknownValue: UNKNOWN } = pulumi.runtime;

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly parentUrn: string;
  readonly custom: boolean;
  /** Inputs with secrets unwrapped, as a provider receives them; values unknown until deployment are {@link UNKNOWN}. */
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

export interface RecordedInvoke {
  readonly token: string;
  readonly inputs: Record<string, unknown>;
}

export interface LogEntry {
  readonly severity: "info" | "warn" | "error";
  readonly message: string;
}

export interface Evaluation {
  readonly resources: RecordedResource[];
  readonly invokes: RecordedInvoke[];
  /** What the program logged through `pulumi.log`, in order. */
  readonly logs: LogEntry[];
  /** The program's exports, resolved, with secrets unwrapped; unknown values are {@link UNKNOWN}. */
  readonly outputs: Record<string, unknown>;
  /** Dotted paths of exports whose values are secret. */
  readonly secretOutputs: readonly string[];
}

/** What the engine knows of a registration that a provider does not see in its arguments. */
export interface RegistrationLookup {
  deleteBeforeReplace(type: string, name: string): boolean;
}

export interface EvaluateOptions {
  readonly stack: string;
  /** Fully qualified keys, values as Pulumi hands them to a program (structured values JSON-encoded). */
  readonly config: Readonly<Record<string, string>>;
  /** The providers' side, given what the engine knows of each registration. */
  readonly mocks: (registrations: RegistrationLookup) => pulumi.runtime.Mocks;
  /** Evaluate as `pulumi preview` does: resource IDs and provider-computed outputs stay unknown. */
  readonly preview: boolean;
  /** Passed to the program's entry function, for what it lets its caller replace (e.g. the tenant policy). */
  readonly programOptions?: unknown;
}

/** The value of an input or output that is only known once the stack is deployed. */
export { UNKNOWN };

/** Whether a recorded value (or anything in it) is only known at deploy time. */
export function isUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(isUnknown);
  return isPlainObject(value) && Object.values(value).some(isUnknown);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isSecretValue(value: unknown): boolean {
  return isPlainObject(value) && value[SIG_KEY] === SECRET_SIG;
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
      annotated[key] = { [SIG_KEY]: SECRET_SIG, value: output };
    }
  }
  return annotated;
}

/** Unwraps secrets (recording their paths) and reduces resource references to their URN. */
function unwrapSecrets(value: unknown, at: string, secretPaths: string[]): unknown {
  if (Array.isArray(value)) {
    return value.map((item, index) => unwrapSecrets(item, `${at}[${index}]`, secretPaths));
  }
  if (isPlainObject(value)) {
    if (value[SIG_KEY] === SECRET_SIG) {
      secretPaths.push(at);
      return unwrapSecrets(value.value, at, []);
    }
    if (value[SIG_KEY] !== undefined) {
      return value.urn ?? value.id ?? value.value ?? value;
    }
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
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
 * stay loaded: a caller in the same process may already hold their classes (HttpError, say), and a second
 * copy would fail its `instanceof` checks. The restore does the same for a caller that loaded one earlier.
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

type RegisterRequest = {
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
  registerResource(req: RegisterRequest, cb: (err: unknown, res: { getUrn(): string }) => void): void;
};
type LogFunction = (message: string, ...rest: unknown[]) => Promise<void>;

/**
 * Evaluates index.ts with the given config. Rejects with the program's error (a ConfigError, a RunError from
 * a component, a failed invoke or registration) when evaluation fails; the error carries
 * `registeredResources`, what the program had declared by then, `invokes` and `logs`.
 */
export async function evaluateProgram(options: EvaluateOptions): Promise<Evaluation> {
  const resources: RecordedResource[] = [];
  const invokes: RecordedInvoke[] = [];
  const logs: LogEntry[] = [];
  // Raw inputs per resource, secrets still marked, for the engine's secret annotation of outputs; and what
  // the engine knows of each registration's options, for the mocks' model of replacements.
  const rawInputs = new Map<string, Record<string, unknown>>();
  const deleteBeforeReplace = new Map<string, boolean>();
  const providers = options.mocks({
    deleteBeforeReplace: (type, name) => deleteBeforeReplace.get(`${type}::${name}`) ?? false,
  });
  const mocks: pulumi.runtime.Mocks = {
    newResource: async (args) => {
      const result = await providers.newResource(args);
      const raw = rawInputs.get(`${args.type}::${args.name}`) ?? {};
      return { id: result.id, state: annotateSecrets((result.state ?? {}) as Record<string, unknown>, raw) };
    },
    call: (args) => {
      invokes.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
      return providers.call(args);
    },
  };
  await pulumi.runtime.setMocks(mocks, "smartspace-integration", options.stack, options.preview);
  pulumi.runtime.setAllConfig({ ...options.config });

  // Errors raised inside apply() or by a failed registration surface as unhandled rejections, exactly as
  // they fail `pulumi up`; turn them into this run's rejection instead of a hang.
  let failProgram: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (failProgram = reject));
  failed.catch(() => undefined);

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

  // Under mocks there is no engine to log to, and the SDK prints to the console instead; keep the messages
  // with the evaluation, where a plan or a test can show or assert them. The SDK's own debug messages are
  // dropped, as the CLI does unless asked for verbose output.
  const log = pulumi.log as unknown as Record<LogEntry["severity"] | "debug", LogFunction>;
  const savedLog = { ...log };
  log.debug = async () => undefined;
  for (const severity of ["info", "warn", "error"] as const) {
    log[severity] = async (message) => void logs.push({ severity, message });
  }
  const onUnhandled = (error: unknown) => failProgram(error);
  process.on("unhandledRejection", onUnhandled);
  const restoreModules = unloadProgramModules();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const entry = require(path.join(PROJECT_ROOT, "index")) as unknown;
    // As the Pulumi language host does (cmd/run/run.js): an exported function is called and awaited, and
    // what it returns becomes the stack outputs.
    const program = (
      typeof entry === "function"
        ? await Promise.race([
            (entry as (options: unknown) => Promise<unknown>)(options.programOptions),
            failed,
          ])
        : entry
    ) as pulumi.Inputs;
    // As the engine stores stack outputs: serialized, with secrets marked and unknowns left unknown.
    const serialized = await Promise.race([pulumi.runtime.serializeProperties("outputs", program), failed]);
    const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs;
    await Promise.race([waitForRPCs(), failed]);
    // A registration that failed while settling is reported as an unhandled rejection on a later tick.
    await Promise.race([new Promise((resolve) => setImmediate(resolve)), failed]);
    const secretOutputs: string[] = [];
    const outputs = unwrapSecrets(serialized, "", secretOutputs) as Record<string, unknown>;
    return { resources, invokes, logs, outputs, secretOutputs };
  } catch (error) {
    // Let anything the program managed to start registering arrive, so callers can see what there was.
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The engine stops a failed program's run, and what the program still awaited is abandoned, not leaked:
    // without this, the SDK reports those promises as leaks when the process exits, and fails it.
    pulumi.runtime.terminateRpcs();
    throw Object.assign(error instanceof Error ? error : new Error(String(error)), {
      registeredResources: resources,
      invokes,
      logs,
    });
  } finally {
    restoreModules();
    Object.assign(log, savedLog);
    process.off("unhandledRejection", onUnhandled);
  }
}
