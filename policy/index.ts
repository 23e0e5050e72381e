/**
 * Entry point of the policy pack, loaded by the Pulumi CLI for `--policy-pack policy`: it runs
 * `@pulumi/pulumi/cmd/run-policy-pack` with this directory as the working directory, so `@pulumi/policy` and
 * TypeScript resolve from the repository's root node_modules (`npm ci` at the root is the only install), and
 * the version comes from ./package.json. Constructing the pack starts its gRPC server, which is why the
 * policies live in ./policies.ts, where tests can import them without serving.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./policies";

new PolicyPack(PACK_NAME, {
  description:
    "Guardrails for Smartspace integration identities: only the resource types the stack declares, credentials only on its own applications, short-lived client secrets, minimal single-tenant applications, hardened Key Vaults, least-privilege role assignments.",
  // Every rule blocks unless a non-production stack's settings (policy/stacks.yaml) relax it: a careless change
  // must stop before it reaches Azure, not print a warning.
  enforcementLevel: "mandatory",
  policies,
});
