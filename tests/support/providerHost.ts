/**
 * Pulumi's real dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`), started the way the engine
 * starts it (plain node, working directory = the project, no TypeScript loader) and driven over gRPC, so that
 * tests exercise the deserialization and delegation a deployment performs.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
export const GRANT_URN =
  "urn:pulumi:test::smartspace-integration::pulumi-nodejs:dynamic/smartspace:WorkspaceAccess::grant";

export type Rpc = "check" | "diff" | "create" | "read" | "update" | "delete";

export interface ProviderHost {
  // The generated protobuf classes are untyped JavaScript here.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  call(method: Rpc, fill: (request: any) => void): Promise<any>;
  struct(value: Record<string, unknown>): any;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  /** What the host printed on stderr. */
  output(): string;
  stop(): Promise<void>;
}

export async function startProviderHost(
  env: Record<string, string>,
  cwd = PROJECT_ROOT,
): Promise<ProviderHost> {
  const pulumiRoot = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  // The host's own gRPC and protobuf modules, resolved from @pulumi/pulumi (its dependencies, not ours).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = (name: string) => require(require.resolve(name, { paths: [pulumiRoot] }));
  const grpc = load("@grpc/grpc-js");
  const structproto = load("google-protobuf/google/protobuf/struct_pb");
  const provproto = load("@pulumi/pulumi/proto/provider_pb");
  const provrpc = load("@pulumi/pulumi/proto/provider_grpc_pb");

  const child: ChildProcess = spawn(
    process.execPath,
    [path.join(pulumiRoot, "cmd", "dynamic-provider", "index.js"), "127.0.0.1:1"],
    { cwd, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const port = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error(`provider host did not start: ${output}`)), 15_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /^(\d+)\s*$/m.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`provider host exited with ${code}: ${output}`)));
  });
  const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const requestTypes: Record<Rpc, new () => unknown> = {
    check: provproto.CheckRequest,
    diff: provproto.DiffRequest,
    create: provproto.CreateRequest,
    read: provproto.ReadRequest,
    update: provproto.UpdateRequest,
    delete: provproto.DeleteRequest,
  };
  return {
    call(method, fill) {
      const request = new requestTypes[method]();
      fill(request);
      return new Promise((resolve, reject) => {
        client[method](request, (error: Error | null, response: unknown) =>
          error ? reject(error) : resolve(response),
        );
      });
    },
    struct: (value) => structproto.Struct.fromJavaScript(value),
    output: () => output,
    async stop() {
      client.close();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill();
        await exited;
      }
    },
  };
}

/**
 * The provider text a `pulumi up` stores for a WorkspaceAccess (or KeyVaultCertificate) resource: serialized by the SDK in a process started with
 * the runtime options of Pulumi.yaml (its `nodeargs` loader), as the CLI's Node.js language host starts the
 * program. `env` is that process's environment on top of this one's.
 */
export function serializedShim(
  env: Record<string, string> = {},
  resource: "WorkspaceAccess" | "KeyVaultCertificate" = "WorkspaceAccess",
): string {
  const project = parse(readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8")) as {
    runtime: { options?: { nodeargs?: string } };
  };
  const nodeArgs = (project.runtime.options?.nodeargs ?? "").split(/\s+/).filter((arg) => arg !== "");
  const output = execFileSync(
    process.execPath,
    [...nodeArgs, path.join(PROJECT_ROOT, "tests", "support", "serializeProvider.ts"), resource],
    { cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, ...env } },
  );
  return JSON.parse(output) as string;
}
