// Point-in-time rows by one index probe per (pair, feature version): the lookup index
// (tenant, feature, version, entity type, entity, event time, ingestion) read backwards from
// t through a Merge Append of the partitions (those after t pruned at run time), stopped at
// the first row: the newest event_timestamp <= t and, among restatements of that event time,
// the latest ingestion. With asOfIngestion the probe also requires created_at <= t, so rows
// backfilled or restated later cannot leak into the past.

import {
  currentEventsSql,
  windowAnswerFromTilesSql,
  windowAnswerSql,
  windowEndSql,
} from "#shared/features/aggregates-sql.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import type { PointInTimeCell, PointInTimeRow, TrainingSetRequest } from "./types.ts";

/**
 * Constant bounds lo <= event_timestamp < hi for the scalar probes: the run of contiguous
 * monthly partitions holding the latest requested time (migration 0017), when this tenant
 * has no value of the requested features before it (those would sit in the DEFAULT
 * partition or an older run, which the bounds leave out). Written into the statement as
 * constants, they prune DEFAULT while planning, so each probe reads partitions newest
 * first and stops at the first row instead of opening every partition before t
 * (bench/point-in-time.bench.ts: about 3x fewer index reads).
 */
export interface ProbeSpan {
  lo: string;
  hi: string;
}

/** The statement that finds the ProbeSpan of a request whose latest time is `latestMs`. */
export function probeSpanQuery(request: TrainingSetRequest, latestMs: number): ProbeQuery {
  return {
    text: `SELECT (extract(epoch FROM s.lo) * 1000)::float8 AS lo_ms, (extract(epoch FROM s.hi) * 1000)::float8 AS hi_ms,
                  EXISTS (SELECT 1 FROM ai_feature_values v
                          WHERE v.event_timestamp < s.lo AND v.feature_id = ANY ($2::uuid[]) AND v.entity_type = $3) AS older
           FROM feature_partition_span($1::timestamptz) s`,
    values: [new Date(latestMs).toISOString(), `{${request.features.map((f) => f.id).join(",")}}`, request.entityType],
  };
}

/** The span from probeSpanQuery's rows, or null when probes must read every partition. */
export function probeSpanFrom(rows: readonly Record<string, unknown>[]): ProbeSpan | null {
  const row = rows[0];
  if (!row || row.older) return null;
  return { lo: new Date(Number(row.lo_ms)).toISOString(), hi: new Date(Number(row.hi_ms)).toISOString() };
}

/** Cells (pairs x features) per probe round trip. */
const cellsPerChunk = 20_000;

/** Pairs per probe round trip for `featureCount` features. */
export const pairsPerProbe = (featureCount: number) =>
  Math.max(1, Math.floor(cellsPerChunk / Math.max(1, featureCount)));

export interface ProbeQuery {
  text: string;
  values: unknown[];
}

/**
 * The probe statements for a range of pairs given by `pairsSql`, a query of
 * (ord, entity_id, ts) whose parameters start at $6 (ord = the row's position in the
 * range). One statement for scalar features, one for embeddings; each gives every pair
 * once per feature of its kind (LEFT JOIN), so each pair appears whatever was found.
 */
export function probeQueries(
  request: TrainingSetRequest,
  pairsSql: string,
  span: ProbeSpan | null = null,
): ProbeQuery[] {
  // ISO strings this module made from numbers: safe to write into the statement.
  const bounded = span
    ? `AND v.event_timestamp >= '${span.lo}'::timestamptz AND v.event_timestamp < '${span.hi}'::timestamptz`
    : "";
  const indexed = request.features.map((feature, index) => ({ feature, index }));
  const windowed = indexed.filter((f) => f.feature.window);
  const scalar = indexed.filter((f) => f.feature.dataType !== "embedding" && !f.feature.window);
  const vectors = indexed.filter((f) => f.feature.dataType === "embedding");
  const statement = (table: string, column: string, features: { feature: ServedFeature; index: number }[]) => ({
    text: `WITH req AS ${sortedPairs(pairsSql)}
      SELECT r.ord, r.entity_id, (extract(epoch FROM r.ts) * 1000)::float8 AS ts_ms,
             f.i AS fi, hit.value, hit.event_ms
      FROM req r CROSS JOIN unnest($2::uuid[], $3::int[], $4::int[]) AS f(feature_id, i, version)
      LEFT JOIN LATERAL (
        SELECT ${column} AS value, (extract(epoch FROM v.event_timestamp) * 1000)::float8 AS event_ms
        FROM ${table} v
        WHERE v.feature_id = f.feature_id AND v.feature_version = f.version
          AND v.entity_type = $1 AND v.entity_id = r.entity_id
          AND v.event_timestamp <= r.ts ${table === "ai_feature_values" ? bounded : ""}
          AND ($5 OR v.created_at <= r.ts)
        ORDER BY v.event_timestamp DESC, v.ingest_seq DESC
        LIMIT 1
      ) hit ON true`,
    values: [
      request.entityType,
      `{${features.map((f) => f.feature.id).join(",")}}`,
      `{${features.map((f) => f.index).join(",")}}`,
      `{${features.map((f) => f.feature.version).join(",")}}`,
      !request.asOfIngestion,
    ],
  });
  const values = (features: { feature: ServedFeature; index: number }[]) => [
    request.entityType,
    `{${features.map((f) => f.feature.id).join(",")}}`,
    `{${features.map((f) => f.index).join(",")}}`,
    `{${features.map((f) => f.feature.version).join(",")}}`,
    !request.asOfIngestion,
  ];
  return [
    ...(scalar.length ? [statement("ai_feature_values", "v.value::text", scalar)] : []),
    ...(vectors.length ? [statement("ai_feature_embeddings", "v.embedding::text", vectors)] : []),
    ...(windowed.length
      ? [{ text: windowStatement(pairsSql, windowed, request.asOfIngestion), values: values(windowed) }]
      : []),
  ];
}

/**
 * Every staged pair (training_pairs) probed in one statement, one row per pair in request
 * order, shaped as mergeQuery's rows (ord, entity_id, ts_ms, then v<i>, m<i> per feature), so
 * a cursor pages through either; an aggregated feature folds its window. Parameters: $1 entity
 * type, $2 feature ids (uuid[]), $3 versions (int[]), $4 false when asOfIngestion.
 */
export function probeRowsQuery(request: TrainingSetRequest, span: ProbeSpan | null): string {
  const bounded = span
    ? `AND v.event_timestamp >= '${span.lo}'::timestamptz AND v.event_timestamp < '${span.hi}'::timestamptz`
    : "";
  const laterals = request.features.map((feature, i) => {
    const id = `($2::uuid[])[${i + 1}]`;
    const version = `($3::int[])[${i + 1}]`;
    if (feature.window)
      return `LEFT JOIN LATERAL (${windowAnswer(feature, id, version, "$4", request.asOfIngestion)}) h${i} ON true`;
    const [table, column] =
      feature.dataType === "embedding" ? ["ai_feature_embeddings", "v.embedding"] : ["ai_feature_values", "v.value"];
    return `LEFT JOIN LATERAL (
        SELECT ${column}::text AS value, (extract(epoch FROM v.event_timestamp) * 1000)::float8 AS event_ms
        FROM ${table} v
        WHERE v.feature_id = ${id} AND v.feature_version = ${version}
          AND v.entity_type = $1 AND v.entity_id = r.entity_id
          AND v.event_timestamp <= r.ts ${table === "ai_feature_values" ? bounded : ""}
          AND ($4 OR v.created_at <= r.ts)
        ORDER BY v.event_timestamp DESC, v.ingest_seq DESC
        LIMIT 1
      ) h${i} ON true`;
  });
  const outputs = request.features.map((_, i) => `h${i}.value AS v${i}, h${i}.event_ms AS m${i}`);
  return `WITH r AS ${sortedPairs("SELECT ord, entity_id, ts FROM training_pairs")}
    SELECT r.ord, r.entity_id, (extract(epoch FROM r.ts) * 1000)::float8 AS ts_ms, ${outputs.join(", ")}
    FROM r
    ${laterals.join("\n    ")}
    ORDER BY r.ord`;
}

/**
 * The pairs in (entity, time) order, once: each feature's probes then walk its index forward
 * instead of jumping about it, so consecutive probes land on leaf pages just read
 * (bench/point-in-time.bench.ts: 10,000 pairs on a 5,000,000-row history, whose index does
 * not fit in shared_buffers, 2.0 s -> 1.4 s in Postgres). The answer's order comes from `ord`.
 */
function sortedPairs(pairsSql: string): string {
  return `MATERIALIZED (SELECT * FROM (${pairsSql}) AS p ORDER BY p.entity_id COLLATE "C", p.ts)`;
}

/**
 * Aggregated stream features: for each pair, the fold of the events current at the pair's
 * time (with asOfIngestion: ingested by then) in the window ending at the last interval
 * boundary <= t (windows.ts). One lateral per feature, since each has its own fold; the
 * window is an index range of the lookup index.
 */
function windowStatement(
  pairsSql: string,
  features: { feature: ServedFeature; index: number }[],
  asOfIngestion: boolean,
): string {
  const parts = features.map(({ feature }, k) => {
    const answer = windowAnswer(feature, `($2::uuid[])[${k + 1}]`, `($4::int[])[${k + 1}]`, "$5", asOfIngestion);
    return `SELECT r.ord, r.entity_id, (extract(epoch FROM r.ts) * 1000)::float8 AS ts_ms,
             ($3::int[])[${k + 1}] AS fi, agg.value, agg.event_ms
      FROM req r CROSS JOIN LATERAL (${answer}) agg`;
  });
  return `WITH req AS ${sortedPairs(pairsSql)}\n${parts.join("\nUNION ALL\n")}`;
}

/**
 * One aggregated feature's answer (value, event_ms) for the pair `r`, given SQL for its id,
 * its version, and a boolean that is false when asOfIngestion ($1 is the entity type).
 */
function windowAnswer(
  feature: ServedFeature,
  id: string,
  version: string,
  notAsOfIngestion: string,
  asOfIngestion: boolean,
): string {
  const window = feature.window!;
  const step = String(window.intervalSeconds);
  const end = windowEndSql("r.ts", step);
  const lastTile = `floor(extract(epoch FROM r.ts) / ${step})::bigint`;
  // Without asOfIngestion the window is whole tiles: their partial aggregates are folded.
  // With it, each event's ingestion time matters: the events themselves are folded.
  return asOfIngestion
    ? `SELECT ${windowAnswerSql(window.aggregation, "e")}
        FROM ${currentEventsSql(
          `v.feature_id = ${id} AND v.feature_version = ${version}
          AND v.entity_type = $1 AND v.entity_id = r.entity_id
          AND v.event_timestamp <= ${end}
          ${window.sizeSeconds === null ? "" : `AND v.event_timestamp > ${end} - make_interval(secs => ${window.sizeSeconds})`}`,
          `(${notAsOfIngestion} OR v.created_at <= r.ts)`,
        )} e`
    : `SELECT ${windowAnswerFromTilesSql(window.aggregation, "t")}
        FROM ai_feature_tiles t
        WHERE t.feature_id = ${id} AND t.feature_version = ${version} AND ${notAsOfIngestion}
          AND t.entity_type = $1 AND t.entity_id = r.entity_id AND t.tile <= ${lastTile}
          ${window.sizeSeconds === null ? "" : `AND t.tile > ${lastTile} - ${window.sizeSeconds / window.intervalSeconds}`}`;
}

/** The probe results of a range of `count` pairs as rows in request order. */
export function collectProbeRows(
  count: number,
  featureCount: number,
  results: readonly Record<string, unknown>[][],
): PointInTimeRow[] {
  const rows: PointInTimeRow[] = new Array(count);
  for (const result of results) {
    for (const hit of result) {
      const ord = Number(hit.ord);
      let row = rows[ord];
      if (!row) {
        row = {
          entityId: hit.entity_id as string,
          timestampMs: Number(hit.ts_ms),
          cells: new Array(featureCount).fill(null),
        };
        rows[ord] = row;
      }
      // A value without an event time is an aggregate over no events (count, sum: 0).
      if (hit.value !== null && hit.value !== undefined) {
        row.cells[Number(hit.fi)] = {
          json: hit.value as string,
          eventMs: hit.event_ms === null || hit.event_ms === undefined ? null : Number(hit.event_ms),
        } satisfies PointInTimeCell;
      }
    }
  }
  return rows;
}
