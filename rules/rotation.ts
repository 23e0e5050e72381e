/**
 * Two-slot client secret rotation schedule: a pure function of (period, rotationDays).
 *
 * Time is cut into periods of P = rotationDays days counted from a fixed epoch; B_k = epoch + kP is boundary k.
 * Generation g is a credential valid from B_g to B_(g+2), held by slot "a" when g is even and slot "b" when g
 * is odd. During period k the slots hold generations k (the current one: more than P of validity left) and
 * k-1 (the previous one: still valid, expiring at B_(k+1)). Crossing into period k+1 only moves the slot
 * holding k-1 to k+1; the slot holding k is untouched, so a consumer using it keeps working for another P.
 *
 * A deployment sends a credential some time after the program computed its schedule, and Entra ID refuses
 * an end date that has passed. So the schedule in effect at instant t is that of the period containing
 * t + ISSUE_MARGIN_DAYS: period k is in effect from B_k - margin to B_(k+1) - margin, and every end date a
 * program declares lies at least the margin after it started. A credential issued early in that window
 * lives at most 2P + margin (it starts when issued and ends at its generation's end).
 *
 * Timeline for rotationDays = 30 (epoch 2024-01-01T00:00:00Z, margin 1 day; ranges are [startDate, endDate)):
 *
 *   now                    k  slot a (even g)                      slot b (odd g)                       current
 *   2024-01-01T00:00:00Z   0  g0  2024-01-01 .. 2024-03-01         g-1 2023-12-02 .. 2024-01-31         a
 *   2024-01-29T23:59:59Z   0  g0  2024-01-01 .. 2024-03-01         g-1 2023-12-02 .. 2024-01-31         a
 *   2024-01-30T00:00:00Z   1  g0  2024-01-01 .. 2024-03-01         g1  2024-01-31 .. 2024-03-31         b
 *   2024-02-29T00:00:00Z   2  g2  2024-03-01 .. 2024-04-30         g1  2024-01-31 .. 2024-03-31         a
 *   2024-03-30T00:00:00Z   3  g2  2024-03-01 .. 2024-04-30         g3  2024-03-31 .. 2024-05-30         b
 *
 * Because every date is derived from the generation and never from "now", two `pulumi up` runs in the same
 * period produce identical inputs (no diff); the first run of a new period replaces exactly one slot. If no
 * `pulumi up` runs for a whole period after a rotation instant, the current slot's credential reaches its
 * end date and consumers break: the stack must be deployed on a schedule shorter than P.
 *
 * Generation k-1 in period 0 starts before the epoch. That is computed like any other generation (the
 * slot mapping uses a non-negative modulo); only instants before the epoch are rejected, since they mean a
 * wrong clock rather than a real deployment. A generation's startDate lies in the past whenever a deployment
 * issues it (the first deployment, or the first one after a boundary), so the stack does not send it to
 * Entra ID, which may refuse backdated credentials: a credential then starts when it is issued and ends
 * exactly at the generation's endDate.
 *
 * Changing rotationDays (e.g. 90 -> 30) changes the period length, so both slots get new generations and
 * new dates and the next `pulumi up` replaces both at once (create-before-delete: the new credentials exist
 * before the old ones are removed). The new schedule satisfies the same invariants as any other (both slots
 * valid now, current slot with at least rotationDays left), and the Key Vault secret gets a new version
 * holding the new current slot in the same update. What is lost is the overlap for consumers: the value
 * they cached (the old current slot) is deleted in that update, so they fail until they re-read Key Vault.
 * Change rotationDays only together with a consumer refresh (e.g. restart the function app right after the
 * update so its Key Vault references are re-resolved), or accept that window.
 */

/** Fixed origin of all rotation periods. Never change it: doing so replaces every slot of every stack. */
export const ROTATION_EPOCH = "2024-01-01T00:00:00Z";
export const MIN_ROTATION_DAYS = 7;
export const MAX_ROTATION_DAYS = 180;
export const DEFAULT_ROTATION_DAYS = 90;
/**
 * Every end date a deployment declares lies at least this far after the program started. It covers the time
 * until the credential reaches Entra ID (minutes usually; hours for a pipeline that waits or retries) and
 * clock skew, with room to spare, and still leaves a whole day of validity to a slot issued at the last moment.
 */
export const ISSUE_MARGIN_DAYS = 1;

const EPOCH_MS = Date.parse(ROTATION_EPOCH);
const DAY_MS = 24 * 60 * 60 * 1000;
const ISSUE_MARGIN_MS = ISSUE_MARGIN_DAYS * DAY_MS;
// RFC3339 as azuread expects needs a four-digit year; stay far enough below 9999 that endDate fits too.
const LATEST_SUPPORTED_MS = Date.parse("9000-01-01T00:00:00Z");

export type SlotName = "a" | "b";

export interface SlotSchedule {
  readonly slot: SlotName;
  /** Period index at which this credential was issued; may be -1 for the previous slot in period 0. */
  readonly generation: number;
  /**
   * RFC3339 UTC, second precision (`YYYY-MM-DDTHH:MM:SSZ`): when the generation begins. The credential itself is
   * issued at the first deployment at or after this instant.
   */
  readonly startDate: string;
  /** RFC3339 UTC, second precision: the `endDate` of the ApplicationPassword (startDate + 2 x rotationDays). */
  readonly endDate: string;
}

export interface RotationSchedule {
  /** Slot issued at the start of the current period: the one whose password goes into Key Vault. */
  readonly current: SlotSchedule;
  /** Slot issued one period earlier; it expires ISSUE_MARGIN_DAYS after `nextRotationOn`. */
  readonly previous: SlotSchedule;
  readonly slots: { readonly a: SlotSchedule; readonly b: SlotSchedule };
  /**
   * When the next period takes effect (RFC3339 UTC): the first `pulumi up` at or after it replaces the previous
   * slot, ISSUE_MARGIN_DAYS before that slot expires.
   */
  readonly nextRotationOn: string;
}

function formatUtc(ms: number): string {
  // Boundaries are whole days after a midnight epoch, so dropping the milliseconds loses nothing.
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function slotOf(generation: number): SlotName {
  return ((generation % 2) + 2) % 2 === 0 ? "a" : "b";
}

function generationSchedule(generation: number, periodMs: number): SlotSchedule {
  const start = EPOCH_MS + generation * periodMs;
  return {
    slot: slotOf(generation),
    generation,
    startDate: formatUtc(start),
    endDate: formatUtc(start + 2 * periodMs),
  };
}

export function validateRotationDays(rotationDays: number): void {
  if (
    typeof rotationDays !== "number" ||
    !Number.isInteger(rotationDays) ||
    rotationDays < MIN_ROTATION_DAYS ||
    rotationDays > MAX_ROTATION_DAYS
  ) {
    throw new RangeError(
      `rotationDays must be a whole number of days from ${MIN_ROTATION_DAYS} to ${MAX_ROTATION_DAYS}, got ${String(rotationDays)}`,
    );
  }
}

/**
 * Computes both slots for the period in effect at `now` (the one containing `now` + ISSUE_MARGIN_DAYS). The
 * result depends only on that period and `rotationDays`: any two instants in it give deeply equal results, and
 * every end date lies at least ISSUE_MARGIN_DAYS after `now`.
 */
export function rotationSchedule(now: Date, rotationDays: number): RotationSchedule {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new TypeError(`now must be a valid Date, got ${String(now)}`);
  }
  validateRotationDays(rotationDays);
  const nowMs = now.getTime();
  if (nowMs < EPOCH_MS) {
    throw new RangeError(
      `now (${now.toISOString()}) is before the rotation epoch ${ROTATION_EPOCH}; check the system clock`,
    );
  }
  if (nowMs >= LATEST_SUPPORTED_MS) {
    throw new RangeError(`now (${now.toISOString()}) is too far in the future for RFC3339 credential dates`);
  }

  const periodMs = rotationDays * DAY_MS;
  const k = Math.floor((nowMs + ISSUE_MARGIN_MS - EPOCH_MS) / periodMs);
  const current = generationSchedule(k, periodMs);
  const previous = generationSchedule(k - 1, periodMs);
  const slots = current.slot === "a" ? { a: current, b: previous } : { a: previous, b: current };
  return {
    current,
    previous,
    slots,
    nextRotationOn: formatUtc(EPOCH_MS + (k + 1) * periodMs - ISSUE_MARGIN_MS),
  };
}

/**
 * The longest a slot's credential can live, in days: issued up to ISSUE_MARGIN_DAYS before its generation
 * begins (no startDate is sent, so it starts when issued) and ending 2 x rotationDays after that beginning.
 */
export function maxCredentialLifetimeDays(rotationDays: number): number {
  validateRotationDays(rotationDays);
  return 2 * rotationDays + ISSUE_MARGIN_DAYS;
}

/**
 * `rotateWhenChanged` for a slot's ApplicationPassword. The dates already force replacement; carrying the
 * generation as well makes a pending rotation readable in `pulumi preview`. azuread wants string values.
 */
export function rotateWhenChanged(slot: SlotSchedule): { generation: string } {
  return { generation: String(slot.generation) };
}

/** Days the Key Vault identifier secrets stay valid beyond the next rotation, at least. */
export const IDENTIFIER_EXPIRY_MIN_DAYS = 45;

/**
 * Expiry of the Key Vault secrets that hold identifiers (client ID, tenant ID), which tenants enforcing "Key
 * Vault secrets should have an expiration date" require. Like the slots' dates it depends only on the period,
 * so runs within a period declare identical inputs, and each rotation renews it. It lies at least
 * IDENTIFIER_EXPIRY_MIN_DAYS beyond the next boundary, so Key Vault's near-expiry event (30 days ahead)
 * fires only when deployments have stopped, not every period of a short rotation.
 */
export function identifierSecretExpiry(schedule: RotationSchedule, rotationDays: number): string {
  const days = Math.max(rotationDays, IDENTIFIER_EXPIRY_MIN_DAYS);
  // From the boundary itself (when the previous slot expires), not from nextRotationOn a margin before it.
  return formatUtc(Date.parse(schedule.previous.endDate) + days * DAY_MS);
}
