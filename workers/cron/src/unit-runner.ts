// One materialization unit (one window × one feature version), set-based: the data never
// crosses the isolate except on its way to Redis, in pages.
//   1. The transformation runs in the sandbox (read-only, transform role, statement timeout,
//      NOW() = the window's end) and its rows go into a temporary table of this connection.
//   2. One transaction checks every row in SQL (value-checks-sql.ts), counts failures with
//      samples, writes offline history and online latest values with the restatement rules
//      (writes.ts), and marks the unit `written` with its counts: all of it or none of it,
//      so a unit killed at any point and retried never writes twice nor counts twice.
//   3. The online rows it wrote (found by its range of ingestion sequence numbers) go to
//      Redis in keyset pages, each under Neon's response and Upstash's request limits; the
//      page cursor is saved, so a retry resumes where the last attempt stopped.
import { sql } from "drizzle-orm";
import { TenantConnection, type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import { currentEventsSql, tileColumnsSql, upsertTilesSql } from "#shared/features/aggregates-sql.ts";
import { versionLockKey } from "#shared/features/events.ts";
import { bindTransformation, windowValues } from "#shared/features/transformation.ts";
import { checkedValuesSql, sqlLiteral } from "#shared/features/value-checks-sql.ts";
import { writeStatementSql } from "#shared/features/writes.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";
import {
  cellFromOnlineRow,
  onlineCellColumns,
  onlineTable,
  onlineValueText,
} from "#shared/online-store/online-rows.ts";
import { tileInvalidations } from "#shared/online-store/store.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { loadUnit, type UnitRow } from "./job-units.ts";

export interface UnitOptions {
  statementTimeoutMs: number;
  /** Bytes of online rows per Redis refresh page (each page: one Neon answer, a few Redis requests). */
  pageBytes?: number;
  /** Stop the Redis refresh once this many pages went (a consumer's subrequest budget); resumes later. */
  maxPages?: number;
  /**
   * Tests only: stop as if the isolate were killed at this point, or (terminate-backend) have
   * PostgreSQL kill the unit's connection as its write transaction starts, as
   * pg_terminate_backend from an operator or a failover would.
   */
  crashAt?: "after-stage" | "after-write" | "after-first-page" | "terminate-backend";
}

export type UnitResult =
  | { status: "done"; pages: number }
  | { status: "more"; pages: number }
  | { status: "skipped"; reason: string };

export class UnitCrash extends Error {
  override name = "UnitCrash";
}

const maxFailureSamples = 20;
/** A Neon answer is at most 10 MiB; pages stay well under it (JSON adds quoting per row). */
const defaultPageBytes = 1024 * 1024;

export async function runUnit(
  ctx: TenantContext,
  unit: UnitRow,
  feature: ServedFeature,
  options: UnitOptions,
): Promise<UnitResult> {
  let current = unit;
  if (current.status === "pending") {
    const written = await stageAndWrite(ctx, current, feature, options);
    // Another delivery wrote it meanwhile: its Redis refresh may not have finished (a dead
    // consumer), and refreshing again is harmless (newest-wins), so go on from its state.
    current = written ?? (await loadUnit(ctx, current.job_id, current.unit_index)) ?? current;
  }
  if (current.status !== "written") return { status: "skipped", reason: `unit is ${current.status}` };
  if (options.crashAt === "after-write") throw new UnitCrash("killed after the write");
  return refreshOnlineStore(ctx, current, feature, options);
}

async function stageAndWrite(
  ctx: TenantContext,
  unit: UnitRow,
  feature: ServedFeature,
  options: UnitOptions,
): Promise<UnitRow | null> {
  const bound = bindTransformation(feature.transformationSql ?? "");
  const window = { start: new Date(unit.window_start), end: new Date(unit.window_end) };
  // A name of its own: the embedded database (PGlite) shares one session among all
  // connections, so two units' temporary tables must not meet there.
  const stage = `pg_temp.fs_stage_${crypto.randomUUID().replace(/-/g, "")}`;
  let dropped = false;
  const connection = await TenantConnection.open(ctx);
  try {
    await connection.transaction(
      async (query) => {
        await query(
          `CREATE TEMP TABLE ${stage.slice("pg_temp.".length)} (ord BIGINT GENERATED ALWAYS AS IDENTITY, entity_id TEXT, raw JSONB)`,
        );
        await query(`GRANT INSERT ON ${stage} TO fs_transform`);
        // From here the transaction is read-only (a temporary table may still be written):
        // the tenant's SQL can change nothing, whatever it calls.
        await query("SET LOCAL transaction_read_only = on");
        await query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(options.statementTimeoutMs))}`);
        await query("SET LOCAL ROLE fs_transform");
        await query("SET LOCAL search_path = asof, pg_catalog, public");
        // A CTE, not a subquery: a data-modifying statement is then refused as a write
        // (read-only transaction) rather than as a syntax error.
        await query(
          `WITH transformation AS (${bound.text})
           INSERT INTO ${stage} (entity_id, raw)
           SELECT entity_id::text, to_jsonb(value) FROM transformation`,
          windowValues(bound, window.start, window.end),
        );
      },
      { settings: { "fs.as_of": window.end.toISOString() } },
    );
    if (options.crashAt === "after-stage") throw new UnitCrash("killed after staging");
    return await connection.transaction(async (query) => {
      if (options.crashAt === "terminate-backend") await query("SELECT pg_terminate_backend(pg_backend_pid())");
      // The unit's row lock serialises two deliveries of the same unit: the second finds it written.
      const [locked] = await query(
        "SELECT status FROM ai_feature_materialization_units WHERE job_id = $1 AND unit_index = $2 FOR UPDATE",
        [unit.job_id, unit.unit_index],
      );
      if (locked?.status !== "pending") return null;
      // An aggregated feature's tiles are refolded below: pushes of this version wait until
      // the unit commits (they take the same lock shared), so no refold loses the other's events.
      if (feature.window)
        await query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
          versionLockKey(ctx.tenantId, feature.field),
        ]);
      // The statement sorts and keeps the unit's rows (checks, restatement order, newest per
      // key): in memory rather than spilled to disk at the default 4 MB.
      await query("SET LOCAL work_mem = '64MB'");
      // A transformation usually gives each entity once: then the write needs no sort (one
      // hash aggregate here saves two sorts of every row there).
      const [repeats] = await query(
        `SELECT EXISTS (SELECT 1 FROM ${stage} GROUP BY entity_id HAVING count(*) > 1) AS repeated`,
      );
      const [counts] = await query(unitWriteSql(ctx.tenantId, feature, window.end, stage, !repeats!.repeated));
      await query(`DROP TABLE ${stage}`);
      dropped = true;
      const row = counts!;
      // An aggregated feature's rows are events: the tiles they lie in are refolded here, in
      // the same transaction, so training sets and reads that fold tiles see them.
      if (feature.window && row.seq_low !== null && row.seq_high !== null) {
        await query(unitTilesSql, [
          feature.id,
          feature.version,
          window.end.toISOString(),
          row.seq_low,
          row.seq_high,
          Math.ceil(window.end.getTime() / 1000 / feature.window.intervalSeconds),
          feature.window.intervalSeconds,
          ctx.tenantId,
        ]);
      }
      // Without an offline store there is no history to compare with: every valid value is written.
      const written =
        feature.offlineEnabled || feature.dataType === "embedding"
          ? Number(row.offline_inserted)
          : Number(row.valid_rows);
      const [updated] = await query(
        `UPDATE ai_feature_materialization_units
         SET status = 'written', rows_written = $3, rows_unchanged = $4, rows_failed = $5,
             failure_samples = $6::jsonb, seq_low = $7, seq_high = $8, redis_after = NULL, updated_at = now()
         WHERE job_id = $1 AND unit_index = $2
         RETURNING *`,
        [
          unit.job_id,
          unit.unit_index,
          written,
          Number(row.unchanged),
          Number(row.failed),
          JSON.stringify(row.samples),
          row.seq_low,
          row.seq_high,
        ],
      );
      return updated as unknown as UnitRow;
    });
  } finally {
    // Gone with the connection on Neon; in a shared session (PGlite) a failed unit's must be dropped.
    if (!dropped) await connection.transaction(async (query) => query(`DROP TABLE IF EXISTS ${stage}`)).catch(() => {});
    await connection.close();
  }
}

/**
 * The tiles a unit's events lie in (all at the window's end: one tile per entity), refolded
 * from their current events. Parameters: feature, version, window end, the unit's sequence
 * range, the tile, the interval, the tenant.
 */
const unitTilesSql = `
WITH written AS (
  SELECT DISTINCT v.entity_type, v.entity_id FROM ai_feature_values v
  WHERE v.feature_id = $1 AND v.feature_version = $2 AND v.event_timestamp = $3::timestamptz
    AND v.ingest_seq BETWEEN $4 AND $5
), folded AS (
  SELECT w.entity_type, w.entity_id, f.*
  FROM written w CROSS JOIN LATERAL (
    SELECT ${tileColumnsSql("c")}
    FROM ${currentEventsSql(`v.feature_id = $1 AND v.feature_version = $2 AND v.entity_type = w.entity_type
      AND v.entity_id = w.entity_id AND v.event_timestamp > to_timestamp(($6::bigint - 1) * $7::int)
      AND v.event_timestamp <= to_timestamp($6::bigint * $7::int)`)} c
  ) f
)
${upsertTilesSql(
  `SELECT $8::uuid, $1::uuid, $2::int, entity_type, entity_id, $6::bigint, to_timestamp($6::bigint * $7::int),
          n, sum, min, max, first_ms, first_seq, first_json, last_ms, last_seq, last_json, $5::bigint
   FROM folded`,
  false,
)}`;

/** The write statement of a unit: the staged rows checked, the valid ones written, failures counted with samples. */
function unitWriteSql(
  tenantId: string,
  feature: ServedFeature,
  eventTime: Date,
  stage: string,
  uniqueKeys: boolean,
): string {
  const expires =
    feature.ttlSeconds === null
      ? "NULL"
      : sqlLiteral(new Date(eventTime.getTime() + feature.ttlSeconds * 1000).toISOString());
  const common = `ord, ${sqlLiteral(feature.id)}::uuid AS feature_id, ${Number(feature.version)} AS feature_version,
      ${sqlLiteral(feature.entityType)}::text AS entity_type, entity_id,`;
  const timing = `${sqlLiteral(eventTime.toISOString())}::timestamptz AS event_timestamp, ${expires}::timestamptz AS expires_at,
      ${feature.onlineEnabled} AS online`;
  const embedding = feature.dataType === "embedding";
  const valueType = feature.dataType === "array" ? "vector" : "scalar";
  const scalars = `(SELECT ${common} checked AS value, '${valueType}'::text AS value_type, ${timing},
      ${feature.offlineEnabled} AS offline FROM valid WHERE ${!embedding}) AS x`;
  const vectors = `(SELECT ${common} checked::text AS embedding, ${timing} FROM valid WHERE ${embedding}) AS x`;
  return writeStatementSql({
    prelude: `checked AS MATERIALIZED (${checkedValuesSql(feature, `(SELECT ord, entity_id, raw FROM ${stage})`)}),
      valid AS (SELECT * FROM checked WHERE reason IS NULL AND entity_id IS NOT NULL AND entity_id <> ''),
      failures AS (
        SELECT ord, COALESCE(entity_id, '') AS entity_id,
               CASE WHEN entity_id IS NULL OR entity_id = '' THEN 'entity_id is null' ELSE reason END AS reason
        FROM checked WHERE entity_id IS NULL OR entity_id = '' OR reason IS NOT NULL
      ),`,
    scalars,
    vectors,
    tenant: `${sqlLiteral(tenantId)}::uuid`,
    // The stage is read in insertion order: sequence numbers follow the transformation's rows.
    ordered: false,
    uniqueKeys,
    history: { kind: "join", featureId: feature.id, version: feature.version, eventTime: eventTime.toISOString() },
    extraColumns: `(SELECT count(*) FROM valid) AS valid_rows,
      (SELECT count(*) FROM failures) AS failed,
      (SELECT COALESCE(jsonb_agg(jsonb_build_object('feature', ${sqlLiteral(feature.qualifiedName)}, 'entityId', entity_id, 'reason', reason) ORDER BY ord), '[]')
       FROM (SELECT * FROM failures ORDER BY ord LIMIT ${maxFailureSamples}) f) AS samples`,
  });
}

/** A page of the online rows the unit wrote, in ingestion order, about `pageBytes` long. */
function onlinePage(unit: UnitRow, feature: ServedFeature, after: string, pageBytes: number) {
  const embedding = feature.dataType === "embedding";
  const valueText = onlineValueText(embedding);
  return sql`SELECT entity_id, value, event_ms, ingest_seq, expires_ms FROM (
      SELECT ${onlineCellColumns(embedding)},
             sum(octet_length(entity_id) + octet_length(${valueText}) + 80) OVER (ORDER BY ingest_seq) AS running,
             row_number() OVER (ORDER BY ingest_seq) AS n
      FROM ${onlineTable(embedding)}
      WHERE feature_id = ${feature.id} AND feature_version = ${feature.version}
        AND ingest_seq > ${after} AND ingest_seq <= ${unit.seq_high}
      ORDER BY ingest_seq LIMIT 100000
    ) page WHERE running <= ${pageBytes} OR n = 1 ORDER BY ingest_seq`;
}

/**
 * The entities an aggregated feature's unit stored events of (all at the window's end), a
 * page at a time: the offline rows, since a late event does not change the online row.
 */
function unitEventEntities(unit: UnitRow, feature: ServedFeature, after: string) {
  return sql`SELECT entity_id, ingest_seq FROM ai_feature_values
      WHERE feature_id = ${feature.id} AND feature_version = ${feature.version}
        AND event_timestamp = ${unit.window_end}::timestamptz
        AND ingest_seq > ${after} AND ingest_seq <= ${unit.seq_high}
      ORDER BY ingest_seq LIMIT 10000`;
}

/** The online rows the unit wrote, to Redis, in pages; the cursor is saved with each page. */
async function refreshOnlineStore(
  ctx: TenantContext,
  unit: UnitRow,
  feature: ServedFeature,
  options: UnitOptions,
): Promise<UnitResult> {
  const store = connectOnlineStore(ctx.env);
  let pages = 0;
  if (store.enabled && feature.onlineEnabled && unit.seq_low !== null && unit.seq_high !== null) {
    const pageBytes = options.pageBytes ?? defaultPageBytes;
    let after = unit.redis_after ?? String(BigInt(unit.seq_low) - 1n);
    for (;;) {
      if (options.maxPages !== undefined && pages >= options.maxPages) return { status: "more", pages };
      // Rows in ingestion order until the page's bytes are spent (always at least one row).
      const [, rows] = await tenantRows(ctx.db, ctx.tenantId, [
        sql`UPDATE ai_feature_materialization_units SET redis_after = ${after}, updated_at = now()
            WHERE job_id = ${unit.job_id} AND unit_index = ${unit.unit_index}`,
        feature.window ? unitEventEntities(unit, feature, after) : onlinePage(unit, feature, after, pageBytes),
      ]);
      if (!rows || rows.length === 0) break;
      if (feature.window) {
        // An aggregate's tiles are not computed here: the entities' tile sets are dropped and
        // the next read refills them from Postgres.
        const pairs = rows.map((r) => ({
          groupId: feature.groupId,
          field: feature.field,
          entityId: r.entity_id as string,
        }));
        await store.writeTiles(ctx.tenantId, tileInvalidations(pairs), 30_000);
      } else {
        const cells = rows.map((r) => cellFromOnlineRow(r, feature.groupId, feature.field));
        await store.write(ctx.tenantId, cells, 30_000, { maxRequestBytes: 2 * 1024 * 1024 });
      }
      after = String(rows.at(-1)!.ingest_seq);
      pages++;
      if (options.crashAt === "after-first-page") throw new UnitCrash("killed after the first page");
    }
  }
  await tenantRows(ctx.db, ctx.tenantId, [
    sql`UPDATE ai_feature_materialization_units SET status = 'done', updated_at = now()
        WHERE job_id = ${unit.job_id} AND unit_index = ${unit.unit_index} AND status = 'written'`,
  ]);
  return { status: "done", pages };
}
