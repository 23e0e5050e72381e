/**
 * The renewal of the identifier secrets' expiry (client ID, tenant ID; rules/rotation.ts,
 * identifierSecretExpiry) seen from outside: which period renews an integration's, and which period an expiry
 * belongs to, so that a drift check can tell a scheduled renewal from an expiry changed by hand.
 *
 * A module of its own because rules/rotation.ts is part of the KeyVaultCertificate provider's code version:
 * a change there shows every deployed certificate version as an update (docs/architecture.md).
 */
import {
  DEFAULT_ROTATION_DAYS,
  IDENTIFIER_EXPIRY_MIN_DAYS,
  ROTATION_EPOCH,
  validateRotationDays,
} from "./rotation";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The rotation period whose schedule renews an integration's identifier secrets: its own, or for a type that
 * rotates no credential (federated) the default period.
 */
export function identifierRenewalDays(credentialType: string, rotationDays: number | undefined): number {
  return credentialType === "federated" ? DEFAULT_ROTATION_DAYS : (rotationDays ?? DEFAULT_ROTATION_DAYS);
}

/**
 * The period k whose schedule gives the identifier secrets the expiry `expiresSeconds` (seconds since 1970,
 * as Key Vault stores it), or undefined when no period of `rotationDays` does.
 */
export function identifierExpiryPeriod(expiresSeconds: number, rotationDays: number): number | undefined {
  validateRotationDays(rotationDays);
  if (!Number.isSafeInteger(expiresSeconds)) return undefined;
  const periodMs = rotationDays * DAY_MS;
  // identifierSecretExpiry of period k: boundary k + 1 (when the previous slot expires) plus the days.
  const sinceFirstBoundary =
    expiresSeconds * 1000 -
    Date.parse(ROTATION_EPOCH) -
    Math.max(rotationDays, IDENTIFIER_EXPIRY_MIN_DAYS) * DAY_MS -
    periodMs;
  return sinceFirstBoundary % periodMs === 0 ? sinceFirstBoundary / periodMs : undefined;
}
