// The drizzle schema in shared/schema.ts must describe the database the migrations build:
// same tables, same columns, same types, nullability and generated columns.
import { is } from "drizzle-orm";
import { getTableConfig, PgTable } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import { ownerSql } from "#harness/stack.ts";
import * as schema from "#shared/db/schema.ts";

const tables: PgTable[] = (Object.values(schema) as unknown[]).filter((v): v is PgTable => is(v, PgTable));

function describeDrizzle(table: PgTable) {
  const config = getTableConfig(table);
  return config.columns
    .map((c) => ({
      column: c.name,
      type: c.getSQLType(),
      nullable: !c.notNull && !c.primary && !config.primaryKeys.some((pk) => pk.columns.includes(c)),
      generated: c.generated !== undefined,
    }))
    .sort((x, y) => x.column.localeCompare(y.column));
}

async function describeDatabase(tableName: string) {
  const rows = await ownerSql()`
    SELECT column_name AS column,
           CASE WHEN data_type = 'USER-DEFINED' THEN udt_name
                WHEN data_type = 'ARRAY' THEN format_type(('_' || ltrim(udt_name, '_'))::regtype, NULL)
                ELSE data_type END AS type,
           is_nullable = 'YES' AS nullable,
           is_generated = 'ALWAYS' AS generated
    FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name = ${tableName}
    ORDER BY column_name`;
  return rows.map((r) => ({ column: r.column, type: r.type, nullable: r.nullable, generated: r.generated }));
}

describe("drizzle schema vs. migrations", () => {
  it("covers every table of the database (partitions and bookkeeping aside)", async () => {
    const rows = await ownerSql()`
      SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND c.relname <> 'fs_schema_migrations'
      ORDER BY 1`;
    const inDrizzle = tables.map((t) => getTableConfig(t).name).sort();
    expect(inDrizzle).toEqual(rows.map((r) => r.relname));
  });

  it.each(tables.map((t) => [getTableConfig(t).name, t] as const))(
    "matches %s column by column",
    async (name, table) => {
      expect(describeDrizzle(table)).toEqual(await describeDatabase(name));
    },
  );
});
