// The seed's FeatureStats (mean, std, min, max, nullRate, uniqueCount, histogram) of the
// values a job wrote, stored on the feature's current version.
import { sql } from "drizzle-orm";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";

/** Stats of one feature version's values in [from, to]: of restatements, the latest ingestion only. */
export async function computeFeatureStats(
  ctx: TenantContext,
  feature: { id: string; version: number },
  from: Date,
  to: Date,
) {
  // One sort of the range keeps each key's latest ingestion (a per-row NOT EXISTS probe took
  // minutes on a million rows).
  // An aggregated feature's events are (event id, time): each counts, and a retraction (an
  // event moved away) is no value.
  const latest = sql`(
    SELECT * FROM (
      SELECT DISTINCT ON (v.entity_type, v.entity_id, v.event_timestamp, v.event_id) v.value, v.value_type
      FROM ai_feature_values v
      WHERE v.feature_id = ${feature.id} AND v.feature_version = ${feature.version}
        AND v.event_timestamp >= ${from.toISOString()} AND v.event_timestamp <= ${to.toISOString()}
      ORDER BY v.entity_type, v.entity_id, v.event_timestamp, v.event_id, v.ingest_seq DESC) AS current
    WHERE current.value_type <> 'retracted') AS v`;
  // One statement, so the range is read (and sorted) once for the summary and the histogram.
  // Numbers: 10 equal-width buckets labelled by their lower bound. Anything else: the 20 most
  // common values. The bounds are scalar subqueries (InitPlans, computed once): as a joined
  // CTE a fresh partition's missing statistics made the planner rescan it per row.
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`WITH v AS MATERIALIZED (SELECT v.value FROM ${latest}),
             numbers AS (SELECT (value #>> '{}')::float8 AS x FROM v WHERE jsonb_typeof(value) = 'number'),
             summary AS (
               SELECT count(*)::int AS count,
                      count(*) FILTER (WHERE jsonb_typeof(v.value) = 'null')::int AS nulls,
                      count(DISTINCT v.value)::int AS unique_count,
                      avg((v.value #>> '{}')::float8) FILTER (WHERE jsonb_typeof(v.value) = 'number') AS mean,
                      stddev_pop((v.value #>> '{}')::float8) FILTER (WHERE jsonb_typeof(v.value) = 'number') AS std,
                      min((v.value #>> '{}')::float8) FILTER (WHERE jsonb_typeof(v.value) = 'number') AS min,
                      max((v.value #>> '{}')::float8) FILTER (WHERE jsonb_typeof(v.value) = 'number') AS max
               FROM v),
             histogram AS (
               SELECT round((lo + (width_bucket(x, lo, hi + 1e-9, 10) - 1) * (hi - lo) / 10)::numeric, 6)::text AS label,
                      count(*)::int AS n, 0 AS kind
               FROM numbers, LATERAL (SELECT (SELECT min(x) FROM numbers) AS lo, (SELECT max(x) FROM numbers) AS hi) AS b
               GROUP BY 1
               UNION ALL
               SELECT * FROM (
                 SELECT v.value #>> '{}' AS label, count(*)::int AS n, 1 AS kind FROM v
                 WHERE jsonb_typeof(v.value) IN ('string', 'boolean') GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20
               ) common)
        SELECT summary.*,
               (SELECT COALESCE(jsonb_agg(jsonb_build_array(label, n) ORDER BY kind, label), '[]') FROM histogram) AS histogram
        FROM summary`,
  ]);
  const s = rows![0]!;
  const count = Number(s.count);
  const num = (x: unknown) => (x === null || x === undefined ? null : Number(x));
  const stats = {
    count,
    mean: num(s.mean),
    std: num(s.std),
    min: num(s.min),
    max: num(s.max),
    nullRate: count ? Number(s.nulls) / count : null,
    uniqueCount: Number(s.unique_count),
    histogram: Object.fromEntries((s.histogram as [string, number][]).map(([label, n]) => [String(label), Number(n)])),
    computedAt: new Date().toISOString(),
  };
  await tenantRows(ctx.db, ctx.tenantId, [
    sql`UPDATE ai_feature_versions v SET stats = ${JSON.stringify(stats)}::jsonb
        WHERE v.feature_id = ${feature.id} AND v.version = ${feature.version}`,
  ]);
  return stats;
}
