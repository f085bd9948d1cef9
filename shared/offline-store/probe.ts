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
import type { TrainingSetRequest } from "./types.ts";

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

export interface ProbeQuery {
  text: string;
  values: unknown[];
}

/**
 * Every staged pair (training_pairs) probed in one statement, one row per pair in request
 * order, shaped as mergeQuery's rows (ord, entity_id, ts_ms, then v<i>, m<i> per feature), so
 * a cursor pages through either; an aggregated feature folds its window. Parameters: $1 entity
 * type, $2 feature ids (uuid[]), $3 versions (int[]), $4 false when asOfIngestion. The pairs
 * are the staged table, or `pairsSql` (a query of ord, entity_id, ts).
 */
export function probeRowsQuery(
  request: TrainingSetRequest,
  span: ProbeSpan | null,
  pairsSql = "SELECT ord, entity_id, ts FROM training_pairs",
): string {
  const bounded = span
    ? `AND v.event_timestamp >= '${span.lo}'::timestamptz AND v.event_timestamp < '${span.hi}'::timestamptz`
    : "";
  // Plain scalar features share one lateral: for each pair, one probe per feature through a
  // single probe subquery driven by the list of those features. Ten laterals of their own
  // took ~12 ms to plan (ten Appends over the partitions) and ran slower: 1,000 pairs on the
  // 200,000-row history 170-200 ms -> 137-155 ms, 5,000 on the 5,000,000-row one
  // 1.0-1.4 s -> 0.9-1.0 s (bench/point-in-time.bench.ts, in Postgres alone).
  const shared = request.features.flatMap((feature, i) =>
    !feature.window && feature.dataType !== "embedding" ? [i] : [],
  );
  const slot = new Map(shared.map((i, k) => [i, k + 1]));
  const laterals = request.features.flatMap((feature, i) => {
    if (slot.has(i)) return [];
    const id = `($2::uuid[])[${i + 1}]`;
    const version = `($3::int[])[${i + 1}]`;
    if (feature.window)
      return [`LEFT JOIN LATERAL (${windowAnswer(feature, id, version, "$4", request.asOfIngestion)}) h${i} ON true`];
    return [
      `LEFT JOIN LATERAL (
        SELECT v.embedding::text AS value, (extract(epoch FROM v.event_timestamp) * 1000)::float8 AS event_ms
        FROM ai_feature_embeddings v
        WHERE v.feature_id = ${id} AND v.feature_version = ${version}
          AND v.entity_type = $1 AND v.entity_id = r.entity_id
          AND v.event_timestamp <= r.ts
          AND ($4 OR v.created_at <= r.ts)
        ORDER BY v.event_timestamp DESC, v.ingest_seq DESC
        LIMIT 1
      ) h${i} ON true`,
    ];
  });
  if (shared.length) {
    const ids =
      shared.length === request.features.length
        ? "$2::uuid[]"
        : `ARRAY[${shared.map((i) => `($2::uuid[])[${i + 1}]`).join(", ")}]`;
    const versions =
      shared.length === request.features.length
        ? "$3::int[]"
        : `ARRAY[${shared.map((i) => `($3::int[])[${i + 1}]`).join(", ")}]`;
    laterals.unshift(`CROSS JOIN LATERAL (
        SELECT array_agg(x.value ORDER BY f.i) AS vals, array_agg(x.event_ms ORDER BY f.i) AS ms
        FROM unnest(${ids}, ${versions}) WITH ORDINALITY AS f(id, version, i)
        LEFT JOIN LATERAL (
          SELECT v.value::text AS value, (extract(epoch FROM v.event_timestamp) * 1000)::float8 AS event_ms
          FROM ai_feature_values v
          WHERE v.feature_id = f.id AND v.feature_version = f.version
            AND v.entity_type = $1 AND v.entity_id = r.entity_id
            AND v.event_timestamp <= r.ts ${bounded}
            AND ($4 OR v.created_at <= r.ts)
          ORDER BY v.event_timestamp DESC, v.ingest_seq DESC
          LIMIT 1
        ) x ON true
      ) s`);
  }
  const outputs = request.features.map((_, i) =>
    slot.has(i)
      ? `s.vals[${slot.get(i)}] AS v${i}, s.ms[${slot.get(i)}] AS m${i}`
      : `h${i}.value AS v${i}, h${i}.event_ms AS m${i}`,
  );
  return `WITH r AS ${sortedPairs(pairsSql)}
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
