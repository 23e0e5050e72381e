/**
 * Writes the policy pack config (`--policy-pack-config`) for one stack: each policy's enforcement level and
 * limits from policy/stacks.yaml, the owners the stack file allows, and the tenant's Smartspace service
 * principal and app role (per environment, from GitHub environment variables, so a pull request cannot change
 * what the pack expects). Production stacks cannot go below the production minimums: the writer refuses.
 *
 *   npm run policy:config -- --stack prod --smartspace-sp <object id> --app-role-id <role id> --out policy-config.json
 *   npm run preview -- prod --policy-pack policy --policy-pack-config policy-config.json
 *
 * The object ID is the stack output smartspaceServicePrincipalObjectId, or
 * `az ad sp show --id <Smartspace app client ID> --query id --output tsv`; the role ID is
 * `az ad sp show --id <Smartspace app client ID> --query "appRoles[?displayName=='Integrations'].id" --output tsv`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import {
  CONFIG,
  MAX_CERTIFICATE_LIFETIME_DAYS,
  MAX_PASSWORD_LIFETIME_DAYS,
  MAX_SOFT_DELETE_RETENTION_DAYS,
  POLICY,
  type PolicyName,
  SECRETLESS_LEVELS,
} from "./policies";
import { GUID } from "../rules/ids";
import { DEFAULT_ROTATION_DAYS, maxCredentialLifetimeDays } from "../rules/rotation";

const PROJECT = "smartspace-integration";
const LEVELS = ["mandatory", "advisory", "disabled"] as const;
type Level = (typeof LEVELS)[number];
const POLICY_NAMES = Object.values(POLICY) as [PolicyName, ...PolicyName[]];

const SETTINGS = z.record(
  z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: "use a stack name" }),
  z.strictObject({
    production: z.boolean(),
    enforcement: z.partialRecord(z.enum(POLICY_NAMES), z.enum(LEVELS)).optional(),
    limits: z
      .strictObject({
        maxPasswordLifetimeDays: z.number().int().min(1).max(MAX_PASSWORD_LIFETIME_DAYS).optional(),
        maxCertificateLifetimeDays: z.number().int().min(1).max(MAX_CERTIFICATE_LIFETIME_DAYS).optional(),
        minSoftDeleteRetentionDays: z.number().int().min(7).max(MAX_SOFT_DELETE_RETENTION_DAYS).optional(),
        requireNetworkRules: z.boolean().optional(),
        requireSecretless: z.enum(SECRETLESS_LEVELS).optional(),
      })
      .optional(),
  }),
);

export type StackSettings = z.output<typeof SETTINGS>[string];

/** The settings of one stack from policy/stacks.yaml; an unlisted stack is production with defaults. */
export function stackSettings(settingsText: string, stack: string): StackSettings {
  const parsed = SETTINGS.safeParse(parseYaml(settingsText) ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`policy/stacks.yaml is invalid: ${problems.join("; ")}`);
  }
  return parsed.data[stack] ?? { production: true };
}

/** Whether each stack listed is production; used by the pipelines to decide what pull requests may preview. */
export function isProduction(settingsText: string, stack: string): boolean {
  return stackSettings(settingsText, stack).production;
}

/** An integration as the stack file declares it, the parts the pack config depends on. */
export interface IntegrationFacts {
  readonly name: string;
  /** `credential.type`; `secret` when absent. */
  readonly type: string;
  /** Rotation period of a secret or certificate (default 90). */
  readonly rotationDays?: number;
  /** An existing managed identity's principal ID (`credential.principalId`). */
  readonly principalId?: string;
}

/** What the stack file says about owners and integrations, the parts the pack config depends on. */
export interface StackFileFacts {
  /** deployerObjectId plus every integration's owners; undefined without deployerObjectId. */
  readonly allowedOwners?: string[];
  readonly integrations: readonly IntegrationFacts[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function stackFileFacts(stackFileText: string): StackFileFacts {
  const config = ((parseYaml(stackFileText) as { config?: Record<string, unknown> } | null)?.config ??
    {}) as Record<string, unknown>;
  const listed = config[`${PROJECT}:integrations`];
  const raw = (Array.isArray(listed) ? listed : []).filter(isRecord);
  const owners = raw.flatMap((integration) =>
    Array.isArray(integration.owners) ? integration.owners.map(String) : [],
  );
  const integrations = raw.map((integration): IntegrationFacts => {
    const credential = isRecord(integration.credential) ? integration.credential : {};
    const type = typeof credential.type === "string" ? credential.type : "secret";
    // The program validates the rest; here only what the pack config needs (rotationDays of earlier releases
    // sits beside the credential).
    const rotationDays = [credential.rotationDays, integration.rotationDays].find(
      (days): days is number => typeof days === "number",
    );
    return {
      name: String(integration.name),
      type,
      ...(type === "secret" || type === "certificate"
        ? { rotationDays: rotationDays ?? DEFAULT_ROTATION_DAYS }
        : {}),
      ...(type === "managedIdentity" && credential.principalId !== undefined
        ? { principalId: credential.principalId as string }
        : {}),
    };
  });
  const deployer = config[`${PROJECT}:deployerObjectId`];
  const principals = integrations.flatMap((integration) =>
    integration.principalId === undefined ? [] : [integration.principalId],
  );
  // The pack's schema accepts object IDs only; a placeholder left in the stack file is named here instead.
  const notGuid = [deployer, ...owners, ...principals].filter(
    (id) => id !== undefined && (typeof id !== "string" || !GUID.test(id)),
  );
  if (notGuid.length > 0) {
    throw new Error(
      `the stack file's deployerObjectId, integrations[].owners or integrations[].credential.principalId hold ${notGuid.map((id) => JSON.stringify(id)).join(", ")}, not object IDs; fill in the placeholders`,
    );
  }
  return {
    allowedOwners:
      typeof deployer === "string"
        ? [...new Set([deployer, ...owners].map((id) => id.toLowerCase()))].sort()
        : undefined,
    integrations,
  };
}

/** The longest a credential of `type` lives in this stack, in days, or undefined when it has none. */
function longestLifetimeDays(facts: StackFileFacts, type: "secret" | "certificate"): number | undefined {
  const periods = facts.integrations.flatMap((integration) =>
    integration.type === type && integration.rotationDays !== undefined ? [integration.rotationDays] : [],
  );
  return periods.length === 0 ? undefined : maxCredentialLifetimeDays(Math.max(...periods));
}

export interface ConfigInputs {
  readonly stack: string;
  readonly settings: StackSettings;
  readonly facts: StackFileFacts;
  readonly smartspaceServicePrincipalObjectId: string;
  readonly smartspaceAppRoleId?: string;
}

type PackConfig = Record<string, Record<string, unknown>>;

/** The pack config for one stack; throws listing every problem, including production minimums not met. */
export function policyPackConfig(inputs: ConfigInputs): PackConfig {
  const problems: string[] = [];
  const { settings, facts } = inputs;
  const sp = inputs.smartspaceServicePrincipalObjectId.trim();
  if (!GUID.test(sp)) {
    problems.push(
      `the Smartspace service principal object ID ${JSON.stringify(inputs.smartspaceServicePrincipalObjectId)} is not a GUID; ` +
        "use the stack output smartspaceServicePrincipalObjectId (or az ad sp show --id <Smartspace app client ID> --query id --output tsv)",
    );
  }
  const role = inputs.smartspaceAppRoleId?.trim() || undefined;
  if (role !== undefined && !GUID.test(role)) {
    problems.push(`the Smartspace app role ID ${JSON.stringify(role)} is not a GUID`);
  }
  const limits = settings.limits ?? {};
  const maxDays = limits.maxPasswordLifetimeDays ?? MAX_PASSWORD_LIFETIME_DAYS;
  const maxCertificateDays = limits.maxCertificateLifetimeDays ?? MAX_CERTIFICATE_LIFETIME_DAYS;
  for (const [key, limit, type] of [
    ["maxPasswordLifetimeDays", maxDays, "secret"],
    ["maxCertificateLifetimeDays", maxCertificateDays, "certificate"],
  ] as const) {
    const needed = longestLifetimeDays(facts, type);
    if (needed !== undefined && limit < needed) {
      problems.push(
        `limits.${key} ${limit} is shorter than the stack's ${type}s can live (${needed} days: 2 x its longest rotationDays, plus the day a rotation may come early); raise it or shorten rotationDays`,
      );
    }
  }
  const secretless = limits.requireSecretless ?? "off";
  const refused =
    secretless === "off" ? [] : secretless === "no-client-secrets" ? ["secret"] : ["secret", "certificate"];
  for (const integration of facts.integrations.filter((candidate) => refused.includes(candidate.type))) {
    problems.push(
      `limits.requireSecretless is ${secretless}, but integration ${integration.name} uses credential type ${integration.type}; move it to federated or managedIdentity${secretless === "no-client-secrets" ? " (or certificate)" : ""} first`,
    );
  }
  const enforcement: Record<string, Level> = Object.fromEntries(
    POLICY_NAMES.map((name) => [name, settings.enforcement?.[name] ?? "mandatory"]),
  );
  if (settings.production) {
    const weakened = Object.entries(enforcement).filter(([, level]) => level !== "mandatory");
    for (const [name, level] of weakened) {
      problems.push(
        `${inputs.stack} is a production stack: policy ${name} must stay mandatory, not ${level}`,
      );
    }
    const retention = limits.minSoftDeleteRetentionDays ?? MAX_SOFT_DELETE_RETENTION_DAYS;
    if (retention < MAX_SOFT_DELETE_RETENTION_DAYS) {
      problems.push(
        `${inputs.stack} is a production stack: limits.minSoftDeleteRetentionDays must be ${MAX_SOFT_DELETE_RETENTION_DAYS}, not ${retention}`,
      );
    }
    if (role === undefined) {
      problems.push(
        `${inputs.stack} is a production stack: pass --app-role-id (the Smartspace Integrations role ID) so that no other role can be assigned`,
      );
    }
    if (facts.allowedOwners === undefined) {
      problems.push(
        `${inputs.stack} is a production stack: set smartspace-integration:deployerObjectId in Pulumi.${inputs.stack}.yaml so that the pack knows every allowed owner`,
      );
    }
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
  const principals = [
    ...new Set(facts.integrations.flatMap((integration) => integration.principalId?.toLowerCase() ?? [])),
  ].sort();

  const entry = (name: PolicyName, properties: Record<string, unknown> = {}) => ({
    enforcementLevel: enforcement[name],
    ...properties,
  });
  return {
    ...Object.fromEntries(POLICY_NAMES.map((name) => [name, entry(name)])),
    [POLICY.passwordLifetime]: entry(POLICY.passwordLifetime, { [CONFIG.maxDays]: maxDays }),
    [POLICY.certificateLifetime]: entry(POLICY.certificateLifetime, { [CONFIG.maxDays]: maxCertificateDays }),
    [POLICY.secretless]: entry(POLICY.secretless, { [CONFIG.secretless]: secretless }),
    [POLICY.keyVault]: entry(POLICY.keyVault, {
      [CONFIG.minRetentionDays]: limits.minSoftDeleteRetentionDays ?? MAX_SOFT_DELETE_RETENTION_DAYS,
      [CONFIG.requireNetworkRules]: limits.requireNetworkRules ?? false,
    }),
    [POLICY.owners]: entry(
      POLICY.owners,
      facts.allowedOwners === undefined ? {} : { [CONFIG.allowedOwners]: facts.allowedOwners },
    ),
    [POLICY.appRoleAssignment]: entry(POLICY.appRoleAssignment, {
      [CONFIG.smartspacePrincipal]: sp.toLowerCase(),
      ...(role === undefined ? {} : { [CONFIG.smartspaceAppRole]: role.toLowerCase() }),
      ...(principals.length === 0 ? {} : { [CONFIG.managedIdentityPrincipals]: principals }),
    }),
  };
}

if (require.main === module) {
  const root = path.resolve(__dirname, "..");
  const program = new Command()
    .name("write-config")
    .description("Write the smartspace-guardrails policy pack config for one stack.")
    .requiredOption(
      "--stack <name>",
      "the stack (its settings in policy/stacks.yaml, its owners in Pulumi.<stack>.yaml)",
    )
    .requiredOption(
      "--smartspace-sp <objectId>",
      "object ID of the Smartspace service principal in this tenant",
    )
    .option(
      "--app-role-id <id>",
      "ID of the Smartspace app role the integrations hold (required for production)",
    )
    .option("--settings <file>", "per-stack settings", path.join(root, "policy", "stacks.yaml"))
    .option(
      "--stack-file <file>",
      "the stack's config file (default: Pulumi.<stack>.yaml beside Pulumi.yaml)",
    )
    .requiredOption("--out <file>", "where to write the JSON config")
    .action(
      (opts: {
        stack: string;
        smartspaceSp: string;
        appRoleId?: string;
        settings: string;
        stackFile?: string;
        out: string;
      }) => {
        try {
          const stackFile = opts.stackFile ?? path.join(root, `Pulumi.${opts.stack}.yaml`);
          const config = policyPackConfig({
            stack: opts.stack,
            settings: stackSettings(readFileSync(opts.settings, "utf8"), opts.stack),
            facts: stackFileFacts(readFileSync(stackFile, "utf8")),
            smartspaceServicePrincipalObjectId: opts.smartspaceSp,
            smartspaceAppRoleId: opts.appRoleId,
          });
          writeFileSync(opts.out, `${JSON.stringify(config, null, 2)}\n`);
        } catch (error) {
          process.stderr.write(`write-config: ${(error as Error).message}\n`);
          process.exitCode = 1;
        }
      },
    );
  program.parse();
}
