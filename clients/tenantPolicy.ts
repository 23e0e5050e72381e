/**
 * The tenant's default app management policy, as far as credential lifetimes go: `GET
 * /policies/defaultAppManagementPolicy` (Microsoft Graph; `Policy.Read.ApplicationConfiguration` or
 * `Policy.Read.All`). Entra ID refuses a credential longer than an enabled `passwordLifetime` (passwords) or
 * `asymmetricKeyLifetime` (certificates) restriction allows (`CredentialInvalidLifetimeAsPerAppPolicy`).
 * Contract: microsoftgraph/microsoft-graph-docs-contrib, api-reference/v1.0/api/tenantappmanagementpolicy-get.md
 * and resources/passwordcredentialconfiguration.md.
 */
import { z } from "zod";
import type { GraphClient } from "./graph";

/** One lifetime restriction, the strictest of its type. */
export interface LifetimeRestriction {
  /** `passwordLifetime` or `asymmetricKeyLifetime`. */
  readonly restrictionType: string;
  /** As Graph wrote it (ISO 8601 duration), for messages. */
  readonly maxLifetime: string;
  /** Its shortest reading in milliseconds (a year as 365 days, a month as 28). */
  readonly maxLifetimeMs: number;
  /** The restriction covers applications created on or after this instant; undefined: every application. */
  readonly appliesToAppsCreatedFrom?: string;
}

export interface TenantCredentialPolicy {
  /** A disabled policy restricts nothing. */
  readonly enabled: boolean;
  readonly passwordLifetime?: LifetimeRestriction;
  readonly asymmetricKeyLifetime?: LifetimeRestriction;
}

const restrictionSchema = z.looseObject({
  restrictionType: z.string(),
  maxLifetime: z.string().nullish(),
  restrictForAppsCreatedAfterDateTime: z.string().nullish(),
  // Documented in beta; a restriction whose state is "disabled" is not enforced.
  state: z.string().nullish(),
});

const policySchema = z.looseObject({
  isEnabled: z.boolean(),
  applicationRestrictions: z
    .looseObject({
      passwordCredentials: z.array(restrictionSchema).nullish(),
      keyCredentials: z.array(restrictionSchema).nullish(),
    })
    .nullish(),
});

const SHAPE =
  "a tenantAppManagementPolicy ({isEnabled, applicationRestrictions: {passwordCredentials: [...], keyCredentials: [...]}})";

const DAY_MS = 24 * 60 * 60 * 1000;
const DURATION =
  /^P(?!$)(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Milliseconds in an ISO 8601 duration (`P90D`, `P4DT12H30M5S`, `P1Y`), or undefined when it is not one. Years
 * and months have no fixed length; they count as 365 and 28 days, the shortest reading, so that a lifetime
 * found to fit never exceeds what the tenant meant.
 */
export function parseIsoDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) {
    return undefined;
  }
  const [years, months, weeks, days, hours, minutes, seconds] = match
    .slice(1)
    .map((part) => Number(part ?? 0));
  return (
    (years * 365 + months * 28 + weeks * 7 + days) * DAY_MS +
    hours * 3_600_000 +
    minutes * 60_000 +
    seconds * 1_000
  );
}

/** Reads the default policy; a response that does not follow the contract is an error, never "no policy". */
export async function readTenantCredentialPolicy(graph: GraphClient): Promise<TenantCredentialPolicy> {
  const policy = await graph.get(["policies", "defaultAppManagementPolicy"], policySchema, SHAPE);
  const strictest = (
    restrictions: readonly z.output<typeof restrictionSchema>[] | null | undefined,
    restrictionType: string,
  ): LifetimeRestriction | undefined => {
    let found: LifetimeRestriction | undefined;
    for (const restriction of restrictions ?? []) {
      if (
        restriction.restrictionType !== restrictionType ||
        restriction.state?.toLowerCase() === "disabled"
      ) {
        continue;
      }
      const text = restriction.maxLifetime ?? "";
      const maxLifetimeMs = parseIsoDuration(text);
      if (maxLifetimeMs === undefined) {
        throw new Error(
          `GET /policies/defaultAppManagementPolicy: the ${restrictionType} restriction's maxLifetime ${JSON.stringify(restriction.maxLifetime)} is not an ISO 8601 duration`,
        );
      }
      const from = restriction.restrictForAppsCreatedAfterDateTime ?? undefined;
      if (from !== undefined && Number.isNaN(Date.parse(from))) {
        throw new Error(
          `GET /policies/defaultAppManagementPolicy: the ${restrictionType} restriction's restrictForAppsCreatedAfterDateTime ${JSON.stringify(from)} is not a date`,
        );
      }
      if (found === undefined || maxLifetimeMs < found.maxLifetimeMs) {
        found = { restrictionType, maxLifetime: text, maxLifetimeMs, appliesToAppsCreatedFrom: from };
      }
    }
    return found;
  };
  return {
    enabled: policy.isEnabled,
    passwordLifetime: strictest(policy.applicationRestrictions?.passwordCredentials, "passwordLifetime"),
    asymmetricKeyLifetime: strictest(policy.applicationRestrictions?.keyCredentials, "asymmetricKeyLifetime"),
  };
}
