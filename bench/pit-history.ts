// The generated histories of the point-in-time benchmarks and Feast's query over them.
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { ownerSql } from "#harness/stack.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { findGroup } from "#shared/registry/groups.ts";
import { historyYearSeconds, historyYearStart } from "./training-pairs.ts";

export const featureCount = 10;

/** A history of `rows` values of 10 features over `entities` users in one year, kept between runs (fixed tenant). */
export interface History {
  rows: number;
  entities: number;
  tenantId: string;
}

const yearStart = historyYearStart;
const yearSeconds = historyYearSeconds;

export async function ensureHistory({ tenantId, rows: historyRows, entities }: History) {
  const ctx = testTenantContext(tenantId);
  const owner = ownerSql();
  await owner`INSERT INTO tenants (id, name) VALUES (${tenantId}, 'bench') ON CONFLICT DO NOTHING`;
  let group = await findGroup(ctx, "bench");
  if (!group) {
    await defineFeatures(ctx, [
      {
        name: "bench",
        entityType: "user",
        features: Array.from({ length: featureCount }, (_, i) => ({ name: `f${i}`, dataType: "int64" as const })),
      },
    ]);
    group = await findGroup(ctx, "bench");
  }
  const [features] = await withTenantSql(ctx.db, tenantId, (sql) => [
    sql`SELECT id FROM ai_feature_definitions WHERE group_id = ${group!.id} ORDER BY name`,
  ]);
  const featureIds = features!.map((f) => f.id as string);
  await withTenantSql(ctx.db, tenantId, (sql) => [
    sql`SELECT create_feature_partition(11, ${new Date(yearStart).toISOString()})`,
  ]);
  const [count] = await owner`SELECT count(*)::int AS n FROM ai_feature_values WHERE tenant_id = ${tenantId}`;
  const batch = 500_000;
  for (let from = Number(count!.n); from < historyRows; from += batch) {
    const started = Date.now();
    await owner.query(
      `INSERT INTO ai_feature_values (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp, created_at)
       SELECT $1, ($2::uuid[])[1 + (i % ${featureCount})], 'user', 'e' || ((i / ${featureCount}) % ${entities}),
              to_jsonb((i * 7919) % 100000), 'scalar', t, t
       FROM generate_series($3::bigint, $4::bigint) AS i,
            LATERAL (SELECT to_timestamp(${yearStart / 1000} + ((i * 2654435761) % ${yearSeconds}))) AS ts(t)
       ON CONFLICT DO NOTHING`,
      [tenantId, `{${featureIds.join(",")}}`, from, Math.min(historyRows, from + batch) - 1],
    );
    console.log(`history: ${Math.min(historyRows, from + batch)} / ${historyRows} rows (${Date.now() - started} ms)`);
  }
  await owner.query("ANALYZE ai_feature_values");
  return { ctx, featureIds };
}

/**
 * Feast's offline-store shape: join every entity row with every feature row before it, rank,
 * keep rank 1. It reads the feature version asked (version 1 here), as the product does: values
 * are versioned, and a version-blind join would mix versions into the answer.
 */
export function feastQuery(wrapWithCount: boolean) {
  const inner = `
    WITH entity_df AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(ord int, entity_id text, ts timestamptz)
    ), joined AS (
      SELECT e.ord, v.feature_id, v.value, v.event_timestamp,
             ROW_NUMBER() OVER (PARTITION BY e.ord, v.feature_id ORDER BY v.event_timestamp DESC, v.created_at DESC) AS rn
      FROM entity_df e
      JOIN ai_feature_values v ON v.entity_id = e.entity_id AND v.event_timestamp <= e.ts
      WHERE v.feature_id = ANY ($2::uuid[]) AND v.feature_version = 1 AND v.entity_type = 'user'
    )
    SELECT ord, feature_id, value, (extract(epoch FROM event_timestamp) * 1000)::bigint AS event_ms FROM joined WHERE rn = 1`;
  return wrapWithCount ? `SELECT count(*)::int AS n FROM (${inner}) AS answer` : `${inner} ORDER BY ord, feature_id`;
}

export async function runFeast(
  tenantId: string,
  pairs: { entityId: string; timestamp: string }[],
  featureIds: string[],
  bestPlan: boolean,
  rows: boolean,
) {
  const ctx = testTenantContext(tenantId);
  const json = JSON.stringify(pairs.map((p, i) => ({ ord: i, entity_id: p.entityId, ts: p.timestamp })));
  const results = await withTenantSql(ctx.db, tenantId, (sql) => [
    ...(bestPlan ? [sql`SET LOCAL enable_nestloop = off`] : []),
    sql.query(feastQuery(!rows), [json, `{${featureIds.join(",")}}`]),
  ]);
  return results.at(-1)!;
}

/** POST /v1/features/historical asking for NDJSON, with a body given whole or streamed. */
export function ndjsonTrainingRequest(token: string, body: string | ReadableStream<Uint8Array>): Request {
  return new Request("http://serving/v1/features/historical", {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/x-ndjson",
      // What an HTTP client sends with a body it holds (the route reads such a body whole).
      ...(typeof body === "string" ? { "content-length": String(new TextEncoder().encode(body).byteLength) } : {}),
    },
    body,
    // @ts-expect-error not in the Workers types; what a streamed request body needs elsewhere
    duplex: "half",
  });
}
