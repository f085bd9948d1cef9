// Tenant transformation SQL: how it is bound, sandboxed and checked. It always runs as the
// transform role (reads only the source tables, under RLS for one tenant, cannot call
// set_config), read-only, with a statement timeout, and with now() meaning the window's end.
import type { NeonQueryPromise } from "@neondatabase/serverless";
import type { DatabaseHandle, SqlClient } from "#shared/db/client.ts";
import { pgError } from "#shared/db/pg-errors.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { AppError } from "#shared/http/errors.ts";

/** Clock functions that would ignore the window's end (asof.now() only overrides now()). */
const wallClock =
  /\b(current_timestamp|current_date|current_time|localtimestamp|localtime|transaction_timestamp|statement_timestamp|clock_timestamp|timeofday|pg_catalog\s*\.\s*now)\b/i;

/**
 * set_config is refused to the transform role at run time anyway (no EXECUTE); naming it
 * is never legitimate, so it is refused when saved too, where planning alone cannot see it.
 */
const forbidden = /\b(set_config)\s*\(/i;

export type WindowParameter = "start_time" | "end_time";

export interface BoundTransformation {
  /** SQL with :start_time / :end_time replaced by positional parameters. */
  text: string;
  /** Which window bound each positional parameter is, in order ($1 first). */
  parameters: WindowParameter[];
}

/**
 * Replaces the seed's named parameters by positional ones. `::` casts are left alone; the
 * values are always bound as parameters, never spliced into the text.
 */
export function bindTransformation(sqlText: string): BoundTransformation {
  const trimmed = sqlText.trim().replace(/;+\s*$/, "");
  if (wallClock.test(trimmed)) {
    const found = wallClock.exec(trimmed)?.[1];
    throw new AppError(
      "UNPROCESSABLE",
      `transformationSql uses ${found}, which ignores the materialization window; use NOW() (it means the window's end)`,
      [{ path: "transformationSql", message: `${found} is not allowed` }],
    );
  }
  const refused = forbidden.exec(trimmed)?.[1];
  if (refused) {
    throw new AppError(
      "UNPROCESSABLE",
      `transformationSql may not call ${refused}: permission denied for function ${refused}`,
      [{ path: "transformationSql", message: `${refused} is not allowed` }],
    );
  }
  // Only the parameters the SQL uses are bound: Postgres refuses unused ones.
  const parameters: WindowParameter[] = [];
  const text = trimmed.replace(/(?<!:):(start_time|end_time)\b/g, (_match, name: WindowParameter) => {
    if (!parameters.includes(name)) parameters.push(name);
    return `$${parameters.indexOf(name) + 1}::timestamptz`;
  });
  return { text, parameters };
}

/** The values of a bound transformation's parameters for one window. */
export function windowValues(bound: BoundTransformation, start: Date, end: Date): string[] {
  return bound.parameters.map((p) => (p === "start_time" ? start : end).toISOString());
}

export interface SandboxOptions {
  /** What now() returns inside the transformation (the window's end). */
  asOf: Date;
  statementTimeoutMs: number;
}

/**
 * Runs `build`'s statements in the transformation sandbox: a read-only tenant transaction
 * (through the tenant door, with fs.as_of = the window's end) that drops to the transform
 * role with a statement timeout and asof.now() first in the search path. One row array
 * (or full result) per built statement.
 */
export async function inSandbox(
  db: DatabaseHandle,
  tenantId: string,
  options: SandboxOptions,
  build: (sql: SqlClient) => NeonQueryPromise<false, false>[],
): Promise<unknown[]> {
  const results = await withTenantSql(
    db,
    tenantId,
    (sql) => [
      sql.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(options.statementTimeoutMs))}`),
      sql`SET LOCAL ROLE fs_transform`,
      sql`SET LOCAL search_path = asof, pg_catalog, public`,
      ...build(sql),
    ],
    { readOnly: true, settings: { "fs.as_of": options.asOf.toISOString() } },
  );
  return results.slice(3);
}

/** The rows a transformation gives for one window, computed in the sandbox. */
export async function runTransformation(
  db: DatabaseHandle,
  tenantId: string,
  sqlText: string,
  window: { start: Date; end: Date },
  statementTimeoutMs: number,
): Promise<Record<string, unknown>[]> {
  const bound = bindTransformation(sqlText);
  const [rows] = await inSandbox(db, tenantId, { asOf: window.end, statementTimeoutMs }, (sql) => [
    sql.query(bound.text, windowValues(bound, window.start, window.end)),
  ]);
  return rows as Record<string, unknown>[];
}

const probePrefix = "SELECT * FROM (\n";

export interface PlannedColumn {
  name: string;
  dataTypeID: number;
}

/**
 * Plans the transformation without running it: it is wrapped as
 * `SELECT * FROM (<sql>) WHERE false`, which Postgres parses, checks (permissions and RLS
 * included) and plans, then answers with no rows and the result's columns. A failure is a
 * 422 carrying Postgres' own message.
 */
export async function checkTransformation(
  db: DatabaseHandle,
  tenantId: string,
  sqlText: string,
): Promise<PlannedColumn[]> {
  const bound = bindTransformation(sqlText);
  const now = new Date();
  let fields: PlannedColumn[];
  try {
    const [planned] = await inSandbox(db, tenantId, { asOf: now, statementTimeoutMs: 2000 }, (sql) => [
      // fullResults: the columns are what we are after.
      sql.query(
        `${probePrefix}${bound.text}\n) AS transformation WHERE false`,
        windowValues(bound, new Date(now.getTime() - 86_400_000), now),
        { fullResults: true },
      ) as unknown as NeonQueryPromise<false, false>,
    ]);
    fields = (planned as { fields: PlannedColumn[] }).fields;
  } catch (error) {
    const pg = pgError(error);
    if (!pg) throw error;
    const position = pg.position !== undefined ? pg.position - probePrefix.length : undefined;
    throw new AppError("UNPROCESSABLE", `transformationSql does not plan: ${pg.message}`, [
      {
        path: "transformationSql",
        message: pg.message,
        postgresCode: pg.code,
        ...(position !== undefined && position > 0 ? { position } : {}),
      },
    ]);
  }
  const names = fields.map((f) => f.name);
  const missing = ["entity_id", "value"].filter((n) => !names.includes(n));
  const duplicated = names.filter((n, i) => names.indexOf(n) !== i);
  if (missing.length || duplicated.length) {
    const message = missing.length
      ? `transformationSql must return columns entity_id and value; missing ${missing.join(", ")} (got ${names.join(", ") || "none"})`
      : `transformationSql returns column ${duplicated[0]} more than once`;
    throw new AppError("UNPROCESSABLE", message, [{ path: "transformationSql", message }]);
  }
  return fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID }));
}
