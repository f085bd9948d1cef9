// Values as they were at a point in time, from the offline store: for each (feature,
// entity), the row with the latest event_timestamp <= t (ties: the latest created_at).
import { sql } from "drizzle-orm";
import { tenantRows } from "./db.ts";
import type { ServedFeature } from "./registry/snapshot.ts";
import type { TenantContext } from "./tenant-context.ts";

export interface AsOfCell {
  eventMs: number;
  value: unknown;
}

/** One round trip; a LATERAL probe per (feature, entity) on the lookup index, pruned by time. */
export async function readValuesAsOf(
  ctx: TenantContext,
  entityType: string,
  features: ServedFeature[],
  entityIds: string[],
  at: Date,
): Promise<Map<string, AsOfCell>> {
  const scalar = features.filter((f) => f.dataType !== "embedding").map((f) => f.id);
  const vectors = features.filter((f) => f.dataType === "embedding").map((f) => f.id);
  const atIso = at.toISOString();
  // Lists travel as one JSON parameter: drizzle would expand an array into a row of parameters.
  const list = (values: string[]) => sql`(SELECT jsonb_array_elements_text(${JSON.stringify(values)}::jsonb))`;
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT f.feature_id, e.entity_id, v.value, (extract(epoch FROM v.event_timestamp) * 1000)::bigint AS event_ms
        FROM (SELECT id::uuid AS feature_id FROM ${list(scalar)} AS l(id)) AS f
        CROSS JOIN ${list(entityIds)} AS e(entity_id)
        JOIN LATERAL (
          SELECT value, event_timestamp FROM ai_feature_values v
          WHERE v.feature_id = f.feature_id AND v.entity_type = ${entityType} AND v.entity_id = e.entity_id
            AND v.event_timestamp <= ${atIso}
          ORDER BY v.event_timestamp DESC, v.created_at DESC LIMIT 1
        ) v ON true
        UNION ALL
        SELECT f.feature_id, e.entity_id, v.embedding::text::jsonb, (extract(epoch FROM v.event_timestamp) * 1000)::bigint
        FROM (SELECT id::uuid AS feature_id FROM ${list(vectors)} AS l(id)) AS f
        CROSS JOIN ${list(entityIds)} AS e(entity_id)
        JOIN LATERAL (
          SELECT embedding, event_timestamp FROM ai_feature_embeddings v
          WHERE v.feature_id = f.feature_id AND v.entity_type = ${entityType} AND v.entity_id = e.entity_id
            AND v.event_timestamp <= ${atIso}
          ORDER BY v.event_timestamp DESC, v.created_at DESC LIMIT 1
        ) v ON true`,
  ]);
  return new Map(
    rows!.map((r) => [`${r.feature_id}\u0000${r.entity_id}`, { eventMs: Number(r.event_ms), value: r.value }]),
  );
}
