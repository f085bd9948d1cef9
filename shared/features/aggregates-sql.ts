// The window rule of aggregated stream features in SQL (the rule itself: windows.ts). Every
// statement that folds events (a push's tiles, the online store's fill, training sets) builds
// its fold from these fragments, so they cannot drift apart.
import type { Aggregation } from "#shared/registry/snapshot.ts";

/**
 * The events current among the rows of ai_feature_values `v` that `where` selects (one
 * feature version and entity, a range of event times), as a subquery of (event_timestamp,
 * ingest_seq, value, event_id). An event is (event_id, event_timestamp), so all the rows of
 * an event lie in any range holding one of them: its current row is its latest ingestion in
 * the range (among the rows ingested by then, with `visible`, for asOfIngestion), found by one
 * sort of the range rather than a probe per row. A retraction or a JSON null is no event.
 */
export function currentEventsSql(where: string, visible?: string): string {
  return `(SELECT c.event_timestamp, c.ingest_seq, c.value, c.event_id FROM (
      SELECT DISTINCT ON (v.event_id, v.event_timestamp) v.event_timestamp, v.ingest_seq, v.value, v.value_type, v.event_id
      FROM ai_feature_values v
      WHERE ${where}${visible ? ` AND ${visible}` : ""}
      ORDER BY v.event_id, v.event_timestamp, v.ingest_seq DESC) c
    WHERE c.value_type <> 'retracted' AND jsonb_typeof(c.value) <> 'null')`;
}

/** The tile (windows.tileOf) of an event time, for an interval of `step` seconds. */
export const tileSql = (ts: string, step: string) => `ceil(extract(epoch FROM ${ts}) / ${step})::bigint`;

/** The end of the window answered at `t` (windows.windowTiles): the last interval boundary <= t. */
export const windowEndSql = (t: string, step: string) =>
  `to_timestamp(floor(extract(epoch FROM ${t}) / ${step}) * ${step})`;

const ms = (ts: string) => `(extract(epoch FROM ${ts}) * 1000)::float8`;
const number = (v: string) => `CASE WHEN jsonb_typeof(${v}.value) = 'number' THEN (${v}.value #>> '{}')::float8 END`;

/**
 * A tile's partial aggregate over grouped rows of `e` (event_timestamp, ingest_seq, value):
 * the columns of ai_feature_tiles (and of windows.Tile).
 */
export function tileColumnsSql(e: string): string {
  const byTime = `${e}.event_timestamp, ${e}.ingest_seq`;
  // Nulls (a tile's placeholder row) last both ways: they are never an event.
  const byTimeDesc = `${e}.event_timestamp DESC NULLS LAST, ${e}.ingest_seq DESC NULLS LAST`;
  return `count(${e}.value)::int AS n,
    COALESCE(sum(${number(e)}), 0) AS sum, min(${number(e)}) AS min, max(${number(e)}) AS max,
    (array_agg(${ms(`${e}.event_timestamp`)} ORDER BY ${byTime}))[1] AS first_ms,
    (array_agg(${e}.ingest_seq ORDER BY ${byTime}))[1] AS first_seq,
    (array_agg(${e}.value::text ORDER BY ${byTime}))[1] AS first_json,
    (array_agg(${ms(`${e}.event_timestamp`)} ORDER BY ${byTimeDesc}))[1] AS last_ms,
    (array_agg(${e}.ingest_seq ORDER BY ${byTimeDesc}))[1] AS last_seq,
    (array_agg(${e}.value::text ORDER BY ${byTimeDesc}))[1] AS last_json`;
}

const tileColumns = "n, sum, min, max, first_ms, first_seq, first_json, last_ms, last_seq, last_json";

/**
 * Writes tiles: `rows` gives (tenant_id, feature_id, feature_version, entity_type, entity_id,
 * tile, tile_end, the tile columns, rev). `add`: the rows are new events only, added to the
 * stored tile (counts and sums add, min/max and first/last compare); otherwise they are the
 * refolded tiles and replace it. RETURNING every column.
 */
export function upsertTilesSql(rows: string, add: boolean): string {
  const earlier = (a: string, b: string) =>
    `(${a}.first_ms IS NOT NULL AND (${b}.first_ms IS NULL OR (${a}.first_ms, ${a}.first_seq) < (${b}.first_ms, ${b}.first_seq)))`;
  const later = (a: string, b: string) =>
    `(${a}.last_ms IS NOT NULL AND (${b}.last_ms IS NULL OR (${a}.last_ms, ${a}.last_seq) > (${b}.last_ms, ${b}.last_seq)))`;
  const set = add
    ? `n = t.n + excluded.n, sum = t.sum + excluded.sum,
       min = LEAST(t.min, excluded.min), max = GREATEST(t.max, excluded.max),
       first_ms = CASE WHEN ${earlier("excluded", "t")} THEN excluded.first_ms ELSE t.first_ms END,
       first_seq = CASE WHEN ${earlier("excluded", "t")} THEN excluded.first_seq ELSE t.first_seq END,
       first_json = CASE WHEN ${earlier("excluded", "t")} THEN excluded.first_json ELSE t.first_json END,
       last_ms = CASE WHEN ${later("excluded", "t")} THEN excluded.last_ms ELSE t.last_ms END,
       last_seq = CASE WHEN ${later("excluded", "t")} THEN excluded.last_seq ELSE t.last_seq END,
       last_json = CASE WHEN ${later("excluded", "t")} THEN excluded.last_json ELSE t.last_json END,
       rev = GREATEST(t.rev, excluded.rev)`
    : `${tileColumns
        .split(", ")
        .map((c) => `${c} = excluded.${c}`)
        .join(", ")}, rev = GREATEST(t.rev, excluded.rev)`;
  return `INSERT INTO ai_feature_tiles AS t
      (tenant_id, feature_id, feature_version, entity_type, entity_id, tile, tile_end, ${tileColumns}, rev)
    ${rows}
    ON CONFLICT (tenant_id, feature_id, feature_version, entity_type, entity_id, tile) DO UPDATE SET ${set}
    RETURNING t.*`;
}

/**
 * A window's answer folded from grouped tile rows `t` of ai_feature_tiles: `value` (JSON text;
 * NULL means NOT_FOUND) and `event_ms` (the newest event's time; NULL when there is none).
 */
export function windowAnswerFromTilesSql(aggregation: Aggregation, t: string): string {
  const value = {
    count: `COALESCE(sum(${t}.n), 0)::text`,
    sum: `COALESCE(sum(${t}.sum) FILTER (WHERE ${t}.n > 0), 0)::text`,
    avg: `(sum(${t}.sum) FILTER (WHERE ${t}.n > 0) / NULLIF(sum(${t}.n), 0))::text`,
    min: `min(${t}.min)::text`,
    max: `max(${t}.max)::text`,
    first: `(array_agg(${t}.first_json ORDER BY ${t}.first_ms, ${t}.first_seq) FILTER (WHERE ${t}.n > 0))[1]`,
    last: `(array_agg(${t}.last_json ORDER BY ${t}.last_ms DESC, ${t}.last_seq DESC) FILTER (WHERE ${t}.n > 0))[1]`,
  }[aggregation];
  return `${value} AS value, max(${t}.last_ms) AS event_ms`;
}

/**
 * A window's answer over grouped rows of `e`: `value` (JSON text; NULL means NOT_FOUND) and
 * `event_ms` (the newest event's time; NULL when there is none).
 */
export function windowAnswerSql(aggregation: Aggregation, e: string): string {
  const x = number(e);
  const value = {
    count: `count(${e}.value)::text`,
    sum: `COALESCE(sum(${x}), 0)::text`,
    avg: `(sum(${x}) / count(${e}.value))::text`,
    min: `min(${x})::text`,
    max: `max(${x})::text`,
    first: `(array_agg(${e}.value::text ORDER BY ${e}.event_timestamp, ${e}.ingest_seq))[1]`,
    last: `(array_agg(${e}.value::text ORDER BY ${e}.event_timestamp DESC, ${e}.ingest_seq DESC))[1]`,
  }[aggregation];
  return `${value} AS value, ${ms(`max(${e}.event_timestamp)`)} AS event_ms`;
}

/** A tile row (tileColumnsSql's columns) as windows.Tile. */
export function tileFromRow(row: Record<string, unknown>) {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    count: Number(row.n),
    sum: Number(row.sum),
    min: num(row.min),
    max: num(row.max),
    firstMs: Number(row.first_ms),
    firstSeq: Number(row.first_seq),
    firstJson: row.first_json as string,
    lastMs: Number(row.last_ms),
    lastSeq: Number(row.last_seq),
    lastJson: row.last_json as string,
  };
}
