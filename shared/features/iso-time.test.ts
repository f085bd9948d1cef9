// isoFromMs must be Date#toISOString, character for character, for every whole millisecond
// Date accepts, and keep microseconds (the fraction of a millisecond) both ways with msFromIso.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoFromMs, msFromIso } from "./iso-time.ts";

const maxMs = 8.64e15;

describe("isoFromMs", () => {
  it("equals toISOString on the edges: epoch, before it, day ends, year 0 and 10000, the range limits", () => {
    const edges = [
      0,
      -0,
      -1,
      1,
      86_399_999,
      86_400_000,
      -86_400_000,
      -86_400_001,
      253402300799999,
      253402300800000,
      -62167219200000,
      -62167219200001,
      maxMs,
      -maxMs,
    ];
    for (const ms of edges) expect(isoFromMs(ms)).toBe(new Date(ms).toISOString());
  });

  it("equals toISOString for random times, alone and in runs within one day", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -maxMs, max: maxMs }),
        fc.array(fc.integer({ min: -86_400_000, max: 86_400_000 })),
        (ms, offsets) => {
          for (const t of [ms, ...offsets.map((o) => Math.max(-maxMs, Math.min(maxMs, ms + o)))])
            expect(isoFromMs(t)).toBe(new Date(t).toISOString());
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("throws like Date for times out of range", () => {
    for (const ms of [maxMs + 1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => isoFromMs(ms)).toThrow(RangeError);
  });
});

describe("microseconds", () => {
  it("keeps them both ways, before and after 1970, and drops digits past them without rounding", () => {
    const cases: [string, string][] = [
      ["2026-11-30T10:00:00.123456Z", "2026-11-30T10:00:00.123456Z"],
      ["2026-11-30T10:00:00.123000Z", "2026-11-30T10:00:00.123Z"],
      ["2026-11-30T10:00:00.000001Z", "2026-11-30T10:00:00.000001Z"],
      ["1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"],
      ["2024-12-31T23:59:59.9999999Z", "2024-12-31T23:59:59.999999Z"],
      ["2026-11-30T12:00:00.5+02:00", "2026-11-30T10:00:00.500Z"],
      ["2026-11-30T12:00:00.1234567-01:30", "2026-11-30T13:30:00.123456Z"],
      ["2026-11-30T10:00:00Z", "2026-11-30T10:00:00.000Z"],
    ];
    for (const [input, expected] of cases) expect(isoFromMs(msFromIso(input)), input).toBe(expected);
  });

  it("round-trips every microsecond of random times between 1834 and 2105", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -4_300_000_000_000, max: 4_300_000_000_000 }),
        fc.integer({ min: 0, max: 999 }),
        (ms, us) => {
          const text = `${new Date(ms).toISOString().slice(0, -1)}${String(us).padStart(3, "0")}Z`;
          const back = isoFromMs(msFromIso(text));
          expect(back).toBe(us === 0 ? new Date(ms).toISOString() : text);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
