// The one door to a tenant's data. Every tenant transaction, over HTTP (one round trip) or
// over a WebSocket session, starts with set_config('app.tenant_id', …, true), written
// only here, so row-level security sees the token's tenant and nothing else. A single
// statement may instead go through fs_tenant_rows (migration 0019), which sets the same
// setting for that statement alone; it too is called only from here.

import { type NeonQueryPromise, Pool, type PoolClient } from "@neondatabase/serverless";
import type { SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { Env } from "#shared/env.ts";
import { connectDatabase, type DatabaseHandle, type SqlClient } from "./client.ts";

/** What a service function needs to act for one tenant, and nothing about HTTP. */
export interface TenantContext {
  env: Env;
  db: DatabaseHandle;
  tenantId: string;
  /** The token's `sub` (or the acting service), recorded as created_by. */
  subject: string | null;
  /** Work to finish after the response (ctx.waitUntil), e.g. cache writes. */
  defer: (work: Promise<unknown>) => void;
}

/** A tenant context outside a request (the cron worker, tests): deferred work just runs. */
export function tenantContextFor(
  env: Env,
  tenantId: string,
  options: { subject?: string | null; defer?: (work: Promise<unknown>) => void } = {},
): TenantContext {
  return {
    env,
    db: connectDatabase(env),
    tenantId,
    subject: options.subject ?? null,
    defer:
      options.defer ??
      ((work) => {
        work.catch((error) => console.error("deferred work failed", error));
      }),
  };
}

/**
 * The opening statement of a tenant transaction: the tenant, plus any transaction-local
 * settings a caller needs (the transformation sandbox's `fs.as_of`). Parameters: the
 * tenant first, then each setting's value.
 */
function openingStatement(tenantId: string, settings: Record<string, string> = {}) {
  const names = Object.keys(settings);
  const text = [
    "set_config('app.tenant_id', $1, true)",
    ...names.map((name, i) => `set_config(${quoteLiteral(name)}, $${i + 2}, true)`),
  ].join(", ");
  return { text: `SELECT ${text}`, params: [tenantId, ...names.map((n) => settings[n]!)] };
}

/** The same transaction-local settings for a transaction already open (a TenantSession's). */
export function localSettingsStatement(settings: Record<string, string>) {
  const names = Object.keys(settings);
  const text = names.map((name, i) => `set_config(${quoteLiteral(name)}, $${i + 1}, true)`).join(", ");
  return { text: `SELECT ${text}`, params: names.map((n) => settings[n]!) };
}

/** Planner settings a caller may change for its own transaction (never roles or paths). */
const plannerSettings = new Set([
  "enable_sort",
  "enable_indexscan",
  "enable_nestloop",
  "enable_seqscan",
  "jit",
  "work_mem",
]);

const quoteLiteral = (name: string) => {
  if (!plannerSettings.has(name) && !/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/.test(name))
    throw new Error(`not a custom or planner setting name: ${name}`);
  return `'${name}'`;
};

export interface TenantTransactionOptions {
  readOnly?: boolean;
  /** Transaction-local settings besides the tenant (custom `prefix.name` settings, plannerSettings). */
  settings?: Record<string, string>;
}

/**
 * Raw SQL as `tenantId` under RLS, in one transaction and one HTTP round trip. Returns one
 * row array per query.
 */
export async function withTenantSql(
  handle: DatabaseHandle,
  tenantId: string,
  build: (sqlClient: SqlClient) => NeonQueryPromise<false, false>[],
  options: TenantTransactionOptions = {},
): Promise<Record<string, unknown>[][]> {
  const client = handle.sql;
  const opening = openingStatement(tenantId, options.settings);
  const results = await client.transaction(
    [client.query(opening.text, opening.params), ...build(client)],
    options.readOnly ? { readOnly: true, isolationLevel: "RepeatableRead" } : {},
  );
  return (results as Record<string, unknown>[][]).slice(1);
}

/** A parameter of `tenantStatement`: sent as text, cast in the query (`$2::uuid`, `$4::int`). */
export type StatementParam = string | number | boolean | null;

/**
 * One statement as `tenantId` under RLS in a single Postgres round trip and no transaction
 * block, through `fs_tenant_rows` (migration 0019), which sets the tenant and the settings
 * for the statement's own implicit transaction. For short reads where the round trips of a
 * transaction (BEGIN, the opening statement, COMMIT) cost more than the query: at most 8
 * parameters, each cast in the query, and each row comes back as one JSON object, so
 * timestamps arrive as text and numbers as JSON numbers.
 */
export async function tenantStatement(
  handle: DatabaseHandle,
  tenantId: string,
  text: string,
  params: readonly StatementParam[] = [],
  options: Pick<TenantTransactionOptions, "settings"> = {},
): Promise<Record<string, unknown>[]> {
  const statement = tenantStatementSql(tenantId, text, params, options.settings);
  const rows = await handle.sql.query(statement.text, statement.params);
  return (rows as { row: Record<string, unknown> }[]).map((r) => r.row);
}

/** tenantStatement's one statement (each answer row is `{ row }`); exported so a test can run it inside a transaction of its own. */
export function tenantStatementSql(
  tenantId: string,
  text: string,
  params: readonly StatementParam[],
  settings: Record<string, string> = {},
) {
  for (const name of Object.keys(settings)) quoteLiteral(name);
  if (params.length > 8) throw new Error(`tenantStatement takes at most 8 parameters, got ${params.length}`);
  return {
    text: "SELECT fs_tenant_rows($1, $2, $3, $4) AS row",
    params: [tenantId, JSON.stringify(settings), text, params.map((p) => (p === null ? null : String(p)))],
  };
}

const dialect = new PgDialect();

/** drizzle `sql` fragments (composable, parameterised) as the tenant; one row array per query. */
export async function tenantRows(
  handle: DatabaseHandle,
  tenantId: string,
  queries: readonly SQL[],
): Promise<Record<string, unknown>[][]> {
  if (queries.length === 0) return [];
  return withTenantSql(handle, tenantId, (client) =>
    queries.map((q) => {
      const built = dialect.sqlToQuery(q);
      return client.query(built.sql, built.params);
    }),
  );
}

/**
 * A tenant transaction over the Neon WebSocket driver, for work that needs a session
 * (temporary tables, cursors): BEGIN, the tenant, then the caller's statements. close()
 * rolls back (nothing is kept) and ends the connection.
 */
export class TenantSession {
  private closed = false;

  private constructor(
    private readonly pool: Pool,
    readonly client: PoolClient,
  ) {}

  static async open(ctx: TenantContext, options: TenantTransactionOptions = {}): Promise<TenantSession> {
    const pool = new Pool({ connectionString: ctx.env.DATABASE_URL });
    pool.on("error", (error: Error) => console.error("tenant session pool error", error.message));
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
    client.on("error", (error: Error) => console.warn("tenant session connection lost:", error.message));
    const session = new TenantSession(pool, client);
    try {
      await client.query(options.readOnly ? "BEGIN READ ONLY" : "BEGIN");
      const opening = openingStatement(ctx.tenantId, options.settings);
      await client.query(opening.text, opening.params);
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.client.query("ROLLBACK");
    } catch {
      // The connection is gone; so is the transaction.
    }
    this.client.release();
    await this.pool.end().catch(() => {});
  }
}

/**
 * One Neon WebSocket connection for a series of tenant transactions that share session
 * state (a temporary table filled by one transaction and read by the next). Each
 * transaction starts with the tenant; close() ends the connection (temporary tables go
 * with it).
 */
export class TenantConnection {
  private constructor(
    private readonly pool: Pool,
    private readonly client: PoolClient,
    private readonly tenantId: string,
  ) {}

  static async open(ctx: TenantContext): Promise<TenantConnection> {
    const pool = new Pool({ connectionString: ctx.env.DATABASE_URL, max: 1 });
    pool.on("error", (error: Error) => console.error("tenant connection pool error", error.message));
    try {
      const client = await pool.connect();
      // A connection dropped between queries (a reset, pg_terminate_backend) fails the next
      // query; without a listener it would also surface as an uncaught error.
      client.on("error", (error: Error) => console.warn("tenant connection lost:", error.message));
      return new TenantConnection(pool, client, ctx.tenantId);
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
  }

  /** BEGIN, the tenant (and settings), `work`, COMMIT; ROLLBACK when `work` throws. */
  async transaction<T>(
    work: (query: (text: string, params?: unknown[]) => Promise<Record<string, unknown>[]>) => Promise<T>,
    options: TenantTransactionOptions = {},
  ): Promise<T> {
    const query = async (text: string, params: unknown[] = []) => (await this.client.query(text, params)).rows;
    await this.client.query(options.readOnly ? "BEGIN READ ONLY" : "BEGIN");
    try {
      const opening = openingStatement(this.tenantId, options.settings);
      await this.client.query(opening.text, opening.params);
      const result = await work(query);
      await this.client.query("COMMIT");
      return result;
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => {});
      throw error;
    }
  }

  async close(): Promise<void> {
    this.client.release();
    await this.pool.end().catch(() => {});
  }
}
