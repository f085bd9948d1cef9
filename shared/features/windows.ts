// The window rule of aggregated stream features (DESIGN.md, "Source types mean what they
// say"), in one place for the online store, its Postgres fallback and the tests:
//  * Tiles: tile k holds the events with (k - 1) * I < event time <= k * I (I = the
//    feature's aggregationIntervalSeconds), so tile k ends at the boundary k * I.
//  * A window answered at time t ends at e = the last boundary <= t and covers (e - W, e]:
//    tiles e/I - W/I + 1 .. e/I. W is a multiple of I (definition check), so a window is
//    whole tiles and its aggregate is a fold of tile aggregates. A null W: every tile <= e.
//  * An event is counted at most once: its current value (latest ingestion) only, nothing
//    for a retracted one, nothing for a JSON null.
// The same rule is written in SQL (aggregates-sql.ts, for training sets and tiles) and Lua
// (the online store's read script); the property test holds all three to a plain fold.
import type { Aggregation, AggregationWindow } from "#shared/registry/snapshot.ts";

/** One tile's partial aggregate (or a whole window's, folded). */
export interface Tile {
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
  /** The earliest event by (event time, ingestion), and the latest. */
  firstMs: number;
  firstSeq: number;
  firstJson: string;
  lastMs: number;
  lastSeq: number;
  lastJson: string;
}

const intervalMs = (window: AggregationWindow) => window.intervalSeconds * 1000;

/** The tile an event at `eventMs` falls in. */
export function tileOf(eventMs: number, window: AggregationWindow): number {
  return Math.ceil(eventMs / intervalMs(window));
}

/** The tiles of the window answered at `atMs`, inclusive; `from` is -Infinity for a window without a size. */
export function windowTiles(atMs: number, window: AggregationWindow): { from: number; to: number } {
  const to = Math.floor(atMs / intervalMs(window));
  const from =
    window.sizeSeconds === null ? Number.NEGATIVE_INFINITY : to - window.sizeSeconds / window.intervalSeconds + 1;
  return { from, to };
}

/** How many tiles a window spans (the online store prunes a set that outgrew it); 0 for a window without a size. */
export function windowTileCount(window: AggregationWindow): number {
  return window.sizeSeconds === null ? 0 : window.sizeSeconds / window.intervalSeconds + 1;
}

/** Tiles below this are outside every window answered from `atMs` on: the online store drops them. */
export function onlineHorizon(atMs: number, window: AggregationWindow): number {
  return windowTiles(atMs, window).from;
}

const earlier = (ms: number, seq: number, thanMs: number, thanSeq: number) =>
  ms < thanMs || (ms === thanMs && seq < thanSeq);

/** Folds tiles (or events as one-event tiles) into one; null when there is nothing. */
export function foldTiles(tiles: Iterable<Tile>): Tile | null {
  let out: Tile | null = null;
  for (const t of tiles) {
    if (t.count === 0) continue;
    if (!out) {
      out = { ...t };
      continue;
    }
    out.count += t.count;
    out.sum += t.sum;
    if (t.min !== null && (out.min === null || t.min < out.min)) out.min = t.min;
    if (t.max !== null && (out.max === null || t.max > out.max)) out.max = t.max;
    if (earlier(t.firstMs, t.firstSeq, out.firstMs, out.firstSeq)) {
      out.firstMs = t.firstMs;
      out.firstSeq = t.firstSeq;
      out.firstJson = t.firstJson;
    }
    if (earlier(out.lastMs, out.lastSeq, t.lastMs, t.lastSeq)) {
      out.lastMs = t.lastMs;
      out.lastSeq = t.lastSeq;
      out.lastJson = t.lastJson;
    }
  }
  return out;
}

/** What a read answers for a window's fold: the value and its newest event time, or null (NOT_FOUND). */
export function windowValue(
  aggregation: Aggregation,
  folded: Tile | null,
): { value: unknown; eventMs: number | null } | null {
  if (!folded || folded.count === 0) {
    return aggregation === "count" || aggregation === "sum" ? { value: 0, eventMs: null } : null;
  }
  const value = (() => {
    switch (aggregation) {
      case "count":
        return folded.count;
      case "sum":
        return folded.sum;
      case "avg":
        return folded.sum / folded.count;
      case "min":
        return folded.min;
      case "max":
        return folded.max;
      case "first":
        return JSON.parse(folded.firstJson);
      case "last":
        return JSON.parse(folded.lastJson);
    }
  })();
  return { value, eventMs: folded.lastMs };
}

/** A tile as the online store keeps it: `rev|count|sum|min|max|firstMs|firstSeq|lastMs|lastSeq|firstJson<TAB>lastJson`. */
export function encodeTile(rev: number, tile: Tile | null): string {
  if (!tile || tile.count === 0) return `${rev}|0`;
  return [
    rev,
    tile.count,
    tile.sum,
    tile.min ?? "",
    tile.max ?? "",
    tile.firstMs,
    tile.firstSeq,
    tile.lastMs,
    tile.lastSeq,
    `${tile.firstJson}\t${tile.lastJson}`,
  ].join("|");
}

/**
 * A folded window as the read script answers it: "0" (nothing), or
 * `count|sum|min|max|firstMs|lastMs|firstJson<TAB>lastJson` (sequences are only for folding).
 */
export function decodeFolded(text: string): Tile | null {
  if (text === "0") return null;
  const parts = text.split("|");
  const jsons = parts.slice(6).join("|");
  const tab = jsons.indexOf("\t");
  const num = (s: string | undefined) => (s === undefined || s === "" ? null : Number(s));
  return {
    count: Number(parts[0]),
    sum: Number(parts[1]),
    min: num(parts[2]),
    max: num(parts[3]),
    firstMs: Number(parts[4]),
    firstSeq: 0,
    firstJson: jsons.slice(0, tab),
    lastMs: Number(parts[5]),
    lastSeq: 0,
    lastJson: jsons.slice(tab + 1),
  };
}
