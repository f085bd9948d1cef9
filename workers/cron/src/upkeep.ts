// Partition upkeep (the seed's create_feature_partition, plus retention), TTL expiry of
// the online tables, and the per-feature HNSW indexes of embedding search. Both are idempotent and safe to run concurrently (advisory lock,
// SKIP LOCKED), through SECURITY DEFINER functions: the app role cannot do more.
import { sql } from "drizzle-orm";
import { connectDatabase } from "#shared/db/client.ts";
import type { Env } from "#shared/env.ts";

export async function runPartitionUpkeep(env: Env, options: { monthsAhead?: number; retentionMonths?: number } = {}) {
  const { db } = connectDatabase(env);
  const created = await db.execute(sql`SELECT create_feature_partition(${options.monthsAhead ?? 3}) AS name`);
  const dropped = await db.execute(sql`SELECT drop_old_feature_partitions(${options.retentionMonths ?? 24}) AS name`);
  return {
    created: created.rows.map((r) => r.name as string),
    dropped: dropped.rows.map((r) => r.name as string),
  };
}

/** Deletes expired online rows in batches until none are left or the budget is spent. */
export async function runTtlExpiry(env: Env, options: { batchSize?: number; budgetMs?: number } = {}) {
  const { db } = connectDatabase(env);
  const batch = options.batchSize ?? 5000;
  const deadline = Date.now() + (options.budgetMs ?? 20_000);
  let deleted = 0;
  for (;;) {
    const result = await db.execute(sql`SELECT expire_online_values(${batch}) AS n`);
    const n = Number(result.rows[0]!.n);
    deleted += n;
    if (n < batch || Date.now() > deadline) break;
  }
  return { deleted };
}

export interface SearchIndexBuilt {
  index: string;
  featureId: string;
  featureVersion: number;
  dimension: number;
  vectors: number;
  ms: number;
}

/**
 * Gives every embedding feature version with more than `minRows` online vectors its own HNSW
 * index (migration 0016), one build per call so that the lock blocking writes to the table
 * lasts one build, largest first, until none is missing or the budget is spent; drops the
 * indexes of feature versions left without vectors.
 */
export async function runSearchIndexUpkeep(
  env: Env,
  options: { minRows: number; budgetMs?: number /** Only this feature's versions. */; featureId?: string },
) {
  const { db } = connectDatabase(env);
  const deadline = Date.now() + (options.budgetMs ?? 60_000);
  const built: SearchIndexBuilt[] = [];
  const dropped: string[] = [];
  while (Date.now() < deadline) {
    const started = Date.now();
    const result = await db.execute(
      sql`SELECT * FROM ensure_feature_search_index(${options.minRows}, ${options.featureId ?? null}::uuid)`,
    );
    const row = result.rows[0];
    if (!row) break;
    dropped.push(...((row.dropped as string[] | null) ?? []));
    if (!row.index_name) break;
    built.push({
      index: row.index_name as string,
      featureId: row.feature_id as string,
      featureVersion: Number(row.feature_version),
      dimension: Number(row.dimension),
      vectors: Number(row.vectors),
      ms: Date.now() - started,
    });
  }
  return { built, dropped };
}
