// The latest value of each (feature version, entity) as Postgres holds it (ai_feature_online
// and ai_feature_embeddings_online): what the online store is refilled from, and what reads
// answer when the online store misses or is down.
import { sql } from "drizzle-orm";
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

/** The latest values of the given (feature version, entity) cells, in one round trip under RLS. */
export async function readLatestValues(
  ctx: TenantContext,
  entityType: string,
  wanted: readonly LatestValueKey[],
): Promise<Map<string, Cell>> {
  const found = new Map<string, Cell>();
  if (wanted.length === 0) return found;
  // Lists travel as one JSON parameter: drizzle would expand an array into a row of parameters.
  const cells = JSON.stringify(wanted.map((w) => ({ f: w.featureId, v: w.version, e: w.entityId })));
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`WITH wanted AS (
          SELECT f AS feature_id, v AS feature_version, e AS entity_id
          FROM jsonb_to_recordset(${cells}::jsonb) AS w(f uuid, v int, e text)
        )
        SELECT o.feature_id, o.feature_version, o.entity_id, o.value, o.ingest_seq,
               (extract(epoch FROM o.event_timestamp) * 1000)::bigint AS event_ms
        FROM ai_feature_online o JOIN wanted w USING (feature_id, feature_version, entity_id)
        WHERE o.entity_type = ${entityType}
        UNION ALL
        SELECT e.feature_id, e.feature_version, e.entity_id, e.embedding::text::jsonb, e.ingest_seq,
               (extract(epoch FROM e.event_timestamp) * 1000)::bigint
        FROM ai_feature_embeddings_online e JOIN wanted w USING (feature_id, feature_version, entity_id)
        WHERE e.entity_type = ${entityType}`,
  ]);
  for (const r of rows!) {
    found.set(latestValueKey(r.feature_id as string, Number(r.feature_version), r.entity_id as string), {
      eventMs: Number(r.event_ms),
      seq: Number(r.ingest_seq),
      value: r.value,
    });
  }
  return found;
}
