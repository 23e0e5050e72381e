// @ts-check
/**
 * One benchmark sample, run in a fresh process: loads a Pulumi program the way the Pulumi CLI's Node.js
 * language host does (`@pulumi/pulumi/cmd/run`: source-map-support first, ts-node when the project's
 * `typescript` option is on, any `nodeargs` loaders already applied by the parent), but against Pulumi's mocks
 * instead of an engine, then waits until every registration has been answered and prints one JSON line.
 *
 * Plain JavaScript on purpose: the harness itself must add no loader of its own to what it measures.
 *
 * Usage: node [nodeargs] harness.js <program|--floor> <integrations> <workspacesPerIntegration> [resources]
 */
"use strict";
const start = process.hrtime.bigint();
const path = require("node:path");

const pulumiRoot = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
// Exactly what cmd/run/index.js does before anything else.
require(require.resolve("source-map-support/register", { paths: [pulumiRoot] }));

const [, , target, integrationsArg, workspacesArg, resourcesArg] = process.argv;
const integrations = Number(integrationsArg);
const workspaces = Number(workspacesArg);

if (process.env.PULUMI_NODEJS_TYPESCRIPT === "true") {
  // cmd/run/run.js registers ts-node like this for TypeScript projects (type-checking unless transpile-only).
  const tsnode = require(require.resolve("ts-node", { paths: [process.cwd()] }));
  tsnode.register({
    compiler: require.resolve("typescript", { paths: [process.cwd()] }),
    transpileOnly: process.env.PULUMI_NODEJS_TRANSPILE_ONLY === "true" ? true : undefined,
    project: "tsconfig.json",
    compilerOptions: {
      target: "ES2020",
      module: "nodenext",
      moduleResolution: "nodenext",
      sourceMap: "true",
    },
  });
}

const pulumi = require("@pulumi/pulumi");
const { benchMocks, benchConfig } = require("./mocks.js");

let registered = 0;
pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      registered++;
      return benchMocks.newResource(args);
    },
    call: benchMocks.call,
  },
  "smartspace-integration",
  "bench",
  false,
);
pulumi.runtime.setAllConfig(benchConfig(integrations, workspaces));

process.on("unhandledRejection", (error) => {
  console.error(error);
  process.exit(1);
});

(async () => {
  if (target === "--floor") {
    // The floor: the same number of resources, registered with the bare SDK and nothing else.
    const count = Number(resourcesArg);
    for (let i = 0; i < count; i++) {
      new pulumi.CustomResource("bench:index:Trivial", `trivial-${i}`, { value: i });
    }
  } else {
    // As cmd/run/run.js does: an exported function is the program, called and awaited. The tenant-policy read
    // is answered in-process (a disabled policy): the benchmark measures program evaluation, not Graph, and
    // must not reach for real credentials.
    const entry = require(path.resolve(target));
    if (typeof entry === "function") {
      await entry({ readTenantPolicy: async () => ({ enabled: false }) });
    }
  }
  await pulumi.runtime.waitForRPCs();
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(
    JSON.stringify({ elapsedMs, maxRssMiB: process.resourceUsage().maxRSS / 1024, resources: registered }) +
      "\n",
  );
  process.exit(0);
})();
