// Point-in-time rows for large requests in one pass over the history instead of one index
// probe per (pair, feature): the requested entities' history is read once, gathered per
// entity into time-ordered arrays (one per feature), and each staged request
// (training_pairs, see training-session.ts) finds its value by binary search in them
// (width_bucket). One scan of the history however many pairs there are.
import type { ServedFeature } from "#shared/registry/snapshot.ts";

// Why this shape (bench/point-in-time.bench.ts, in Postgres alone): a running max over the
// union of requests and history in (entity, time) order, its earlier shape, took 1.2 s for
// 100,000 pairs on a 200,000-row history and 3.3 s on a 5,000,000-row one; this takes 0.86 s
// and 2.7 s. The history is sorted once, by (entity, event time, ingestion), and each
// entity's group keeps its rows in that order: width_bucket(t, times) is then the number of
// rows with event_timestamp <= t, the position of the latest value at t and, among
// restatements of that event time, of the latest ingestion. Before the first value it is 0,
// and subscript 0 is NULL: no value.
// Entity ids are sorted and grouped bytewise (COLLATE "C"): with the database's collation
// every comparison of the big sort goes through strcoll.
// Parameters: $1 entity type, $2 the features' ids (uuid[], in request order), $3 their
// versions (int[], same order). The pairs are the staged table training_pairs, or
// `pairsSql` (a query of ord, entity_id, ts) under that name.
export function mergeQuery(features: readonly ServedFeature[], pairsSql?: string): string {
  const ofFeature = (i: number) =>
    `FILTER (WHERE feature_id = ($2::uuid[])[${i + 1}] AND feature_version = ($3::int[])[${i + 1}])`;
  const arrays = features.map(
    (_, i) => `array_agg(event_timestamp) ${ofFeature(i)} AS t${i}, array_agg(value) ${ofFeature(i)} AS v${i}`,
  );
  const positions = features.map((_, i) => `width_bucket(r.ts, g.t${i}) AS i${i}`);
  const outputs = features.map(
    (_, i) => `g.v${i}[w.i${i}] AS v${i}, (extract(epoch FROM g.t${i}[w.i${i}]) * 1000)::float8 AS m${i}`,
  );
  // The history is bounded by the requests' entities and latest time. The entity filter is
  // a semi-join on the staged table (hashed: ANALYZE gave the planner its size).
  const history = (table: string, value: string) => `
    SELECT v.entity_id COLLATE "C" AS entity_id, v.feature_id, v.feature_version, v.event_timestamp, v.ingest_seq,
           ${value} AS value
    FROM ${table} v
    WHERE v.entity_type = $1 AND v.feature_id = ANY ($2::uuid[]) AND v.feature_version = ANY ($3::int[])
      AND v.entity_id IN (SELECT entity_id FROM training_pairs)
      AND v.event_timestamp <= (SELECT max(ts) FROM training_pairs)`;
  const embeddings = features.some((f) => f.dataType === "embedding");
  return `
  WITH ${pairsSql ? `training_pairs AS MATERIALIZED (${pairsSql}), ` : ""}history AS (${history("ai_feature_values", "v.value::text")}
    ${embeddings ? `UNION ALL ${history("ai_feature_embeddings", "v.embedding::text")}` : ""}
  ), grouped AS (
    -- Aggregates take their rows in the order the sorted subquery gives them.
    SELECT entity_id, ${arrays.join(", ")}
    FROM (SELECT * FROM history ORDER BY entity_id, event_timestamp, ingest_seq) AS ordered
    GROUP BY entity_id
  )
  SELECT r.ord, r.entity_id, (extract(epoch FROM r.ts) * 1000)::float8 AS ts_ms, ${outputs.join(", ")}
  FROM training_pairs r
  LEFT JOIN grouped g ON g.entity_id = r.entity_id
  CROSS JOIN LATERAL (SELECT ${positions.join(", ")}) AS w
  ORDER BY r.ord`;
}

/**
 * Planner settings for mergeQuery's transaction. JIT costs more than it saves on these plans;
 * the sort wants memory. The history is read whole and sorted: a bitmap scan reads its pages
 * in order, where a plain index scan (the planner's pick for a few features) jumps between
 * them (10,000 pairs, half of a 200,000-row history's features: 200 ms -> 160 ms). And it is
 * one hashed semi-join with the pairs: pairs sent as arrays have no statistics, and the
 * planner, taking them for few, probed the history once per entity instead (10,000 pairs,
 * half the features of a 5,000,000-row history: 5.6 s -> 2.1 s).
 * The monthly partitions are shared by every tenant: the history is read through an index led
 * by tenant_id (a bitmap scan), never a sequential scan of the partitions. Planned on a bad
 * estimate, a parallel sequential scan read a 20,000,000-row tenant's rows too: 1,000 pairs
 * of a 200,000-row tenant took 685 ms instead of ~110 ms. On the tenant's own data the
 * bitmap scan is the planner's pick anyway (5,000,000 rows: the same time either way).
 */
export const mergeSettings = {
  jit: "off",
  work_mem: "64MB",
  enable_indexscan: "off",
  enable_nestloop: "off",
  enable_seqscan: "off",
};
