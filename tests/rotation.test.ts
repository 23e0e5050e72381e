import assert from "node:assert/strict";
import fc from "fast-check";
import { identifierExpiryPeriod } from "../rules/identifierRenewal";
import {
  identifierSecretExpiry,
  ISSUE_MARGIN_DAYS,
  MAX_ROTATION_DAYS,
  MIN_ROTATION_DAYS,
  ROTATION_EPOCH,
  RotationSchedule,
  SlotSchedule,
  rotateWhenChanged,
  rotationSchedule,
} from "../rules/rotation";

const DAY_MS = 24 * 60 * 60 * 1000;
const MARGIN_MS = DAY_MS;
const EPOCH_MS = Date.parse("2024-01-01T00:00:00Z");
const RFC3339_UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

const instants = fc.date({
  min: new Date("2025-01-01T00:00:00Z"),
  max: new Date("2100-01-01T00:00:00Z"),
  noInvalidDate: true,
});
const rotationDaysArb = fc.integer({ min: MIN_ROTATION_DAYS, max: MAX_ROTATION_DAYS });

const ms = (date: string): number => Date.parse(date);

/**
 * An instant `offsetMs` into the time period k is in effect (from a day before its boundary), computed
 * independently of the code under test.
 */
function instantInPeriod(k: number, rotationDays: number, offsetMs: number): Date {
  return new Date(EPOCH_MS + k * rotationDays * DAY_MS - MARGIN_MS + offsetMs);
}
// Periods whose start lies between 2025 and 2100 for every rotationDays in range.
const periodIndex = (rotationDays: number): fc.Arbitrary<number> =>
  fc.integer({
    min: Math.ceil((ms("2025-01-01T00:00:00Z") - EPOCH_MS) / (rotationDays * DAY_MS)),
    max: Math.floor((ms("2100-01-01T00:00:00Z") - EPOCH_MS) / (rotationDays * DAY_MS)),
  });

/**
 * A slot a deployment starting at `now` may send: its generation has begun by the time the credential can reach
 * Entra ID, and it ends at least the margin after `now`, so a slow deployment never sends an end date in the past.
 */
function assertIssuableAt(slot: SlotSchedule, now: Date): void {
  assert.ok(
    ms(slot.startDate) <= now.getTime() + MARGIN_MS,
    `${slot.slot} starts ${slot.startDate}, more than the margin after ${now.toISOString()}`,
  );
  assert.ok(
    ms(slot.endDate) - now.getTime() >= MARGIN_MS,
    `${slot.slot} ends ${slot.endDate}, less than the margin after ${now.toISOString()}`,
  );
}

function other(schedule: RotationSchedule, slot: "a" | "b"): SlotSchedule {
  return schedule.slots[slot === "a" ? "b" : "a"];
}

describe("rotationSchedule", () => {
  describe("invariants at random instants (2025..2100, rotationDays 7..180)", () => {
    it("the margin is one day", () => {
      assert.equal(ISSUE_MARGIN_DAYS, 1);
    });

    it("both slots end at least the margin after every instant, and have begun by then", () => {
      fc.assert(
        fc.property(instants, rotationDaysArb, (now, days) => {
          const s = rotationSchedule(now, days);
          assertIssuableAt(s.slots.a, now);
          assertIssuableAt(s.slots.b, now);
        }),
        { numRuns: 2000 },
      );
    });

    it("the last instants before a boundary declare no slot ending at it", () => {
      fc.assert(
        fc.property(
          rotationDaysArb.chain((days) =>
            fc.tuple(fc.constant(days), periodIndex(days), fc.integer({ min: 1, max: MARGIN_MS })),
          ),
          ([days, k, before]) => {
            const boundary = EPOCH_MS + k * days * DAY_MS;
            const s = rotationSchedule(new Date(boundary - before), days);
            assert.ok(ms(s.slots.a.endDate) > boundary && ms(s.slots.b.endDate) > boundary);
          },
        ),
      );
    });

    it("the current slot has at least rotationDays of validity left", () => {
      fc.assert(
        fc.property(instants, rotationDaysArb, (now, days) => {
          const s = rotationSchedule(now, days);
          assert.ok(ms(s.current.endDate) - now.getTime() >= days * DAY_MS);
        }),
        { numRuns: 2000 },
      );
    });

    it("each generation spans 2 x rotationDays, and nothing issued lives longer than that plus the margin", () => {
      fc.assert(
        fc.property(instants, rotationDaysArb, (now, days) => {
          const s = rotationSchedule(now, days);
          for (const slot of [s.slots.a, s.slots.b]) {
            assert.equal(ms(slot.endDate) - ms(slot.startDate), 2 * days * DAY_MS);
            // Issued now (no startDate is sent), it lives from now to its end date.
            assert.ok(ms(slot.endDate) - now.getTime() <= 2 * days * DAY_MS + MARGIN_MS);
          }
        }),
      );
    });

    it("the current slot is the one with the later start date, issued less than rotationDays ago", () => {
      fc.assert(
        fc.property(instants, rotationDaysArb, (now, days) => {
          const s = rotationSchedule(now, days);
          assert.equal(ms(s.current.startDate) - ms(s.previous.startDate), days * DAY_MS);
          assert.ok(now.getTime() - ms(s.current.startDate) < days * DAY_MS);
          assert.ok(ms(s.current.startDate) - now.getTime() <= MARGIN_MS);
          assert.equal(s.current.generation, s.previous.generation + 1);
          assert.notEqual(s.current.slot, s.previous.slot);
          assert.equal(s.slots[s.current.slot], s.current);
          assert.equal(s.slots[s.previous.slot], s.previous);
        }),
      );
    });

    it("periods are aligned to the epoch and nextRotationOn is the margin before the previous slot expires", () => {
      fc.assert(
        fc.property(instants, rotationDaysArb, (now, days) => {
          const s = rotationSchedule(now, days);
          assert.equal((ms(s.current.startDate) - EPOCH_MS) % (days * DAY_MS), 0);
          assert.equal(ms(s.previous.endDate) - ms(s.nextRotationOn), MARGIN_MS);
          assert.equal(ms(s.nextRotationOn) + MARGIN_MS - ms(s.current.startDate), days * DAY_MS);
          assert.ok(now.getTime() < ms(s.nextRotationOn));
        }),
      );
    });

    it("dates are RFC3339 UTC strings with second precision that round-trip", () => {
      fc.assert(
        fc.property(instants, rotationDaysArb, (now, days) => {
          const s = rotationSchedule(now, days);
          for (const date of [
            s.slots.a.startDate,
            s.slots.a.endDate,
            s.slots.b.startDate,
            s.slots.b.endDate,
          ]) {
            assert.match(date, RFC3339_UTC_SECONDS);
            assert.equal(new Date(date).toISOString(), date.replace("Z", ".000Z"));
          }
          assert.match(s.nextRotationOn, RFC3339_UTC_SECONDS);
        }),
      );
    });

    it("gives identical output for any two instants in the same period, including its first and last ms", () => {
      fc.assert(
        fc.property(
          rotationDaysArb.chain((days) =>
            fc.tuple(
              fc.constant(days),
              periodIndex(days),
              fc.integer({ min: 0, max: days * DAY_MS - 1 }),
              fc.integer({ min: 0, max: days * DAY_MS - 1 }),
            ),
          ),
          ([days, k, offset1, offset2]) => {
            const first = rotationSchedule(instantInPeriod(k, days, 0), days);
            const last = rotationSchedule(instantInPeriod(k, days, days * DAY_MS - 1), days);
            const x = rotationSchedule(instantInPeriod(k, days, offset1), days);
            const y = rotationSchedule(instantInPeriod(k, days, offset2), days);
            assert.deepEqual(x, y);
            assert.deepEqual(x, first);
            assert.deepEqual(x, last);
            assert.deepEqual(rotateWhenChanged(x.slots.a), rotateWhenChanged(y.slots.a));
            assert.deepEqual(rotateWhenChanged(x.slots.b), rotateWhenChanged(y.slots.b));
          },
        ),
      );
    });

    it("crossing a boundary replaces exactly the older slot; the newer one is untouched", () => {
      fc.assert(
        fc.property(
          rotationDaysArb.chain((days) => fc.tuple(fc.constant(days), periodIndex(days))),
          ([days, k]) => {
            const before = rotationSchedule(instantInPeriod(k, days, days * DAY_MS - 1), days);
            const after = rotationSchedule(instantInPeriod(k + 1, days, 0), days);
            assert.equal(ms(after.current.startDate) - ms(before.nextRotationOn), MARGIN_MS);
            // The slot that was current keeps its generation, dates and rotateWhenChanged: no replacement.
            assert.deepEqual(after.previous, before.current);
            assert.deepEqual(
              rotateWhenChanged(after.slots[before.current.slot]),
              rotateWhenChanged(before.current),
            );
            // The slot that was previous gets a new generation and new dates: one replacement.
            const replaced = other(after, before.current.slot);
            assert.equal(replaced.slot, before.previous.slot);
            assert.equal(replaced, after.current);
            assert.equal(replaced.generation, before.previous.generation + 2);
            assert.notEqual(replaced.startDate, before.previous.startDate);
            assert.notEqual(replaced.endDate, before.previous.endDate);
            assert.notDeepEqual(rotateWhenChanged(replaced), rotateWhenChanged(before.previous));
          },
        ),
      );
    });
  });

  describe("worked examples (epoch 2024-01-01T00:00:00Z, margin 1 day)", () => {
    // rotationDays = 30; ranges are [startDate, endDate).
    //   now                    slot a                       slot b                       current  next rotation
    //   2024-01-01T00:00:00Z   g0  2024-01-01..2024-03-01   g-1 2023-12-02..2024-01-31   a        2024-01-30
    //   2024-01-29T23:59:59Z   g0  2024-01-01..2024-03-01   g-1 2023-12-02..2024-01-31   a        2024-01-30
    //   2024-01-30T00:00:00Z   g0  2024-01-01..2024-03-01   g1  2024-01-31..2024-03-31   b        2024-02-29
    //   2024-02-29T00:00:00Z   g2  2024-03-01..2024-04-30   g1  2024-01-31..2024-03-31   a        2024-03-30
    const cases: Array<[string, [number, string, string], [number, string, string], "a" | "b", string]> = [
      [
        "2024-01-01T00:00:00Z",
        [0, "2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z"],
        [-1, "2023-12-02T00:00:00Z", "2024-01-31T00:00:00Z"],
        "a",
        "2024-01-30T00:00:00Z",
      ],
      [
        "2024-01-29T23:59:59Z",
        [0, "2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z"],
        [-1, "2023-12-02T00:00:00Z", "2024-01-31T00:00:00Z"],
        "a",
        "2024-01-30T00:00:00Z",
      ],
      [
        "2024-01-30T00:00:00Z",
        [0, "2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z"],
        [1, "2024-01-31T00:00:00Z", "2024-03-31T00:00:00Z"],
        "b",
        "2024-02-29T00:00:00Z",
      ],
      [
        "2024-02-29T00:00:00Z",
        [2, "2024-03-01T00:00:00Z", "2024-04-30T00:00:00Z"],
        [1, "2024-01-31T00:00:00Z", "2024-03-31T00:00:00Z"],
        "a",
        "2024-03-30T00:00:00Z",
      ],
    ];
    for (const [now, [ga, sa, ea], [gb, sb, eb], current, next] of cases) {
      it(`rotationDays 30 at ${now}`, () => {
        const s = rotationSchedule(new Date(now), 30);
        assert.deepEqual(s.slots.a, { slot: "a", generation: ga, startDate: sa, endDate: ea });
        assert.deepEqual(s.slots.b, { slot: "b", generation: gb, startDate: sb, endDate: eb });
        assert.equal(s.current.slot, current);
        assert.equal(s.nextRotationOn, next);
      });
    }

    it("rotationDays 90 at 2025-06-15T12:00:00Z (period 5 starts 2024-01-01 + 450 days)", () => {
      const s = rotationSchedule(new Date("2025-06-15T12:00:00Z"), 90);
      assert.deepEqual(s.current, {
        slot: "b",
        generation: 5,
        startDate: "2025-03-26T00:00:00Z",
        endDate: "2025-09-22T00:00:00Z",
      });
      assert.deepEqual(s.previous, {
        slot: "a",
        generation: 4,
        startDate: "2024-12-26T00:00:00Z",
        endDate: "2025-06-24T00:00:00Z",
      });
      assert.equal(s.nextRotationOn, "2025-06-23T00:00:00Z");
      assert.deepEqual(rotateWhenChanged(s.current), { generation: "5" });
      assert.deepEqual(rotateWhenChanged(s.previous), { generation: "4" });
    });

    it("changing rotationDays 90 -> 30 replaces both slots, and the new pair is valid immediately", () => {
      const now = new Date("2025-06-15T12:00:00Z");
      const at90 = rotationSchedule(now, 90);
      const at30 = rotationSchedule(now, 30);
      // Lifetimes differ (60 vs 180 days), so no slot can keep both dates: each is replaced. Slot a even
      // keeps its end date here (540 days after the epoch is a boundary for both), but not its start date.
      for (const slot of ["a", "b"] as const) {
        assert.notDeepEqual(
          [at30.slots[slot].startDate, at30.slots[slot].endDate],
          [at90.slots[slot].startDate, at90.slots[slot].endDate],
        );
      }
      assert.equal(at30.slots.a.endDate, at90.slots.a.endDate);
      // Period 17 of 30 days starts 2024-01-01 + 510 days = 2025-05-25 (2024 is a leap year).
      assert.deepEqual(at30.current, {
        slot: "b",
        generation: 17,
        startDate: "2025-05-25T00:00:00Z",
        endDate: "2025-07-24T00:00:00Z",
      });
      assertIssuableAt(at30.slots.a, now);
      assertIssuableAt(at30.slots.b, now);
    });

    it("the epoch itself is the documented constant", () => {
      assert.equal(ROTATION_EPOCH, "2024-01-01T00:00:00Z");
    });
  });

  describe("input validation", () => {
    const now = new Date("2025-06-15T12:00:00Z");

    it("accepts the bounds 7 and 180", () => {
      // 531.5 days after the epoch, plus the margin: 532.5 / 7 = 76.07.
      assert.equal(rotationSchedule(now, 7).current.generation, 76);
      assert.equal(rotationSchedule(now, 180).current.generation, 2);
    });

    for (const bad of [0, 6, 181, 7.5, -30, Number.NaN, Number.POSITIVE_INFINITY]) {
      it(`rejects rotationDays ${bad}`, () => {
        assert.throws(() => rotationSchedule(now, bad), {
          name: "RangeError",
          message: `rotationDays must be a whole number of days from 7 to 180, got ${bad}`,
        });
      });
    }

    it("rejects a rotationDays that is not a number", () => {
      assert.throws(
        () => rotationSchedule(now, "90" as unknown as number),
        /rotationDays must be a whole number/,
      );
    });

    it("rejects an invalid Date and a non-Date", () => {
      assert.throws(() => rotationSchedule(new Date("not a date"), 90), {
        name: "TypeError",
        message: "now must be a valid Date, got Invalid Date",
      });
      assert.throws(() => rotationSchedule(Date.now() as unknown as Date, 90), /now must be a valid Date/);
    });

    it("rejects instants before the epoch as a clock problem", () => {
      assert.throws(() => rotationSchedule(new Date("2023-12-31T23:59:59Z"), 90), {
        name: "RangeError",
        message:
          "now (2023-12-31T23:59:59.000Z) is before the rotation epoch 2024-01-01T00:00:00Z; check the system clock",
      });
    });

    it("rejects instants so far ahead that end dates would leave the four-digit year range", () => {
      assert.throws(() => rotationSchedule(new Date("9500-01-01T00:00:00Z"), 90), /too far in the future/);
    });
  });

  it("recognises the identifier secrets' expiry of each period, and no other instant", () => {
    fc.assert(
      fc.property(instants, rotationDaysArb, fc.integer({ min: 1, max: 86_399 }), (now, days, offset) => {
        const schedule = rotationSchedule(now, days);
        const k = Math.floor((now.getTime() + MARGIN_MS - EPOCH_MS) / (days * DAY_MS));
        const expires = Date.parse(identifierSecretExpiry(schedule, days)) / 1000;
        assert.equal(identifierExpiryPeriod(expires, days), k);
        assert.equal(identifierExpiryPeriod(expires - offset, days), undefined);
        assert.equal(identifierExpiryPeriod(expires + 0.5, days), undefined);
      }),
      { numRuns: 200 },
    );
  });
});
