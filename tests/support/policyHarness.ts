/**
 * Runs CrossGuard policies the way the policy SDK's analyzer server does, without a Pulumi CLI:
 * resource policies once per resource (with its inputs), stack policies once over all resources with their
 * dependencies resolved to resource objects, per-policy config from the pack config, and `notApplicable`
 * treated as "skip". Also starts the real pack through the loader the CLI uses, for one end-to-end check.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import type {
  Policies,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import * as analyzerRpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzerProto from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import type { ProgramRun } from "./program";

/** A resource as the harness analyzes it: inputs plus the URNs it depends on. */
export interface HarnessResource {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly props: Record<string, unknown>;
  readonly parentUrn?: string;
  readonly dependencies?: readonly string[];
  readonly propertyDependencies?: Readonly<Record<string, readonly string[]>>;
}

export interface Violation {
  readonly policy: string;
  readonly message: string;
  /** The resource the violation is about, when known. */
  readonly urn?: string;
}

/** Per-policy config, as in a `--policy-pack-config` file: `{ "<policy name>": { ...properties } }`. */
export type PackConfig = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

class NotApplicable extends Error {}

function isResourcePolicy(policy: Policies[number]): policy is ResourceValidationPolicy {
  return "validateResource" in policy;
}

function isStackPolicy(policy: Policies[number]): policy is StackValidationPolicy {
  return "validateStack" in policy;
}

function urnOf(type: string, name: string): string {
  return `urn:pulumi:test::smartspace-integration::${type}::${name}`;
}

/** Builds a harness resource from a type, a name and inputs; the URN is derived from both. */
export function resource(
  type: string,
  name: string,
  props: Record<string, unknown>,
  extra: Partial<Omit<HarnessResource, "type" | "name" | "props">> = {},
): HarnessResource {
  return { type, name, urn: extra.urn ?? urnOf(type, name), props, ...extra };
}

function resourceArgs(item: HarnessResource, policyName: string, config: PackConfig): ResourceValidationArgs {
  return {
    type: item.type,
    props: item.props,
    urn: item.urn,
    name: item.name,
    opts: {
      protect: false,
      ignoreChanges: [],
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: [],
      parent: item.parentUrn,
    },
    stackTags: new Map(),
    isType: () => {
      throw new Error("the smartspace policies match type tokens, not classes");
    },
    asType: () => {
      throw new Error("the smartspace policies match type tokens, not classes");
    },
    getConfig: <T extends object>() => ({ ...(config[policyName] ?? {}) }) as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
}

function stackResources(items: readonly HarnessResource[]): PolicyResource[] {
  const byUrn = new Map<string, PolicyResource>();
  const built = items.map((item) => {
    const policyResource: PolicyResource = {
      type: item.type,
      props: item.props,
      urn: item.urn,
      name: item.name,
      opts: resourceArgs(item, "", {}).opts,
      dependencies: [],
      propertyDependencies: {},
      isType: () => false,
      asType: () => undefined,
    };
    byUrn.set(item.urn, policyResource);
    return policyResource;
  });
  items.forEach((item, index) => {
    const target = built[index];
    target.parent = item.parentUrn ? byUrn.get(item.parentUrn) : undefined;
    target.dependencies = (item.dependencies ?? []).flatMap((urn) => byUrn.get(urn) ?? []);
    if (item.propertyDependencies) {
      target.propertyDependencies = Object.fromEntries(
        Object.entries(item.propertyDependencies).map(([key, urns]) => [
          key,
          urns.flatMap((urn) => byUrn.get(urn) ?? []),
        ]),
      );
    }
  });
  return built;
}

/** Runs every policy of a pack over the resources; returns all violations (mandatory or not). */
export async function runPolicies(
  policies: Policies,
  items: readonly HarnessResource[],
  config: PackConfig = {},
): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const policy of policies) {
    if (isResourcePolicy(policy)) {
      const validations = Array.isArray(policy.validateResource)
        ? policy.validateResource
        : policy.validateResource
          ? [policy.validateResource]
          : [];
      for (const item of items) {
        const report: ReportViolation = (message, urn) =>
          violations.push({ policy: policy.name, message, urn: urn ?? item.urn });
        for (const validate of validations) {
          try {
            await validate(resourceArgs(item, policy.name, config), report);
          } catch (error) {
            if (!(error instanceof NotApplicable)) throw error;
          }
        }
      }
    } else if (isStackPolicy(policy)) {
      const args: StackValidationArgs = {
        resources: stackResources(items),
        stackTags: new Map(),
        getConfig: <T extends object>() => ({ ...(config[policy.name] ?? {}) }) as T,
        notApplicable: (reason?: string): never => {
          throw new NotApplicable(reason);
        },
      };
      try {
        await policy.validateStack(args, (message, urn) =>
          violations.push({ policy: policy.name, message, urn }),
        );
      } catch (error) {
        if (!(error instanceof NotApplicable)) throw error;
      }
    }
  }
  return violations;
}

/**
 * Every resource a program run registered, as the engine would send it to the analyzer: with its flat
 * dependencies and, per input property, the resources that property depends on (the engine always sends both,
 * and the cross-resource rules prefer the per-property ones).
 */
export function resourcesFromRun(run: ProgramRun): HarnessResource[] {
  return run.resources.map((recorded) => ({
    type: recorded.type,
    name: recorded.name,
    urn: recorded.urn,
    props: recorded.inputs,
    parentUrn: recorded.parentUrn || undefined,
    dependencies: recorded.dependencies,
    propertyDependencies: recorded.propertyDependencies,
  }));
}

// ---------------------------------------------------------------------------------------------------------
// The real pack, loaded the way `pulumi preview --policy-pack <dir>` loads a Node.js pack.
// ---------------------------------------------------------------------------------------------------------

export interface ServedPack {
  readonly client: analyzerRpc.AnalyzerClient;
  /** Everything the pack wrote to stderr (type errors, load failures). */
  readonly stderr: () => string;
  close(): Promise<void>;
}

/**
 * Starts a policy pack as the CLI does for a `runtime: nodejs` pack: the Node.js language host (its RunPlugin
 * for analyzer plugins) resolves `@pulumi/pulumi/cmd/run-policy-pack` from the pack directory and runs it
 * there with node, passing an engine address and the program (`.`). The pack prints the port of its gRPC
 * server on stdout.
 */
export async function servePolicyPack(packDir: string, timeoutMs = 30_000): Promise<ServedPack> {
  const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [packDir] });
  const child: ChildProcess = spawn(process.execPath, [runner, "127.0.0.1:1", "."], {
    cwd: packDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill();
      await exited;
    }
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`policy pack in ${packDir} printed no port within ${timeoutMs} ms:\n${stderr}`)),
        timeoutMs,
      );
      let stdout = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /^(\d+)\s*$/m.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(
          new Error(`policy pack in ${path.resolve(packDir)} exited with ${code} before serving:\n${stderr}`),
        );
      });
    });
    const client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return {
      client,
      stderr: () => stderr,
      close: async () => {
        client.close();
        await close();
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function unary<Req, Res>(
  call: (request: Req, callback: (error: grpc.ServiceError | null, response: Res) => void) => unknown,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    call(request, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

export interface PackInfo {
  readonly name: string;
  readonly version: string;
  readonly policies: { name: string; enforcementLevel: number; configRequired: string[] }[];
}

export async function analyzerInfo(pack: ServedPack): Promise<PackInfo> {
  const info = await unary<Empty, analyzerProto.AnalyzerInfo>(
    pack.client.getAnalyzerInfo.bind(pack.client),
    new Empty(),
  );
  return {
    name: info.getName(),
    version: info.getVersion(),
    policies: info.getPoliciesList().map((policy) => ({
      name: policy.getName(),
      enforcementLevel: policy.getEnforcementlevel(),
      configRequired: policy.getConfigschema()?.getRequiredList() ?? [],
    })),
  };
}

/** Sends pack config as the CLI does after validating `--policy-pack-config`. */
export async function configurePack(pack: ServedPack, config: PackConfig): Promise<void> {
  const request = new analyzerProto.ConfigureAnalyzerRequest();
  for (const [policyName, properties] of Object.entries(config)) {
    const policyConfig = new analyzerProto.PolicyConfig();
    policyConfig.setEnforcementlevel(analyzerProto.EnforcementLevel.MANDATORY);
    policyConfig.setProperties(Struct.fromJavaScript(properties as Record<string, never>));
    request.getPolicyconfigMap().set(policyName, policyConfig);
  }
  await unary<analyzerProto.ConfigureAnalyzerRequest, Empty>(
    pack.client.configure.bind(pack.client),
    request,
  );
}

/** Analyzes one resource's inputs; returns the diagnostics' policy names and messages. */
export async function analyzeResource(pack: ServedPack, item: HarnessResource): Promise<Violation[]> {
  const request = new analyzerProto.AnalyzeRequest();
  request.setType(item.type);
  request.setName(item.name);
  request.setUrn(item.urn);
  request.setProperties(Struct.fromJavaScript(item.props as Record<string, never>));
  request.setOptions(new analyzerProto.AnalyzerResourceOptions());
  const response = await unary<analyzerProto.AnalyzeRequest, analyzerProto.AnalyzeResponse>(
    pack.client.analyze.bind(pack.client),
    request,
  );
  return response.getDiagnosticsList().map((diagnostic) => ({
    policy: diagnostic.getPolicyname(),
    message: diagnostic.getMessage(),
    urn: item.urn,
  }));
}
