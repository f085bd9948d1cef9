// Pushed events of aggregated stream features (DESIGN.md, "Source types mean what they say"):
// stored raw in the offline store, and the tiles they change recomputed in the same round
// trip and written to the online store.
//  * An event is (eventId, event time) with an id, (event time) without. Sent again with the
//    same value: nothing happens. With a new value: a restatement (a new row, a later
//    ingestion). An id sent with a new time moves the event: the old time gets a retraction
//    row, so windows over it stop counting it.
//  * Pushes of one (feature version, entity) are serialised by a transaction advisory lock,
//    taken in a statement before the write: the write's snapshot then holds every earlier
//    push, its tiles are complete, and its ingestion sequence numbers are above theirs, so
//    the online store can order tile writes by them whatever order they arrive in.
import { isServiceUnavailable, neverReachedDatabase } from "#shared/db/pg-errors.ts";
import { type TenantContext, withTenantSql } from "#shared/db/tenant.ts";
import { type CacheRepair, recordCacheRepairs } from "#shared/online-store/cache-repair.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";
import { type TileWrite, tileInvalidations } from "#shared/online-store/store.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { currentEventsSql, tileColumnsSql, tileFromRow, tileSql, upsertTilesSql } from "./aggregates-sql.ts";
import { isoFromMs } from "./iso-time.ts";
import { encodeTile, onlineHorizon, windowTileCount } from "./windows.ts";
import type { WriteResult } from "./writes.ts";

export interface EventWrite {
  feature: ServedFeature;
  entityType: string;
  entityId: string;
  eventId: string | null;
  eventMs: number;
  value: unknown;
}

const identity = (w: EventWrite) =>
  `${w.feature.field}\u0000${w.entityId}\u0000${w.eventId === null ? `t${w.eventMs}` : `i${w.eventId}`}`;

// Each input row is an event (the last of the request for its identity). `prior` is the
// event's latest stored row: by id (at the time ai_feature_event_times says it lives) or by
// time. `changed` rows are stored; a moved event also leaves a retraction at its old time.
// `touched` are the tiles those rows lie in. A tile that only gained new events adds them to
// its stored partial aggregate (ai_feature_tiles): the push costs its own events, however
// many the tile holds. A tile where an event was restated, moved or retracted is refolded
// from the committed current events (less those this statement replaces; the snapshot does
// not see the statement's own inserts) and this statement's rows.
const writeEventsSql = `
WITH input AS MATERIALIZED (
  SELECT x.*, nextval('ai_feature_ingest_seq') AS seq
  FROM (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
          ord int, feature_id uuid, feature_version int, entity_type text, entity_id text, event_id text,
          event_timestamp timestamptz, value jsonb, step int)
        ORDER BY ord) x
), prior AS MATERIALIZED (
  SELECT i.ord, p.event_timestamp AS prior_ts, p.value AS prior_value
  FROM input i LEFT JOIN LATERAL (
    (SELECT h.event_timestamp, h.value, h.ingest_seq
     FROM ai_feature_event_times e CROSS JOIN LATERAL (
       SELECT h.event_timestamp, h.value, h.ingest_seq FROM ai_feature_values h
       WHERE h.tenant_id = $2 AND h.feature_id = e.feature_id AND h.feature_version = e.feature_version
         AND h.entity_type = e.entity_type AND h.entity_id = e.entity_id
         AND h.event_timestamp = e.event_timestamp AND h.event_id = e.event_id
       ORDER BY h.ingest_seq DESC LIMIT 1) h
     WHERE i.event_id IS NOT NULL AND e.tenant_id = $2 AND e.feature_id = i.feature_id
       AND e.feature_version = i.feature_version AND e.entity_type = i.entity_type AND e.entity_id = i.entity_id
       AND e.event_id = i.event_id)
    UNION ALL
    (SELECT h.event_timestamp, h.value, h.ingest_seq FROM ai_feature_values h
     WHERE i.event_id IS NULL AND h.tenant_id = $2 AND h.feature_id = i.feature_id
       AND h.feature_version = i.feature_version AND h.entity_type = i.entity_type AND h.entity_id = i.entity_id
       AND h.event_timestamp = i.event_timestamp AND h.event_id IS NULL
     ORDER BY h.ingest_seq DESC LIMIT 1)
  ) p ON true
), judged AS MATERIALIZED (
  SELECT i.*, p.prior_ts, p.prior_ts IS NOT NULL AS existed,
         p.prior_ts IS NOT DISTINCT FROM i.event_timestamp AND p.prior_value = i.value AS same
  FROM input i JOIN prior p USING (ord)
), ins AS MATERIALIZED (
  INSERT INTO ai_feature_values
    (tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type, event_timestamp, ingest_seq, event_id)
  SELECT $2, feature_id, feature_version, entity_type, entity_id, value, 'scalar', event_timestamp, seq, event_id
  FROM judged WHERE NOT same
  UNION ALL
  SELECT $2, feature_id, feature_version, entity_type, entity_id, 'null'::jsonb, 'retracted', prior_ts,
         nextval('ai_feature_ingest_seq'), event_id
  FROM judged WHERE existed AND prior_ts <> event_timestamp
  RETURNING tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type, event_timestamp,
            ingest_seq, event_id
), event_times AS (
  -- Where a stored or moved event id now lives (ai_feature_event_times, migration 0014).
  INSERT INTO ai_feature_event_times AS et
    (tenant_id, feature_id, feature_version, entity_type, entity_id, event_id, event_timestamp)
  SELECT $2, feature_id, feature_version, entity_type, entity_id, event_id, event_timestamp
  FROM judged WHERE event_id IS NOT NULL AND NOT same AND prior_ts IS DISTINCT FROM event_timestamp
  ON CONFLICT (tenant_id, feature_id, feature_version, entity_type, entity_id, event_id)
    DO UPDATE SET event_timestamp = excluded.event_timestamp
), steps AS (
  SELECT DISTINCT feature_id, feature_version, step FROM input
), touched AS MATERIALIZED (
  SELECT feature_id, feature_version, entity_type, entity_id, step, tile, bool_or(refold) AS refold
  FROM (SELECT feature_id, feature_version, entity_type, entity_id, step,
               ${tileSql("event_timestamp", "step")} AS tile, existed AS refold
        FROM judged WHERE NOT same
        UNION ALL
        SELECT feature_id, feature_version, entity_type, entity_id, step, ${tileSql("prior_ts", "step")}, true
        FROM judged WHERE existed AND prior_ts <> event_timestamp) t
  GROUP BY 1, 2, 3, 4, 5, 6
), revisions AS (
  SELECT feature_id, feature_version, entity_id, max(ingest_seq) AS revision FROM ins GROUP BY 1, 2, 3
), own AS MATERIALIZED (
  -- The statement's new events, each with its tile.
  SELECT n.feature_id, n.feature_version, n.entity_type, n.entity_id, n.event_timestamp, n.ingest_seq, n.value,
         n.event_id, ${tileSql("n.event_timestamp", "s.step")} AS tile
  FROM ins n JOIN steps s USING (feature_id, feature_version)
  WHERE n.value_type <> 'retracted'
), added AS (
  SELECT t.feature_id, t.feature_version, t.entity_type, t.entity_id, t.tile, t.step, ${tileColumnsSql("o")}
  FROM touched t JOIN own o
    ON o.feature_id = t.feature_id AND o.feature_version = t.feature_version AND o.entity_type = t.entity_type
   AND o.entity_id = t.entity_id AND o.tile = t.tile
  WHERE NOT t.refold
  GROUP BY 1, 2, 3, 4, 5, 6
), added_tiles AS (
  ${upsertTilesSql(
    `SELECT $2::uuid, a.feature_id, a.feature_version, a.entity_type, a.entity_id, a.tile,
            to_timestamp(a.tile * a.step), a.n, a.sum, a.min, a.max, a.first_ms, a.first_seq, a.first_json,
            a.last_ms, a.last_seq, a.last_json, r.revision
     FROM added a JOIN revisions r USING (feature_id, feature_version, entity_id)`,
    true,
  )}
), committed AS (
  SELECT t.feature_id, t.feature_version, t.entity_id, t.tile, c.event_timestamp, c.ingest_seq, c.value, c.event_id
  FROM touched t CROSS JOIN LATERAL ${currentEventsSql(`v.tenant_id = $2 AND v.feature_id = t.feature_id
    AND v.feature_version = t.feature_version AND v.entity_type = t.entity_type AND v.entity_id = t.entity_id
    AND v.event_timestamp > to_timestamp((t.tile - 1) * t.step) AND v.event_timestamp <= to_timestamp(t.tile * t.step)`)} c
  WHERE t.refold
), refold_events AS (
  -- Committed events this statement does not replace (a hashed anti-join: ids are never ''),
  -- the statement's own events, and each refolded tile once without an event, so a tile
  -- left empty folds to n = 0 instead of vanishing.
  SELECT c.feature_id, c.feature_version, c.entity_id, c.tile, c.event_timestamp, c.ingest_seq, c.value
  FROM committed c
  WHERE NOT EXISTS (SELECT 1 FROM ins n
                    WHERE n.feature_id = c.feature_id AND n.feature_version = c.feature_version
                      AND n.entity_id = c.entity_id AND n.event_timestamp = c.event_timestamp
                      AND COALESCE(n.event_id, '') = COALESCE(c.event_id, ''))
  UNION ALL
  SELECT o.feature_id, o.feature_version, o.entity_id, o.tile, o.event_timestamp, o.ingest_seq, o.value
  FROM own o JOIN touched t
    ON o.feature_id = t.feature_id AND o.feature_version = t.feature_version AND o.entity_type = t.entity_type
   AND o.entity_id = t.entity_id AND o.tile = t.tile
  WHERE t.refold
  UNION ALL
  SELECT feature_id, feature_version, entity_id, tile, NULL, NULL, NULL FROM touched WHERE refold
), refolded AS (
  SELECT e.feature_id, e.feature_version, e.entity_id, e.tile, ${tileColumnsSql("e")}
  FROM refold_events e GROUP BY 1, 2, 3, 4
), refolded_tiles AS (
  ${upsertTilesSql(
    `SELECT $2::uuid, f.feature_id, f.feature_version, t.entity_type, f.entity_id, f.tile,
            to_timestamp(f.tile * t.step), f.n, f.sum, f.min, f.max, f.first_ms, f.first_seq, f.first_json,
            f.last_ms, f.last_seq, f.last_json, r.revision
     FROM refolded f
     JOIN touched t USING (feature_id, feature_version, entity_id, tile)
     JOIN revisions r USING (feature_id, feature_version, entity_id)`,
    false,
  )}
)
SELECT (SELECT count(*) FILTER (WHERE NOT same) FROM judged)::int AS offline_inserted,
       (SELECT count(*) FILTER (WHERE existed AND NOT same) FROM judged)::int AS restated,
       (SELECT count(*) FILTER (WHERE same) FROM judged)::int AS unchanged,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object(
          'field', t.feature_id || '@' || t.feature_version, 'entity_id', t.entity_id, 'tile', t.tile::text,
          'revision', r.revision::text, 'n', t.n, 'sum', t.sum, 'min', t.min, 'max', t.max,
          'first_ms', t.first_ms, 'first_seq', t.first_seq, 'first_json', t.first_json,
          'last_ms', t.last_ms, 'last_seq', t.last_seq, 'last_json', t.last_json)), '[]')
        FROM (SELECT * FROM added_tiles UNION ALL SELECT * FROM refolded_tiles) t
        JOIN revisions r USING (feature_id, feature_version, entity_id)) AS tiles`;

/**
 * The locks of a push, in one order so two pushes cannot deadlock: each feature version's
 * lock shared (a materialization unit of that version takes it alone, so its refold of the
 * tiles and a push's never interleave), then each (feature version, entity)'s alone.
 */
const lockSql = `
SELECT (SELECT count(pg_advisory_xact_lock_shared(k)) FROM (
          SELECT DISTINCT hashtextextended(x, 0) AS k FROM unnest($1::text[]) AS x ORDER BY 1) versions)
     + (SELECT count(pg_advisory_xact_lock(k)) FROM (
          SELECT DISTINCT hashtextextended(x, 0) AS k FROM unnest($2::text[]) AS x ORDER BY 1) entities)`;

/** The advisory lock key of a feature version's tiles (hashtextextended of it, in SQL). */
export const versionLockKey = (tenantId: string, field: string) => `tiles:${tenantId}:${field}`;

export async function writeEvents(ctx: TenantContext, writes: readonly EventWrite[]): Promise<WriteResult> {
  if (writes.length === 0)
    return { offlineInserted: 0, restated: 0, unchanged: 0, onlineUpdated: 0, cache: "disabled" };
  // Later rows of a request are later ingestions: only the last of each event counts.
  const last = new Map<string, EventWrite>();
  for (const w of writes) {
    const key = identity(w);
    last.delete(key);
    last.set(key, w);
  }
  const rows = [...last.values()].map((w, ord) => ({
    ord,
    feature_id: w.feature.id,
    feature_version: w.feature.version,
    entity_type: w.entityType,
    entity_id: w.entityId,
    event_id: w.eventId,
    event_timestamp: isoFromMs(w.eventMs),
    value: w.value,
    step: w.feature.window!.intervalSeconds,
  }));
  const versionKeys = [...new Set(writes.map((w) => versionLockKey(ctx.tenantId, w.feature.field)))];
  const lockKeys = [...new Set(rows.map((r) => `${ctx.tenantId}:${r.feature_id}@${r.feature_version}:${r.entity_id}`))];
  let result: Record<string, unknown>[] | undefined;
  try {
    [, result] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql.query(lockSql, [versionKeys, lockKeys]),
      sql.query(writeEventsSql, [JSON.stringify(rows), ctx.tenantId]),
    ]);
  } catch (error) {
    // The outcome is unknown: the tiles may now be behind Postgres. Drop them (reads refill).
    if (isServiceUnavailable(error) && !neverReachedDatabase(error)) await invalidateTiles(ctx, writes);
    throw error;
  }
  const row = result![0]!;
  const duplicates = writes.length - last.size;
  const counts = {
    offlineInserted: Number(row.offline_inserted),
    restated: Number(row.restated),
    unchanged: Number(row.unchanged) + duplicates,
  };

  const store = connectOnlineStore(ctx.env);
  if (!store.enabled) return { ...counts, onlineUpdated: 0, cache: "disabled" };
  const features = new Map(writes.map((w) => [w.feature.field, w.feature]));
  const now = Date.now();
  const byKey = new Map<string, TileWrite & { tiles: { id: number; encoded: string }[] }>();
  let onlineUpdated = 0;
  for (const t of row.tiles as Record<string, unknown>[]) {
    const feature = features.get(t.field as string)!;
    if (!feature.onlineEnabled) continue;
    const horizon = onlineHorizon(now, feature.window!);
    const id = Number(t.tile);
    // Late events before the online window stay offline.
    if (id < horizon) continue;
    const key = `${t.field}\u0000${t.entity_id}`;
    let write = byKey.get(key);
    if (!write) {
      write = {
        mode: "push",
        groupId: feature.groupId,
        field: t.field as string,
        entityId: t.entity_id as string,
        revision: Number(t.revision),
        horizon,
        maxTiles: windowTileCount(feature.window!),
        tiles: [],
      };
      byKey.set(key, write);
    }
    write.tiles.push({ id, encoded: encodeTile(write.revision, Number(t.n) ? tileFromRow(t) : null) });
    onlineUpdated++;
  }
  try {
    await store.writeTiles(ctx.tenantId, [...byKey.values()], 2000);
    return { ...counts, onlineUpdated, cache: "written" };
  } catch (error) {
    // Postgres has the events; the tiles may be behind. Drop them so reads refill (if Redis
    // is back); otherwise they expire with the cache's lifetime.
    console.warn("redis tile write failed after the postgres write:", (error as Error).message);
    await invalidateTiles(ctx, [...last.values()]);
    return { ...counts, onlineUpdated: 0, cache: "unavailable" };
  }
}

/**
 * Drops the tile sets of these writes' (feature version, entity) from the online store; when
 * Redis cannot be reached, records them for the cron worker's cache repair.
 */
export async function invalidateTiles(ctx: TenantContext, writes: readonly EventWrite[]): Promise<void> {
  const store = connectOnlineStore(ctx.env);
  const pairs = writes
    .filter((w) => w.feature.onlineEnabled)
    .map((w) => ({ groupId: w.feature.groupId, field: w.feature.field, entityId: w.entityId }));
  try {
    await store.writeTiles(ctx.tenantId, tileInvalidations(pairs), 2000);
  } catch (error) {
    console.warn("could not drop tiles after a failed write; recording a cache repair:", (error as Error).message);
    const byFeature = new Map<string, CacheRepair>();
    for (const w of writes) {
      if (!w.feature.onlineEnabled) continue;
      const repair = byFeature.get(w.feature.field) ?? {
        featureId: w.feature.id,
        version: w.feature.version,
        groupId: w.feature.groupId,
        embedding: false,
        seqLow: 0,
        seqHigh: 0,
        tileEntities: [],
      };
      repair.tileEntities!.push(w.entityId);
      byFeature.set(w.feature.field, repair);
    }
    await recordCacheRepairs(ctx, [...byFeature.values()]).catch((e) =>
      console.error("could not record a cache repair; tiles may lag until the cache expires:", e),
    );
  }
}
