// isoFromMs must be Date#toISOString, character for character, for every time Date accepts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoFromMs } from "./iso-time.ts";

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
      1.9,
      -1.9,
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
