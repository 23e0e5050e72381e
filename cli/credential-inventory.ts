/**
 * Finds credentials, owners and federated credentials that Entra ID holds for the stack's applications and
 * service principals but the stack does not declare: a password or certificate added by hand (a backdoor,
 * or a leftover of an interrupted deployment), a federated credential, an extra owner. Each credential is
 * its own Pulumi resource, so `pulumi refresh` cannot see one it does not know; this reads the applications
 * themselves through Microsoft Graph (clients/applicationInventory.ts) and compares with the stack's state.
 *
 *   npm run --silent pulumi -- stack export --stack prod > state.json
 *   npm run --silent credential-inventory -- --state state.json --stack prod --markdown inventory.md \
 *     --github-output "$GITHUB_OUTPUT"
 *
 * Verdicts: `clean`, `undeclared` (drift; each finding names the key ID), `failed` (exit 2: the state or
 * Graph could not be read completely; never reported as clean). Needs `Application.Read.All`.
 */
import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { z } from "zod";
import type { DeclaredApplication, InventoryResult, UndeclaredItem } from "../clients/applicationInventory";
import { inventoryApplications } from "../clients/applicationInventory";
import { GRAPH_URL, GraphClient } from "../clients/graph";
import { appendOutputs, code, fitReport, readBounded, recordFailure } from "./report";

export type InventoryVerdict = "clean" | "undeclared" | "failed";

const TYPES = {
  application: "azuread:index/application:Application",
  servicePrincipal: "azuread:index/servicePrincipal:ServicePrincipal",
  password: "azuread:index/applicationPassword:ApplicationPassword",
  certificate: "azuread:index/applicationCertificate:ApplicationCertificate",
  federated: "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential",
} as const;

const STATE = z.looseObject({
  deployment: z.looseObject({
    resources: z
      .array(
        z.looseObject({
          urn: z.string(),
          type: z.string(),
          id: z.string().optional(),
          outputs: z.record(z.string(), z.unknown()).optional(),
        }),
      )
      .nullish(),
  }),
});

const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
const list = (value: unknown) =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
/** `/applications/<object id>` (azuread's resource ID form) or a bare object ID. */
const objectIdOf = (value: unknown) =>
  text(value)
    ?.replace(/^\/applications\//i, "")
    .toLowerCase();

/** The applications the stack declares, from `pulumi stack export` output. Throws when it is not a state. */
export function declaredFromState(state: unknown): DeclaredApplication[] {
  const parsed = STATE.safeParse(state);
  if (!parsed.success) {
    throw new Error("the input is not the output of pulumi stack export (no deployment.resources)");
  }
  const resources = parsed.data.deployment.resources ?? [];
  const of = (type: string) => resources.filter((resource) => resource.type === type);
  const name = (urn: string) => urn.split("::").pop() ?? urn;
  const byApplication = (type: string, key: string) => {
    const map = new Map<string, string[]>();
    for (const resource of of(type)) {
      const app = objectIdOf(resource.outputs?.applicationId);
      const id = text(resource.outputs?.[key]);
      if (app === undefined || id === undefined) {
        throw new Error(
          `${resource.urn} has no ${key} or applicationId in the state; refresh the stack first`,
        );
      }
      map.set(app, [...(map.get(app) ?? []), id]);
    }
    return map;
  };
  const passwords = byApplication(TYPES.password, "keyId");
  const certificates = byApplication(TYPES.certificate, "keyId");
  const federated = byApplication(TYPES.federated, "credentialId");
  return of(TYPES.application).map((app) => {
    const objectId = objectIdOf(app.outputs?.objectId) ?? objectIdOf(app.id);
    const clientId = text(app.outputs?.clientId)?.toLowerCase();
    if (objectId === undefined || clientId === undefined) {
      throw new Error(`${app.urn} has no objectId or clientId in the state; refresh the stack first`);
    }
    const principal = of(TYPES.servicePrincipal).find(
      (sp) => text(sp.outputs?.clientId)?.toLowerCase() === clientId,
    );
    return {
      name: name(app.urn),
      objectId,
      servicePrincipalObjectId: text(principal?.outputs?.objectId),
      owners: list(app.outputs?.owners),
      servicePrincipalOwners: list(principal?.outputs?.owners),
      passwordKeyIds: passwords.get(objectId) ?? [],
      certificateKeyIds: certificates.get(objectId) ?? [],
      federatedCredentialIds: federated.get(objectId) ?? [],
    };
  });
}

const MEANING: Readonly<Record<UndeclaredItem["kind"], string>> = {
  password:
    "a client secret the stack did not create: added by hand (anyone holding it can act as the integration) or left by an interrupted deployment",
  certificate: "a certificate credential the stack did not add",
  "federated credential":
    "a federated credential the stack did not add: an outside workload can act as the integration",
  owner: "an owner the configuration does not name: owners can add credentials",
  "missing object": "declared in state but gone from Entra ID; the drift preview reports it too",
};

export function renderInventoryMarkdown(
  stack: string | undefined,
  verdict: InventoryVerdict,
  result: InventoryResult | undefined,
  problem?: string,
): string {
  const lines = [`### Credential inventory of stack ${code(stack ?? "(stack)")}: ${verdict}`, ""];
  if (problem !== undefined) {
    lines.push(`The inventory could not be completed: ${code(problem, { max: 2000 })}`, "");
  } else if (result && result.undeclared.length > 0) {
    lines.push(
      "| Application | On | Kind | ID | Name | Ends | Meaning |",
      "| --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const item of result.undeclared.slice(0, 500)) {
      const cell = (value: string | undefined) => (value ? code(value, { inTable: true }) : "-");
      lines.push(
        `| ${cell(item.application)} | ${item.on} | ${item.kind} | ${cell(item.id)} | ${cell(item.displayName)} | ${cell(item.endDateTime)} | ${MEANING[item.kind]} |`,
      );
    }
    lines.push(
      "",
      "Remove what nobody can account for (docs/operations.md#undeclared-credentials-and-owners): `az ad app credential delete --id <client ID> --key-id <key ID>`, `az ad app owner remove`, or the federated credential in the portal; a key ID the stack's state names is never listed here.",
      "",
    );
  } else if (result) {
    lines.push(`Every credential and owner of the stack's ${result.checked} application(s) is declared.`, "");
  }
  return fitReport(lines.join("\n"));
}

export interface InventoryIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The Graph client to use (tests pass one pointed at the emulator). */
  readonly graph?: (baseUrl: string) => GraphClient;
}

/** Runs the command line; resolves to the exit code (0 clean or undeclared, 1 undeclared with --exit-code, 2 failed). */
export async function main(argv: readonly string[], io: InventoryIo): Promise<number> {
  const program = new Command()
    .name("credential-inventory")
    .description(
      "Report credentials, owners and federated credentials of the stack's applications that it does not declare.",
    )
    .requiredOption("--state <file>", "output of `pulumi stack export`")
    .option("--stack <name>", "stack name, for the report")
    .option("--graph-url <url>", "Microsoft Graph base URL (https)", GRAPH_URL)
    .option("--markdown <file>", "write the Markdown report to this file")
    .option("--github-output <file>", "append verdict=... and count=... to this file")
    .option("--exit-code", "also exit 1 when something undeclared is found")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  let opts: {
    state: string;
    stack?: string;
    graphUrl: string;
    markdown?: string;
    githubOutput?: string;
    exitCode?: boolean;
  };
  try {
    program.parse([...argv], { from: "user" });
    opts = program.opts();
  } catch (error) {
    const exit = (error as { exitCode?: number }).exitCode;
    if (exit === 0) return 0;
    recordFailure(argv, { verdict: "failed", count: 0 }, io.stderr, "credential-inventory");
    return 64;
  }
  let verdict: InventoryVerdict = "failed";
  let result: InventoryResult | undefined;
  let problem: string | undefined;
  try {
    const declared = declaredFromState(JSON.parse(readBounded(opts.state, opts.state)) as unknown);
    const graph = io.graph?.(opts.graphUrl) ?? new GraphClient({ baseUrl: opts.graphUrl });
    result = await inventoryApplications(graph, declared);
    verdict = result.undeclared.length > 0 ? "undeclared" : "clean";
  } catch (error) {
    problem = (error as Error).message;
  }
  const markdown = renderInventoryMarkdown(opts.stack, verdict, result, problem);
  if (opts.githubOutput) appendOutputs(opts.githubOutput, { verdict, count: result?.undeclared.length ?? 0 });
  if (opts.markdown) writeFileSync(opts.markdown, markdown);
  io.stdout(markdown);
  if (verdict === "failed") return 2;
  return verdict === "undeclared" && opts.exitCode ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`credential-inventory: ${(error as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
