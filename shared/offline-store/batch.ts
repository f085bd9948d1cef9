// Every stored value of some feature versions for some entities in [start, end), grouped by
// (entity, event time) and read a page at a time in that order; of restatements of one event
// time, the latest ingestion.
import { sql } from "drizzle-orm";
import { isResponseTooLarge } from "#shared/db/pg-errors.ts";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import { isoFromMs } from "#shared/features/iso-time.ts";

export interface BatchPageQuery {
  entityType: string;
  entityIds: readonly string[];
  features: readonly { id: string; version: number }[];
  startTime?: string | undefined;
  endTime?: string | undefined;
  /** The (entity, event time) of the previous page's last row. */
  after: { entityId: string; eventMs: number } | null;
  limit: number;
}

export interface BatchRow {
  entityId: string;
  eventMs: number;
  /** Values by feature version (`<id>@<version>`). */
  cells: Record<string, unknown>;
}

/**
 * One page. A page whose answer is over Neon's 10 MB (long strings, many features) is asked
 * again with half the rows, until it fits: the page is shorter, and its cursor goes on.
 */
export async function readBatchPage(
  ctx: TenantContext,
  query: BatchPageQuery,
): Promise<{ rows: BatchRow[]; hasMore: boolean }> {
  for (let limit = query.limit; ; limit = Math.ceil(limit / 2)) {
    try {
      return await readPage(ctx, { ...query, limit });
    } catch (error) {
      if (!isResponseTooLarge(error) || limit === 1) throw error;
    }
  }
}

async function readPage(ctx: TenantContext, query: BatchPageQuery): Promise<{ rows: BatchRow[]; hasMore: boolean }> {
  const versions = sql`(SELECT f.id, f.version FROM jsonb_to_recordset(${JSON.stringify(query.features)}::jsonb) AS f(id uuid, version int))`;
  const filters = [
    sql`v.entity_type = ${query.entityType}`,
    sql`v.entity_id IN (SELECT jsonb_array_elements_text(${JSON.stringify(query.entityIds)}::jsonb))`,
    sql`(v.feature_id, v.feature_version) IN ${versions}`,
  ];
  if (query.startTime) filters.push(sql`v.event_timestamp >= ${query.startTime}::timestamptz`);
  if (query.endTime) filters.push(sql`v.event_timestamp < ${query.endTime}::timestamptz`);
  if (query.after) {
    filters.push(
      sql`(v.entity_id, v.event_timestamp) > (${query.after.entityId}::text, ${isoFromMs(query.after.eventMs)}::timestamptz)`,
    );
  }
  // Pages end on an (entity, event time) boundary: rows are grouped by both.
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`WITH keys AS (
          SELECT DISTINCT v.entity_id, v.event_timestamp
          FROM ai_feature_values v
          WHERE ${sql.join(filters, sql` AND `)}
          ORDER BY v.entity_id, v.event_timestamp
          LIMIT ${query.limit + 1}
        )
        SELECT entity_id, (extract(epoch FROM event_timestamp) * 1000)::float8 AS event_ms,
               jsonb_object_agg(feature_id || '@' || feature_version, value) AS cells
        FROM (
          SELECT DISTINCT ON (v.entity_id, v.event_timestamp, v.feature_id, v.feature_version)
                 v.entity_id, v.event_timestamp, v.feature_id, v.feature_version, v.value
          FROM keys k JOIN ai_feature_values v
            ON v.entity_id = k.entity_id AND v.event_timestamp = k.event_timestamp AND v.entity_type = ${query.entityType}
           AND (v.feature_id, v.feature_version) IN ${versions}
          ORDER BY v.entity_id, v.event_timestamp, v.feature_id, v.feature_version, v.ingest_seq DESC
        ) latest
        GROUP BY entity_id, event_timestamp
        ORDER BY entity_id, event_timestamp`,
  ]);
  return {
    rows: rows!.slice(0, query.limit).map((r) => ({
      entityId: r.entity_id as string,
      eventMs: Number(r.event_ms),
      cells: r.cells as Record<string, unknown>,
    })),
    hasMore: rows!.length > query.limit,
  };
}
