// The latest value of each (feature version, entity) as Postgres holds it (ai_feature_online
// and ai_feature_embeddings_online, or the offline history once TTL expiry has removed it
// there): what the online store is refilled from, and what reads answer when the online
// store misses or is down.
import { sql } from "drizzle-orm";
import { readSplittingOnTooLarge } from "#shared/db/pg-errors.ts";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import type { Cell } from "#shared/online-store/store.ts";

export interface LatestValueKey {
  featureId: string;
  version: number;
  entityId: string;
}

/** Map key of a (feature version, entity) cell in readLatestValues' answer. */
export const latestValueKey = (featureId: string, version: number, entityId: string) =>
  `${featureId}@${version}\u0000${entityId}`;

/**
 * The latest values of the given (feature version, entity) cells under RLS: one round trip,
 * or a few in parallel when the answer is over Neon's 10 MB (1,000 entities x a 1,536-float
 * embedding is ~17 MB).
 */
export async function readLatestValues(
  ctx: TenantContext,
  entityType: string,
  wanted: readonly LatestValueKey[],
): Promise<Map<string, Cell>> {
  const found = new Map<string, Cell>();
  if (wanted.length === 0) return found;
  const rows = await readSplittingOnTooLarge(wanted, (part) => readLatestRows(ctx, entityType, part));
  for (const r of rows) {
    found.set(latestValueKey(r.feature_id as string, Number(r.feature_version), r.entity_id as string), {
      eventMs: Number(r.event_ms),
      seq: Number(r.ingest_seq),
      value: r.value,
    });
  }
  return found;
}

async function readLatestRows(ctx: TenantContext, entityType: string, wanted: readonly LatestValueKey[]) {
  // Lists travel as one JSON parameter: drizzle would expand an array into a row of parameters.
  const cells = JSON.stringify(wanted.map((w) => ({ f: w.featureId, v: w.version, e: w.entityId })));
  // A key the online tables lack may still have a value whose TTL expiry removed it there:
  // its latest offline value decides (EXPIRED, not NOT_FOUND), so statuses never depend on
  // whether cleanup has run. One round trip either way.
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`WITH wanted AS (
          SELECT f AS feature_id, v AS feature_version, e AS entity_id
          FROM jsonb_to_recordset(${cells}::jsonb) AS w(f uuid, v int, e text)
        ), latest AS (
          SELECT o.feature_id, o.feature_version, o.entity_id, o.value, o.ingest_seq, o.event_timestamp
          FROM ai_feature_online o JOIN wanted w USING (feature_id, feature_version, entity_id)
          WHERE o.entity_type = ${entityType}
          UNION ALL
          SELECT e.feature_id, e.feature_version, e.entity_id, e.embedding::text::jsonb, e.ingest_seq, e.event_timestamp
          FROM ai_feature_embeddings_online e JOIN wanted w USING (feature_id, feature_version, entity_id)
          WHERE e.entity_type = ${entityType}
        )
        SELECT feature_id, feature_version, entity_id, value, ingest_seq,
               (extract(epoch FROM event_timestamp) * 1000)::float8 AS event_ms
        FROM latest
        UNION ALL
        SELECT w.feature_id, w.feature_version, w.entity_id, h.value, h.ingest_seq,
               (extract(epoch FROM h.event_timestamp) * 1000)::float8
        FROM wanted w CROSS JOIN LATERAL (
          SELECT v.value, v.ingest_seq, v.event_timestamp FROM ai_feature_values v
          WHERE v.feature_id = w.feature_id AND v.feature_version = w.feature_version
            AND v.entity_type = ${entityType} AND v.entity_id = w.entity_id AND v.event_timestamp <= now()
          ORDER BY v.event_timestamp DESC, v.ingest_seq DESC LIMIT 1
        ) h
        WHERE NOT EXISTS (SELECT 1 FROM latest l WHERE l.feature_id = w.feature_id
                            AND l.feature_version = w.feature_version AND l.entity_id = w.entity_id)`,
  ]);
  return rows!;
}
