// Postgres through the Neon serverless driver. Every tenant query goes through withTenant:
// one HTTP round trip that runs set_config('app.tenant_id', ...) and the queries in one
// transaction, so RLS sees the token's tenant and nothing else.
import { type NeonQueryFunction, type NeonQueryPromise, neon, neonConfig } from "@neondatabase/serverless";
import { type SQL, sql } from "drizzle-orm";
import type { BatchItem, BatchResponse } from "drizzle-orm/batch";
import { drizzle, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import type { Env } from "#shared/env.ts";
import * as schema from "./schema.ts";

export type Database = NeonHttpDatabase<typeof schema>;
export type SqlClient = NeonQueryFunction<false, false>;

export interface DatabaseHandle {
  db: Database;
  sql: SqlClient;
}

/**
 * Points the Neon driver at a non-Neon endpoint when configured (the local stack).
 * In production both settings are unset and the driver talks to Neon directly.
 */
function configureNeon(env: Env): void {
  if (env.NEON_FETCH_ENDPOINT) neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
  if (env.NEON_WS_PROXY) {
    const proxy = env.NEON_WS_PROXY;
    neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    // The local proxy speaks plain password auth, which pipelined connect cannot do.
    neonConfig.pipelineConnect = false;
  }
}

const handles = new WeakMap<Env, DatabaseHandle>();

export function connectDatabase(env: Env): DatabaseHandle {
  const cached = handles.get(env);
  if (cached) return cached;
  configureNeon(env);
  const client = neon(env.DATABASE_URL);
  const handle = { db: drizzle({ client, schema }), sql: client };
  handles.set(env, handle);
  return handle;
}

const setTenant = (tenantId: string) => sql`SELECT set_config('app.tenant_id', ${tenantId}, true)`;

/** Runs drizzle queries as `tenantId` under RLS, in one transaction and one round trip. */
export async function withTenant<T extends readonly [BatchItem<"pg">, ...BatchItem<"pg">[]]>(
  handle: DatabaseHandle,
  tenantId: string,
  build: (db: Database) => T,
): Promise<BatchResponse<T>> {
  const queries = build(handle.db);
  const [, ...results] = await handle.db.batch([handle.db.execute(setTenant(tenantId)), ...queries]);
  return results as BatchResponse<T>;
}

/**
 * The same with raw SQL, for queries that read better as SQL (point-in-time joins,
 * conditional upserts). Returns one row array per query.
 */
export async function withTenantSql(
  handle: DatabaseHandle,
  tenantId: string,
  build: (sqlClient: SqlClient) => NeonQueryPromise<false, false>[],
  options: { readOnly?: boolean } = {},
): Promise<Record<string, unknown>[][]> {
  const client = handle.sql;
  const queries = build(client);
  const results = await client.transaction(
    [client`SELECT set_config('app.tenant_id', ${tenantId}, true)`, ...queries],
    options.readOnly ? { readOnly: true, isolationLevel: "RepeatableRead" } : {},
  );
  return (results as Record<string, unknown>[][]).slice(1);
}

/** drizzle `sql` fragments (composable, parameterised) as the tenant; one row array per query. */
export async function tenantRows(
  handle: DatabaseHandle,
  tenantId: string,
  queries: readonly SQL[],
): Promise<Record<string, unknown>[][]> {
  const [first, ...rest] = queries;
  if (!first) return [];
  const results = (await withTenant(handle, tenantId, (db) => [
    db.execute(first),
    ...rest.map((q) => db.execute(q)),
  ])) as unknown as { rows: Record<string, unknown>[] }[];
  return results.map((r) => r.rows);
}
