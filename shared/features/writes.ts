// Writing feature values: offline history once per (feature, entity, event time), online
// latest value with newest-event-wins in Postgres (conditional upsert) and then in Redis
// (the online store's newest-wins write). Used by push ingestion and by materialization.
import { isServiceUnavailable, neverReachedDatabase } from "#shared/db/pg-errors.ts";
import { type TenantContext, withTenantSql } from "#shared/db/tenant.ts";
import { type CacheRepair, recordCacheRepairs } from "#shared/online-store/cache-repair.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";
import type { CellWrite } from "#shared/online-store/store.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { isoFromMs } from "./iso-time.ts";
import { sqlLiteral } from "./value-checks-sql.ts";
import type { ValueType } from "./values.ts";

export interface FeatureWrite {
  feature: ServedFeature;
  entityType: string;
  entityId: string;
  value: unknown;
  valueType: ValueType;
  /** Epoch milliseconds, with microseconds as the fraction (iso-time.ts). */
  eventMs: number;
}

export interface WriteResult {
  /** Values stored offline: new (feature version, entity, event time) keys and restatements. */
  offlineInserted: number;
  /** Of those, values that replaced a different value at the same event time. */
  restated: number;
  /** Values written again as they were stored: nothing to do. */
  unchanged: number;
  onlineUpdated: number;
  cache: "written" | "unavailable" | "disabled";
}

function expiresAtMs(w: FeatureWrite): number | null {
  return w.feature.ttlSeconds === null ? null : w.eventMs + w.feature.ttlSeconds * 1000;
}

// Each input row draws its ingestion sequence in input order, so later rows of a request
// are later ingestions. A row's previous value is the earlier row of the same key in this
// request, or else the latest stored one: a different value is a restatement (stored beside
// the old one), the same value is a no-op. JSON null travels as SQL NULL in
// jsonb_to_recordset and is stored as the JSON null it is.
const sequenced = (relation: string, ordered: boolean) => `
  SELECT r.*, nextval('ai_feature_ingest_seq') AS seq
  FROM (SELECT * FROM ${relation}${ordered ? " ORDER BY ord" : ""}) AS r`;

/**
 * How each row's stored history is found: one index probe per row (few rows, any keys), or
 * one hash join with the history of a single (feature version, event time), which is what a
 * materialization unit writes (millions of rows, one key prefix).
 */
export type HistoryLookup = { kind: "probe" } | { kind: "join"; featureId: string; version: number; eventTime: string };

const judged = (input: string, history: string, column: string, lookup: HistoryLookup, uniqueKeys: boolean) => {
  // With keys known to be unique no row has an earlier one in the input: no sort needed.
  const withPrevious = uniqueKeys
    ? `SELECT i.*, CASE WHEN false THEN i.${column} END AS prev, false AS has_prev FROM ${input} i`
    : `
    SELECT i.*, lag(i.${column}) OVER w AS prev, (lag(i.seq) OVER w) IS NOT NULL AS has_prev
    FROM ${input} i
    WINDOW w AS (PARTITION BY feature_id, feature_version, entity_type, entity_id, event_timestamp ORDER BY seq)`;
  const stored =
    lookup.kind === "probe"
      ? `LEFT JOIN LATERAL (
          SELECT 1 AS found, h.${column} FROM ${history} h
          WHERE NOT k.has_prev AND h.feature_id = k.feature_id AND h.feature_version = k.feature_version
            AND h.entity_type = k.entity_type AND h.entity_id = k.entity_id AND h.event_timestamp = k.event_timestamp
          ORDER BY h.ingest_seq DESC LIMIT 1
        ) stored ON true`
      : `LEFT JOIN (
          SELECT DISTINCT ON (h.entity_type, h.entity_id) 1 AS found, h.entity_type, h.entity_id, h.${column}
          FROM ${history} h
          WHERE h.feature_id = ${sqlLiteral(lookup.featureId)}::uuid AND h.feature_version = ${Number(lookup.version)}
            AND h.event_timestamp = ${sqlLiteral(lookup.eventTime)}::timestamptz
          ORDER BY h.entity_type, h.entity_id, h.ingest_seq DESC
        ) stored ON NOT k.has_prev AND stored.entity_type = k.entity_type AND stored.entity_id = k.entity_id`;
  return `
  SELECT k.*, (k.has_prev OR stored.found IS NOT NULL) AS existed,
         CASE WHEN k.has_prev THEN k.prev ELSE stored.${column} END AS previous
  FROM (${withPrevious}) k
  ${stored}`;
};

export interface WriteStatement {
  /** Scalar rows: ord, feature_id, feature_version, entity_type, entity_id, value (jsonb), value_type, event_timestamp, expires_at, online, offline. */
  scalars: string;
  /** Embedding rows: ord, feature_id, feature_version, entity_type, entity_id, embedding (text), event_timestamp, expires_at, online. */
  vectors: string;
  /** SQL expression of the tenant id. */
  tenant: string;
  /** Whether sequence numbers follow `ord` (a sort), or the relation's own order. */
  ordered: boolean;
  history: HistoryLookup;
  /** Each (feature version, entity type, entity, event time) occurs once in the input (checked by the caller): skips two sorts. */
  uniqueKeys?: boolean;
  /** CTEs placed before the write's own (each ending with a comma). */
  prelude?: string;
  /** Columns added to the answer, after the counts. */
  extraColumns?: string;
}

/**
 * The one statement every write path runs (push, materialization): offline history with the
 * restatement rules, the online tables with newest-wins, and the counts, in one round trip.
 * DISTINCT ON keeps the newest write per key, since one INSERT ... ON CONFLICT DO UPDATE
 * may not touch a row twice; the WHERE on the update makes an older (event time, ingestion)
 * lose against what is stored, whatever order writers commit in, and skips a write that
 * changes nothing. Answers offline_inserted, restated, unchanged, online_updated, seq_low,
 * seq_high and the extra columns.
 */
export function writeStatementSql(w: WriteStatement): string {
  const unique = w.uniqueKeys === true;
  const newestPerKey = unique ? "" : "DISTINCT ON (feature_id, feature_version, entity_type, entity_id)";
  const newestOrder = unique
    ? ""
    : "ORDER BY feature_id, feature_version, entity_type, entity_id, event_timestamp DESC, seq DESC";
  return `WITH ${w.prelude ?? ""} input AS MATERIALIZED (${sequenced(w.scalars, w.ordered)}
        ), vectors AS MATERIALIZED (${sequenced(w.vectors, w.ordered)}
        ), scalar_judged AS MATERIALIZED (
          ${judged("(SELECT * FROM input WHERE offline)", "ai_feature_values", "value", w.history, unique)}
        ), vector_judged AS MATERIALIZED (
          ${judged("(SELECT ord, feature_id, feature_version, entity_type, entity_id, embedding::vector AS embedding, event_timestamp, seq FROM vectors)", "ai_feature_embeddings", "embedding", w.history, unique)}
        ), offline AS (
          INSERT INTO ai_feature_values
            (tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type, event_timestamp, ingest_seq)
          SELECT ${w.tenant}, feature_id, feature_version, entity_type, entity_id, value, value_type,
                 event_timestamp, seq
          FROM scalar_judged WHERE NOT existed OR previous IS DISTINCT FROM value
        ), online AS (
          INSERT INTO ai_feature_online AS o (tenant_id, feature_id, feature_version, entity_type, entity_id, value,
                                             value_type, event_timestamp, expires_at, ingest_seq)
          SELECT ${newestPerKey}
                 ${w.tenant}, feature_id, feature_version, entity_type, entity_id, value,
                 value_type, event_timestamp, expires_at, seq
          FROM input WHERE online
          ${newestOrder}
          ON CONFLICT (tenant_id, feature_id, feature_version, entity_type, entity_id) DO UPDATE
            SET value = excluded.value, value_type = excluded.value_type, event_timestamp = excluded.event_timestamp,
                expires_at = excluded.expires_at, ingest_seq = excluded.ingest_seq, updated_at = now()
            WHERE (excluded.event_timestamp, excluded.ingest_seq) > (o.event_timestamp, o.ingest_seq)
              AND (excluded.event_timestamp > o.event_timestamp OR excluded.value IS DISTINCT FROM o.value)
          RETURNING 1
        ), embedding_history AS (
          INSERT INTO ai_feature_embeddings
            (tenant_id, feature_id, feature_version, entity_type, entity_id, embedding, event_timestamp, ingest_seq)
          SELECT ${w.tenant}, feature_id, feature_version, entity_type, entity_id, embedding, event_timestamp, seq
          FROM vector_judged WHERE NOT existed OR previous IS DISTINCT FROM embedding
        ), embedding_online AS (
          INSERT INTO ai_feature_embeddings_online AS o (tenant_id, feature_id, feature_version, entity_type, entity_id,
                                                        embedding, event_timestamp, expires_at, ingest_seq)
          SELECT ${newestPerKey}
                 ${w.tenant}, feature_id, feature_version, entity_type, entity_id, embedding::vector, event_timestamp,
                 expires_at, seq
          FROM vectors WHERE online
          ${newestOrder}
          ON CONFLICT (tenant_id, feature_id, feature_version, entity_type, entity_id) DO UPDATE
            SET embedding = excluded.embedding, event_timestamp = excluded.event_timestamp,
                expires_at = excluded.expires_at, ingest_seq = excluded.ingest_seq, updated_at = now()
            WHERE (excluded.event_timestamp, excluded.ingest_seq) > (o.event_timestamp, o.ingest_seq)
              AND (excluded.event_timestamp > o.event_timestamp OR excluded.embedding IS DISTINCT FROM o.embedding)
          RETURNING 1
        ), judged_all AS (
          SELECT existed, previous IS NOT DISTINCT FROM value AS same FROM scalar_judged
          UNION ALL
          SELECT existed, previous IS NOT DISTINCT FROM embedding FROM vector_judged
        ), counts AS (
          SELECT count(*) FILTER (WHERE NOT existed OR NOT same)::int AS offline_inserted,
                 count(*) FILTER (WHERE existed AND NOT same)::int AS restated,
                 count(*) FILTER (WHERE existed AND same)::int AS unchanged
          FROM judged_all
        ), drawn AS (
          SELECT min(seq) AS seq_low, max(seq) AS seq_high FROM (SELECT seq FROM input UNION ALL SELECT seq FROM vectors) s
        )
        SELECT counts.*,
               (SELECT count(*) FROM online)::int + (SELECT count(*) FROM embedding_online)::int AS online_updated,
               drawn.seq_low, drawn.seq_high${w.extraColumns ? `, ${w.extraColumns}` : ""}
        FROM counts, drawn`;
}

async function forgetCells(ctx: TenantContext, writes: readonly FeatureWrite[]): Promise<void> {
  const store = connectOnlineStore(ctx.env);
  const cells = writes
    .filter((w) => w.feature.onlineEnabled)
    .map((w) => ({ groupId: w.feature.groupId, entityId: w.entityId, field: w.feature.field }));
  await store.forget(ctx.tenantId, cells, 2000).catch((error) => {
    console.error("could not drop cached cells after an unknown write outcome:", (error as Error).message);
  });
}

/** Per feature version, the ingestion range of the cells a failed Redis write carried. */
function missedRanges(cells: readonly CellWrite[], writes: readonly FeatureWrite[]): CacheRepair[] {
  const features = new Map(writes.map((w) => [w.feature.field, w.feature]));
  const ranges = new Map<string, CacheRepair>();
  for (const cell of cells) {
    const feature = features.get(cell.field)!;
    const range = ranges.get(cell.field);
    if (range) {
      range.seqLow = Math.min(range.seqLow, cell.seq);
      range.seqHigh = Math.max(range.seqHigh, cell.seq);
    } else {
      ranges.set(cell.field, {
        featureId: feature.id,
        version: feature.version,
        groupId: feature.groupId,
        embedding: feature.dataType === "embedding",
        seqLow: cell.seq,
        seqHigh: cell.seq,
      });
    }
  }
  return [...ranges.values()];
}

export async function writeFeatureValues(ctx: TenantContext, writes: FeatureWrite[]): Promise<WriteResult> {
  if (writes.length === 0)
    return { offlineInserted: 0, restated: 0, unchanged: 0, onlineUpdated: 0, cache: "disabled" };
  const scalars: Record<string, unknown>[] = [];
  const embeddings: Record<string, unknown>[] = [];
  writes.forEach((w, ord) => {
    const common = {
      ord,
      feature_id: w.feature.id,
      feature_version: w.feature.version,
      entity_type: w.entityType,
      entity_id: w.entityId,
      event_timestamp: isoFromMs(w.eventMs),
      expires_at: w.feature.ttlSeconds === null ? null : isoFromMs(expiresAtMs(w)!),
      online: w.feature.onlineEnabled,
    };
    if (w.valueType === "embedding") embeddings.push({ ...common, embedding: JSON.stringify(w.value) });
    else scalars.push({ ...common, value: w.value, value_type: w.valueType, offline: w.feature.offlineEnabled });
  });

  const statement = writeStatementSql({
    scalars: `(
            SELECT ord, feature_id, feature_version, entity_type, entity_id, COALESCE(value, 'null'::jsonb) AS value,
                   value_type, event_timestamp, expires_at, online, offline
            FROM jsonb_to_recordset($1::jsonb) AS x(
              ord int, feature_id uuid, feature_version int, entity_type text, entity_id text, value jsonb,
              value_type text, event_timestamp timestamptz, expires_at timestamptz, online boolean, offline boolean)
          ) AS x`,
    vectors: `jsonb_to_recordset($2::jsonb) AS x(
            ord int, feature_id uuid, feature_version int, entity_type text, entity_id text, embedding text,
            event_timestamp timestamptz, expires_at timestamptz, online boolean)`,
    tenant: "$3::uuid",
    ordered: true,
    history: { kind: "probe" },
    extraColumns: `(SELECT COALESCE(jsonb_object_agg(ord, seq), '{}') FROM (SELECT ord, seq FROM input UNION ALL SELECT ord, seq FROM vectors) s) AS seqs`,
  });
  let counts: Record<string, unknown>[] | undefined;
  try {
    [counts] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql.query(statement, [JSON.stringify(scalars), JSON.stringify(embeddings), ctx.tenantId]),
    ]);
  } catch (error) {
    // Lost on the way back (reset, timeout), the transaction may have committed: drop these
    // cells from the cache so reads refill from whatever Postgres now holds, never keep
    // answering an older value. The caller answers 503 and the client retries (idempotent).
    if (isServiceUnavailable(error) && !neverReachedDatabase(error)) await forgetCells(ctx, writes);
    throw error;
  }
  const row = counts![0]!;
  const seqs = row.seqs as Record<string, string | number>;

  const store = connectOnlineStore(ctx.env);
  let cache: WriteResult["cache"] = "disabled";
  if (store.enabled) {
    const cells: CellWrite[] = [];
    writes.forEach((w, ord) => {
      if (!w.feature.onlineEnabled) return;
      cells.push({
        groupId: w.feature.groupId,
        entityId: w.entityId,
        field: w.feature.field,
        eventMs: w.eventMs,
        seq: Number(seqs[ord]),
        value: w.value,
        expiresAtMs: expiresAtMs(w),
      });
    });
    try {
      await store.write(ctx.tenantId, cells, 2000);
      cache = "written";
    } catch (error) {
      // Postgres has the value, but Redis may still hold an older one of these keys: record
      // what Redis missed for the cron worker to replay (cache-repair.ts).
      console.warn("redis write failed after the postgres write:", (error as Error).message);
      cache = "unavailable";
      await recordCacheRepairs(ctx, missedRanges(cells, writes)).catch((e) =>
        console.error("could not record a cache repair; Redis may answer an older value until its TTL:", e),
      );
    }
  }
  return {
    offlineInserted: Number(row.offline_inserted),
    restated: Number(row.restated),
    unchanged: Number(row.unchanged),
    onlineUpdated: Number(row.online_updated),
    cache,
  };
}
