// The latest value of each (feature, entity) as Postgres holds it (ai_feature_online and
// ai_feature_embeddings_online): what the online store is refilled from, and what reads
// answer when the online store misses or is down.
import { sql } from "drizzle-orm";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import type { Cell } from "#shared/online-store/store.ts";

export interface LatestValueKey {
  featureId: string;
  entityId: string;
}

/** Map key of a (feature, entity) cell in readLatestValues' answer. */
export const latestValueKey = (featureId: string, entityId: string) => `${featureId}\u0000${entityId}`;

/** The latest values of the given (feature, entity) cells, in one round trip under RLS. */
export async function readLatestValues(
  ctx: TenantContext,
  entityType: string,
  wanted: readonly LatestValueKey[],
): Promise<Map<string, Cell>> {
  const found = new Map<string, Cell>();
  if (wanted.length === 0) return found;
  // Lists travel as one JSON parameter: drizzle would expand an array into a row of parameters.
  const pairs = JSON.stringify(wanted.map((w) => ({ feature_id: w.featureId, entity_id: w.entityId })));
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`WITH wanted AS (
          SELECT * FROM jsonb_to_recordset(${pairs}::jsonb) AS w(feature_id uuid, entity_id text)
        )
        SELECT o.feature_id, o.entity_id, o.value, (extract(epoch FROM o.event_timestamp) * 1000)::bigint AS event_ms
        FROM ai_feature_online o JOIN wanted w USING (feature_id, entity_id)
        WHERE o.entity_type = ${entityType}
        UNION ALL
        SELECT e.feature_id, e.entity_id, e.embedding::text::jsonb, (extract(epoch FROM e.event_timestamp) * 1000)::bigint
        FROM ai_feature_embeddings_online e JOIN wanted w USING (feature_id, entity_id)
        WHERE e.entity_type = ${entityType}`,
  ]);
  for (const r of rows!) {
    found.set(latestValueKey(r.feature_id as string, r.entity_id as string), {
      eventMs: Number(r.event_ms),
      value: r.value,
    });
  }
  return found;
}
