// The registry's and jobs' list pages: rows in (created_at, id) order, a page of `limit`
// at a time, continued from the last row's key (never OFFSET: a page costs the same however
// deep it is, and rows created meanwhile neither repeat nor vanish).
import { type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import { decodeCursor, encodeCursor } from "#shared/http/pagination.ts";
import { type TenantContext, tenantRows } from "./tenant.ts";

const keyShape = z.tuple([z.iso.datetime({ offset: true, precision: 6 }), z.uuid()]);

export interface KeysetPageQuery {
  /** The table and its alias, e.g. `ai_feature_groups g`. */
  from: SQL;
  /** The alias, whose created_at and id order the rows. */
  alias: "g" | "d" | "j";
  /** The JSON of one row as the API answers it, e.g. `feature_group_json(g)`. */
  json: SQL;
  filters: SQL[];
  order: "newest first" | "oldest first";
  limit: number;
  cursor?: string | undefined;
}

export async function keysetPage<T extends { id: string }>(
  ctx: TenantContext,
  query: KeysetPageQuery,
): Promise<{ items: T[]; nextCursor: string | null }> {
  const t = sql.raw(query.alias);
  const newest = query.order === "newest first";
  const filters = [sql`true`, ...query.filters];
  if (query.cursor) {
    const [ts, id] = decodeCursor(query.cursor, keyShape);
    filters.push(
      newest
        ? sql`(${t}.created_at, ${t}.id) < (${ts}::timestamptz, ${id}::uuid)`
        : sql`(${t}.created_at, ${t}.id) > (${ts}::timestamptz, ${id}::uuid)`,
    );
  }
  const direction = sql.raw(newest ? "DESC" : "ASC");
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT ${query.json} AS json,
               to_char(${t}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_ts
        FROM ${query.from}
        WHERE ${sql.join(filters, sql` AND `)}
        ORDER BY ${t}.created_at ${direction}, ${t}.id ${direction}
        LIMIT ${query.limit + 1}`,
  ]);
  const page = (rows as unknown as { json: T; cursor_ts: string }[]).slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => r.json),
    nextCursor: rows!.length > query.limit && last ? encodeCursor([last.cursor_ts, last.json.id]) : null,
  };
}
