/**
 * Runs the Smartspace admin-API emulator on its own, so the stack's calls can be watched locally:
 *
 *   npm run emulator -- --port 8787 --workspace 6b1f...=Claims --stack dev
 *
 * Prints the URL, the bearer token, the commands that point a stack at it (through the npm scripts) and one
 * line per request served (never a request's headers).
 */
import { parseArgs } from "node:util";

import { RecordedRequest, SmartspaceEmulator } from "./smartspaceEmulator";
import { GUID } from "../../rules/ids";

// The workspace the tenant emulator and the tests use too.
const DEMO_WORKSPACE = { id: "3f1c2b7a-9d4e-4b8a-a1c3-5e6f7a8b9c0d", name: "Sales" };
const STACK_NAME = /^[A-Za-z0-9_.-]+$/;

const USAGE = `Usage: npm run emulator -- [options]

Serves the Smartspace admin API contract (../shared/smartspace-api.md) over HTTPS on 127.0.0.1 from memory.

Options:
  --port <n>                 port to listen on (default: any free port)
  --token <value>            bearer token accepted as a Smartspace admin (default: random)
  --non-admin-token <value>  a token that authenticates but gets 403 (repeatable)
  --workspace <id[=name]>    workspace to serve (repeatable; default: ${DEMO_WORKSPACE.id})
  --replication-delay <s>    seconds a new principal stays "not found" (409), as after Entra ID creation
  --stack <name>             stack the printed commands point at it (default: dev)
  -h, --help                 show this help

The stack's other resources are still created in Azure: only the Smartspace admin API is emulated.
`;

function fail(message: string): never {
  process.stderr.write(`emulator: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseWorkspaces(values: readonly string[]): { id: string; name?: string }[] {
  if (values.length === 0) {
    return [DEMO_WORKSPACE];
  }
  return values.map((value) => {
    const [id, ...name] = value.split("=");
    if (!GUID.test(id)) {
      fail(`--workspace ${JSON.stringify(value)}: the ID must be a GUID`);
    }
    return { id, name: name.length > 0 ? name.join("=") : undefined };
  });
}

function parseNumber(flag: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || number > max) {
    fail(`${flag} must be a number from 0 to ${max}, got ${JSON.stringify(value)}`);
  }
  return number;
}

function formatRequest(request: RecordedRequest): string {
  const time = new Date().toISOString().slice(11, 23);
  const outcome = request.status === "dropped" ? "connection dropped" : String(request.status);
  const notes = [request.fault ? `fault: ${request.fault}` : "", request.clientGone ? "client gave up" : ""]
    .filter((note) => note !== "")
    .join(", ");
  return `${time}  ${request.method.padEnd(6)} ${request.path}${request.query} -> ${outcome} (${request.durationMs} ms)${
    notes ? ` [${notes}]` : ""
  }`;
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const port = parseNumber("--port", values.port, 65_535);
  if (port !== undefined && !Number.isInteger(port)) {
    fail("--port must be a whole number");
  }
  const replicationDelay = parseNumber("--replication-delay", values["replication-delay"], 3_600);
  const stack = values.stack ?? "dev";
  if (!STACK_NAME.test(stack)) {
    fail(`--stack ${JSON.stringify(stack)}: use a stack name such as dev`);
  }

  const emulator = await SmartspaceEmulator.start({
    port,
    token: values.token,
    nonAdminTokens: values["non-admin-token"] ?? [],
    workspaces: parseWorkspaces(values.workspace ?? []),
    replicationDelayMs: (replicationDelay ?? 0) * 1000,
    onRequest: (request) => process.stdout.write(`${formatRequest(request)}\n`),
  });

  const lines = [
    `Smartspace admin API emulator listening on ${emulator.url}`,
    `  port:          ${emulator.port}`,
    `  admin token:   ${emulator.token}`,
    ...emulator.store.listWorkspaces().map((w) => `  workspace:     ${w.id} (${w.name})`),
    ...(replicationDelay ? [`  new principals are "not found" for ${replicationDelay} s`] : []),
    "",
    `Point stack ${stack} at it, in another shell in this checkout (the first line only if the stack is new):`,
    `  npm run pulumi -- stack select --create ${stack}`,
    `  npm run pulumi -- config set --stack ${stack} --path smartspace.adminApiUrl ${emulator.url}`,
    ...emulator.store
      .listWorkspaces()
      .map(
        (w, index) =>
          `  npm run pulumi -- config set --stack ${stack} --path 'integrations[0].workspaces[${index}]' ${w.id}`,
      ),
    `  export SMARTSPACE_ADMIN_TOKEN=${emulator.token}`,
    `  export NODE_EXTRA_CA_CERTS=${emulator.tls.caFile}`,
    `  npm run up -- ${stack}`,
    "(NODE_EXTRA_CA_CERTS makes Node trust the emulator's certificate: it serves https only.)",
    "",
    "Requests (Ctrl+C to stop):",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);

  const stop = () => {
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function parse() {
  return parseArgs({
    options: {
      port: { type: "string" },
      token: { type: "string" },
      "non-admin-token": { type: "string", multiple: true },
      workspace: { type: "string", multiple: true },
      "replication-delay": { type: "string" },
      stack: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`emulator: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
