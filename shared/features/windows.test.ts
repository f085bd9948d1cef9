import { describe, expect, it } from "vitest";
import type { AggregationWindow } from "#shared/registry/snapshot.ts";
import {
  decodeFolded,
  encodeTile,
  foldTiles,
  onlineHorizon,
  type Tile,
  tileOf,
  windowTiles,
  windowValue,
} from "./windows.ts";

/** One event as a one-event tile (`value` already JSON-checked). */
function eventTile(eventMs: number, seq: number, value: unknown): Tile {
  const json = JSON.stringify(value);
  const x = typeof value === "number" ? value : null;
  return {
    count: 1,
    sum: x ?? 0,
    min: x,
    max: x,
    firstMs: eventMs,
    firstSeq: seq,
    firstJson: json,
    lastMs: eventMs,
    lastSeq: seq,
    lastJson: json,
  };
}

const minute = (sizeSeconds: number | null): AggregationWindow => ({
  aggregation: "count",
  sizeSeconds,
  intervalSeconds: 60,
});

describe("the window rule", () => {
  it("puts an event on a boundary in the tile that ends there, and one a microsecond later in the next", () => {
    const boundary = 1_764_000_000_000; // a multiple of 60 s
    expect(tileOf(boundary, minute(null))).toBe(boundary / 60_000);
    expect(tileOf(boundary + 0.001, minute(null))).toBe(boundary / 60_000 + 1);
    expect(tileOf(boundary - 0.001, minute(null))).toBe(boundary / 60_000);
  });

  it("ends a window at the last boundary at or before t, and spans whole tiles", () => {
    const boundary = 1_764_000_000_000;
    const last = boundary / 60_000;
    expect(windowTiles(boundary, minute(120))).toEqual({ from: last - 1, to: last });
    expect(windowTiles(boundary + 59_999.999, minute(120))).toEqual({ from: last - 1, to: last });
    expect(windowTiles(boundary + 60_000, minute(120))).toEqual({ from: last, to: last + 1 });
    expect(windowTiles(boundary, minute(null))).toEqual({ from: Number.NEGATIVE_INFINITY, to: last });
    expect(onlineHorizon(boundary, minute(3600))).toBe(last - 59);
  });
});

describe("folding tiles", () => {
  it("adds counts and sums, compares min/max and orders first/last by (time, ingestion)", () => {
    const folded = foldTiles([
      eventTile(2000, 5, 3),
      eventTile(1000, 9, -1),
      eventTile(2000, 4, 7),
      eventTile(3000, 1, 2),
    ]);
    expect(folded).toMatchObject({ count: 4, sum: 11, min: -1, max: 7, firstMs: 1000, lastMs: 3000 });
    expect(JSON.parse(folded!.firstJson)).toBe(-1);
    expect(JSON.parse(folded!.lastJson)).toBe(2);
    // At one event time the later ingestion is the later event.
    const tie = foldTiles([eventTile(2000, 5, "a"), eventTile(2000, 4, "b")]);
    expect([JSON.parse(tie!.firstJson), JSON.parse(tie!.lastJson)]).toEqual(["b", "a"]);
  });

  it("answers 0 for count and sum over nothing, NOT_FOUND (null) for the others", () => {
    expect(windowValue("count", null)).toEqual({ value: 0, eventMs: null });
    expect(windowValue("sum", foldTiles([]))).toEqual({ value: 0, eventMs: null });
    for (const a of ["avg", "min", "max", "first", "last"] as const) expect(windowValue(a, null)).toBeNull();
    expect(windowValue("avg", foldTiles([eventTile(1, 1, 1), eventTile(2, 2, 2)]))).toEqual({ value: 1.5, eventMs: 2 });
  });

  it("keeps a tile's text round trip exact, strings with | and tabs included", () => {
    const tile = foldTiles([
      eventTile(1_764_000_000_000.123, 7, "a|b\tc"),
      eventTile(1_764_000_000_001, 8, 0.1 + 0.2),
    ])!;
    const [, ...fields] = encodeTile(42, tile).split("|");
    const folded = decodeFolded(
      [fields[0], fields[1], fields[2], fields[3], fields[4], fields[6], fields.slice(8).join("|")].join("|"),
    )!;
    expect(folded).toMatchObject({ count: 2, sum: tile.sum, firstMs: tile.firstMs, lastMs: tile.lastMs });
    expect(JSON.parse(folded.firstJson)).toBe("a|b\tc");
    expect(JSON.parse(folded.lastJson)).toBe(0.30000000000000004);
    expect(encodeTile(3, null)).toBe("3|0");
  });
});
