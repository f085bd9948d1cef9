// How fresh each feature group is, for the console's overview: the newest event time among
// its features' online values and aggregated events, against the group's TTL and its
// features' schedule. A group
// is stale when its newest value is older than its TTL, or older than two scheduled runs.
import { sql } from "drizzle-orm";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";

export interface GroupFreshness {
  groupId: string;
  /** The newest event time among the group's online values; null when it has none. */
  newestEventAt: string | null;
  ageSeconds: number | null;
  ttlSeconds: number | null;
  /** The shortest `source_config.schedule.everySeconds` of its features, if any. */
  scheduleSeconds: number | null;
  state: "fresh" | "stale" | "empty";
  /** Why it is stale, in words. */
  reason: string | null;
}

export async function groupFreshness(ctx: TenantContext, now = new Date()): Promise<GroupFreshness[]> {
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT g.id AS group_id, g.ttl_seconds,
               (SELECT min(GREATEST(60, (d.source_config -> 'schedule' ->> 'everySeconds')::int))
                  FROM ai_feature_definitions d
                 WHERE d.group_id = g.id AND d.status <> 'archived'
                   AND jsonb_typeof(d.source_config -> 'schedule' -> 'everySeconds') = 'number') AS schedule_seconds,
               GREATEST(
                 (SELECT max(o.event_timestamp) FROM ai_feature_online o
                    JOIN ai_feature_definitions d ON d.id = o.feature_id WHERE d.group_id = g.id),
                 (SELECT max(e.event_timestamp) FROM ai_feature_embeddings_online e
                    JOIN ai_feature_definitions d ON d.id = e.feature_id WHERE d.group_id = g.id),
                 -- Aggregated stream features keep their events as tiles, not online rows.
                 (SELECT to_timestamp(max(t.last_ms) / 1000) FROM ai_feature_tiles t
                    JOIN ai_feature_definitions d ON d.id = t.feature_id WHERE d.group_id = g.id)
               ) AS newest
        FROM ai_feature_groups g
        ORDER BY g.name`,
  ]);
  return rows!.map((row) => {
    const newest = row.newest ? new Date(row.newest as string) : null;
    const ttlSeconds = row.ttl_seconds === null ? null : Number(row.ttl_seconds);
    const scheduleSeconds = row.schedule_seconds === null ? null : Number(row.schedule_seconds);
    const ageSeconds = newest ? Math.max(0, Math.round((now.getTime() - newest.getTime()) / 1000)) : null;
    let reason: string | null = null;
    if (ageSeconds !== null && ttlSeconds !== null && ageSeconds > ttlSeconds) reason = "older than the group's TTL";
    else if (ageSeconds !== null && scheduleSeconds !== null && ageSeconds > 2 * scheduleSeconds)
      reason = "two scheduled runs behind";
    return {
      groupId: row.group_id as string,
      newestEventAt: newest ? newest.toISOString() : null,
      ageSeconds,
      ttlSeconds,
      scheduleSeconds,
      state: newest === null ? "empty" : reason ? "stale" : "fresh",
      reason,
    };
  });
}
