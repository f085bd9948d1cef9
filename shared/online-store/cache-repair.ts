// Redis catching up with Postgres after a failed cache write. A push commits to Postgres
// first; when its Redis write then fails, Redis may still hold an older value of those keys
// and would answer it. The push records what it wrote (per feature version, the ingestion
// range) and the cron worker replays those online rows into Redis, newest-wins: a replay
// never undoes a newer value, and replaying twice changes nothing.
import { sql } from "drizzle-orm";
import { connectDatabase } from "#shared/db/client.ts";
import { type TenantContext, tenantContextFor, tenantRows } from "#shared/db/tenant.ts";
import type { Env } from "#shared/env.ts";
import { connectOnlineStore } from "./connect.ts";
import { cellFromOnlineRow, onlineCellColumns, onlineTable } from "./online-rows.ts";
import { tileInvalidations } from "./store.ts";

export interface CacheRepair {
  featureId: string;
  version: number;
  groupId: string;
  embedding: boolean;
  seqLow: number;
  seqHigh: number;
  /** An aggregated feature's entities whose tiles Redis may have wrong: dropped on replay (reads refill). */
  tileEntities?: string[];
}

/** Records ranges Redis missed. Called after the Postgres commit, so Postgres is likely up. */
export async function recordCacheRepairs(ctx: TenantContext, repairs: readonly CacheRepair[]): Promise<void> {
  if (repairs.length === 0) return;
  await tenantRows(ctx.db, ctx.tenantId, [
    sql`INSERT INTO ai_feature_cache_repairs
          (tenant_id, feature_id, feature_version, group_id, embedding, seq_low, seq_high, tile_entities)
        SELECT ${ctx.tenantId}::uuid, r.f, r.v, r.g, r.e, r.lo, r.hi, r.t
        FROM jsonb_to_recordset(${JSON.stringify(
          repairs.map((r) => ({
            f: r.featureId,
            v: r.version,
            g: r.groupId,
            e: r.embedding,
            lo: r.seqLow,
            hi: r.seqHigh,
            t: r.tileEntities ?? null,
          })),
        )}::jsonb) AS r(f uuid, v int, g uuid, e boolean, lo bigint, hi bigint, t text[])`,
  ]);
}

/** One tenant's waiting repairs, oldest first: replayed into Redis, then deleted. */
export async function repairTenantCache(ctx: TenantContext, limit = 100): Promise<number> {
  const store = connectOnlineStore(ctx.env);
  if (!store.enabled) return 0;
  const [repairs] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT id, feature_id, feature_version, group_id, embedding, seq_low, seq_high, tile_entities
        FROM ai_feature_cache_repairs ORDER BY id LIMIT ${limit}`,
  ]);
  let replayed = 0;
  for (const r of repairs ?? []) {
    if (r.tile_entities) {
      replayed += await dropTiles(ctx, r);
      continue;
    }
    // A push writes at most 1,000 rows per feature version: one read, one Redis write.
    const [, rows] = await tenantRows(ctx.db, ctx.tenantId, [
      sql`DELETE FROM ai_feature_cache_repairs WHERE id = ${r.id}`,
      sql`SELECT ${onlineCellColumns(Boolean(r.embedding))}
          FROM ${onlineTable(Boolean(r.embedding))}
          WHERE feature_id = ${r.feature_id} AND feature_version = ${r.feature_version}
            AND ingest_seq BETWEEN ${r.seq_low} AND ${r.seq_high}`,
    ]);
    const field = `${r.feature_id}@${r.feature_version}`;
    const cells = (rows ?? []).map((row) => cellFromOnlineRow(row, r.group_id as string, field));
    try {
      if (cells.length) await store.write(ctx.tenantId, cells, 10_000);
    } catch (error) {
      // Redis is still away: put the record back for the next run.
      await recordCacheRepairs(ctx, [
        {
          featureId: r.feature_id as string,
          version: Number(r.feature_version),
          groupId: r.group_id as string,
          embedding: Boolean(r.embedding),
          seqLow: Number(r.seq_low),
          seqHigh: Number(r.seq_high),
        },
      ]);
      throw error;
    }
    replayed += cells.length;
  }
  return replayed;
}

/** A tile repair: the entities' tile sets are dropped (reads refill them from Postgres). */
async function dropTiles(ctx: TenantContext, r: Record<string, unknown>): Promise<number> {
  const field = `${r.feature_id}@${r.feature_version}`;
  const entities = r.tile_entities as string[];
  const store = connectOnlineStore(ctx.env);
  // Dropped before the record goes: a failure leaves the record for the next run.
  await store.writeTiles(
    ctx.tenantId,
    tileInvalidations(entities.map((entityId) => ({ groupId: r.group_id as string, field, entityId }))),
    10_000,
  );
  await tenantRows(ctx.db, ctx.tenantId, [sql`DELETE FROM ai_feature_cache_repairs WHERE id = ${r.id}`]);
  return entities.length;
}

/** The cron task: every tenant with repairs waiting, until done or Redis fails again. */
export async function runCacheRepair(env: Env): Promise<{ tenants: number; replayed: number; failed: number }> {
  const { sql: query } = connectDatabase(env);
  const tenants = (await query`SELECT t FROM fs_cache_repair_tenants(1000) AS t`) as { t: string }[];
  let replayed = 0;
  let failed = 0;
  for (const { t } of tenants) {
    try {
      replayed += await repairTenantCache(tenantContextFor(env, t, { subject: "cron" }));
    } catch (error) {
      failed++;
      console.warn("cache repair failed for a tenant; it stays queued:", (error as Error).message);
    }
  }
  return { tenants: tenants.length, replayed, failed };
}
