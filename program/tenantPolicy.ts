/**
 * Checks, before anything is declared, that the tenant's app management policy allows the credentials the
 * stack is about to issue. Entra ID refuses a credential longer than an enabled lifetime restriction
 * (`CredentialInvalidLifetimeAsPerAppPolicy`), and it does so in the middle of a deployment, after the
 * application and service principal exist. Reading the policy needs `Policy.Read.ApplicationConfiguration` or
 * `Policy.Read.All`, which a deployer may not have: then the stack says so once and goes on, and Entra ID
 * remains the judge.
 */
import * as pulumi from "@pulumi/pulumi";
import { GraphClient } from "../clients/graph";
import {
  type LifetimeRestriction,
  readTenantCredentialPolicy,
  type TenantCredentialPolicy,
} from "../clients/tenantPolicy";
import { ISSUE_MARGIN_DAYS, maxCredentialLifetimeDays, MIN_ROTATION_DAYS } from "../rules/rotation";

export type TenantPolicyReader = () => Promise<TenantCredentialPolicy>;

/** A credential the stack issues, and where its lifetime is configured. */
export interface CredentialLifetime {
  readonly integration: string;
  /** The config key that sets the lifetime, e.g. `smartspace-integration:integrations[0].rotationDays`. */
  readonly configKey: string;
  readonly kind: "password" | "certificate";
  readonly rotationDays: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The policy read with the deployer's credential from Microsoft Graph, bounded so it cannot hold a run up. */
export function defaultTenantPolicyReader(): TenantPolicyReader {
  return () =>
    readTenantCredentialPolicy(new GraphClient({ timeoutMs: 15_000, deadlineMs: 30_000, maxRetries: 2 }));
}

/**
 * Throws a RunError naming each credential the policy would refuse (integration, config key, our lifetime,
 * the tenant's maximum); warns once and returns when the policy cannot be read.
 */
export async function checkTenantCredentialPolicy(
  credentials: readonly CredentialLifetime[],
  read: TenantPolicyReader = defaultTenantPolicyReader(),
  now: Date = new Date(),
): Promise<void> {
  let policy: TenantCredentialPolicy;
  try {
    policy = await read();
  } catch (error) {
    pulumi.log.warn(
      `Could not read the tenant's app management policy, so credential lifetimes are not checked against it ` +
        `before deploying (${error instanceof Error ? error.message : String(error)}). Grant the identity ` +
        `Policy.Read.ApplicationConfiguration (or Policy.Read.All) to have them checked.`,
    );
    return;
  }
  if (!policy.enabled) {
    return;
  }
  const problems: string[] = [];
  for (const credential of credentials) {
    const restriction =
      credential.kind === "password" ? policy.passwordLifetime : policy.asymmetricKeyLifetime;
    if (restriction === undefined || !inForce(restriction, now)) {
      continue;
    }
    const lifetimeDays = maxCredentialLifetimeDays(credential.rotationDays);
    if (lifetimeDays * DAY_MS > restriction.maxLifetimeMs) {
      problems.push(describe(credential, lifetimeDays, restriction));
    }
  }
  if (problems.length > 0) {
    throw new pulumi.RunError(
      `The tenant's app management policy would refuse ${problems.length === 1 ? "a credential" : "credentials"} ` +
        `of this stack (CredentialInvalidLifetimeAsPerAppPolicy); nothing was changed:\n` +
        problems.map((problem) => `  - ${problem}`).join("\n"),
    );
  }
}

/**
 * A restriction covers applications created on or after its date. The stack cannot tell when an existing
 * integration's application was created, so it treats every application as covered once the date has passed.
 */
function inForce(restriction: LifetimeRestriction, now: Date): boolean {
  const from = restriction.appliesToAppsCreatedFrom;
  return from === undefined || Date.parse(from) <= now.getTime();
}

function describe(
  credential: CredentialLifetime,
  lifetimeDays: number,
  restriction: LifetimeRestriction,
): string {
  const what = credential.kind === "password" ? "client secrets" : "certificates";
  const allowedDays = restriction.maxLifetimeMs / DAY_MS;
  const fittingRotationDays = Math.floor((allowedDays - ISSUE_MARGIN_DAYS) / 2);
  const scope =
    restriction.appliesToAppsCreatedFrom === undefined
      ? "for every application"
      : `for applications created from ${restriction.appliesToAppsCreatedFrom}`;
  const remedy =
    fittingRotationDays >= MIN_ROTATION_DAYS
      ? `set ${credential.configKey} to at most ${fittingRotationDays}`
      : `no rotationDays fits (the minimum is ${MIN_ROTATION_DAYS}): ask an administrator for an app management ` +
        `policy that allows this integration's application longer ${what}`;
  return (
    `integration ${credential.integration}: its ${what} live up to ${lifetimeDays} days ` +
    `(${credential.configKey} ${credential.rotationDays}: twice that, plus up to ${ISSUE_MARGIN_DAYS} day when issued ` +
    `just before a rotation), but the tenant allows at most ${formatDays(allowedDays)} days ` +
    `(${restriction.restrictionType} ${restriction.maxLifetime}, ${scope}); ${remedy}`
  );
}

function formatDays(days: number): string {
  return Number.isInteger(days) ? String(days) : days.toFixed(2);
}
