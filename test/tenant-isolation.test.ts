// Row-level security through the real Neon HTTP driver, as the role the workers log in as.
import { beforeAll, describe, expect, it } from "vitest";
import { appDatabase, createTenant, ownerSql } from "#harness/stack.ts";
import { tenantTables } from "#shared/db/schema.ts";
import { tenantStatement, withTenantSql } from "#shared/db/tenant.ts";

const featureTables = [
  "ai_feature_groups",
  "ai_feature_definitions",
  "ai_feature_versions",
  "ai_feature_values",
  "ai_feature_embeddings",
  "ai_feature_online",
  "ai_feature_embeddings_online",
  "ai_feature_materialization_jobs",
] as const;
const sourceTables = ["tenants", "users", "ai_conversations", "ai_messages", "ai_feedback"] as const;

interface TenantRows {
  tenantId: string;
  groupId: string;
  featureId: string;
  userId: string;
}

/** Writes one row into every feature table as the app role, and source rows as the owner. */
async function writeEveryTable(label: string): Promise<TenantRows> {
  const tenantId = await createTenant(label);
  const groupId = crypto.randomUUID();
  const featureId = crypto.randomUUID();
  const now = new Date().toISOString();
  await withTenantSql(appDatabase(), tenantId, (sql) => [
    sql`INSERT INTO ai_feature_groups (id, tenant_id, name, display_name, entity_type)
        VALUES (${groupId}, ${tenantId}, 'user', 'User', 'user')`,
    sql`INSERT INTO ai_feature_definitions (id, tenant_id, group_id, name, display_name, data_type, embedding_dimension, source_type)
        VALUES (${featureId}, ${tenantId}, ${groupId}, 'embedding', 'Embedding', 'embedding', 3, 'stream')`,
    sql`INSERT INTO ai_feature_versions (tenant_id, feature_id, version, definition_snapshot)
        VALUES (${tenantId}, ${featureId}, 1, ${JSON.stringify({ label })})`,
    sql`INSERT INTO ai_feature_values (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp)
        VALUES (${tenantId}, ${featureId}, 'user', 'u-1', ${JSON.stringify(label)}, 'scalar', ${now})`,
    sql`INSERT INTO ai_feature_embeddings (tenant_id, feature_id, entity_type, entity_id, embedding, event_timestamp)
        VALUES (${tenantId}, ${featureId}, 'user', 'u-1', '[1,2,3]', ${now})`,
    sql`INSERT INTO ai_feature_online (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp)
        VALUES (${tenantId}, ${featureId}, 'user', 'u-1', ${JSON.stringify(label)}, 'scalar', ${now})`,
    sql`INSERT INTO ai_feature_embeddings_online (tenant_id, feature_id, entity_type, entity_id, embedding, event_timestamp)
        VALUES (${tenantId}, ${featureId}, 'user', 'u-1', '[1,2,3]', ${now})`,
    sql`INSERT INTO ai_feature_materialization_jobs (tenant_id, feature_group_id, job_type, start_time, end_time)
        VALUES (${tenantId}, ${groupId}, 'full', '2026-01-01', '2026-02-01')`,
  ]);
  // The app role has no write access to the platform's source tables: the owner seeds them.
  const owner = ownerSql();
  const userId = crypto.randomUUID();
  const conversationId = crypto.randomUUID();
  const messageId = crypto.randomUUID();
  await owner.transaction([
    owner`INSERT INTO users (id, tenant_id, email) VALUES (${userId}, ${tenantId}, ${`${label}@example.com`})`,
    owner`INSERT INTO ai_conversations (id, tenant_id, user_id, channel) VALUES (${conversationId}, ${tenantId}, ${userId}, 'web')`,
    owner`INSERT INTO ai_messages (id, tenant_id, conversation_id, role, content) VALUES (${messageId}, ${tenantId}, ${conversationId}, 'user', ${label})`,
    owner`INSERT INTO ai_feedback (tenant_id, user_id, conversation_id, message_id, rating) VALUES (${tenantId}, ${userId}, ${conversationId}, ${messageId}, 1)`,
  ]);
  return { tenantId, groupId, featureId, userId };
}

function tenantColumn(table: string) {
  return tenantTables[table as keyof typeof tenantTables].tenantColumn;
}

/** Every row of each table visible to `tenantId` ('' = no tenant set), as the app role. */
async function visibleToApp(tenantId: string) {
  const results = await withTenantSql(appDatabase(), tenantId, (sql) =>
    featureTables.map((t) => sql.query(`SELECT ${tenantColumn(t)}::text AS tenant FROM ${t}`)),
  );
  return Object.fromEntries(featureTables.map((t, i) => [t, results[i]!.map((r) => r.tenant)]));
}

/** The same for source tables, as the transform role that reads them. */
async function visibleToTransform(tenantId: string) {
  const results = await withTenantSql(appDatabase(), tenantId, (sql) => [
    sql`SET LOCAL ROLE fs_transform`,
    ...sourceTables.map((t) => sql.query(`SELECT ${tenantColumn(t)}::text AS tenant FROM ${t}`)),
  ]);
  return Object.fromEntries(sourceTables.map((t, i) => [t, results[i + 1]!.map((r) => r.tenant)]));
}

let a: TenantRows;
let b: TenantRows;

beforeAll(async () => {
  [a, b] = await Promise.all([writeEveryTable("tenant-a"), writeEveryTable("tenant-b")]);
});

describe("row-level security", () => {
  it("lets each tenant read back only its own rows of every feature table", async () => {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const seen = await visibleToApp(self.tenantId);
      for (const table of featureTables) {
        expect(seen[table], table).toContain(self.tenantId);
        expect(seen[table], table).not.toContain(other.tenantId);
        expect(new Set(seen[table]), table).toEqual(new Set([self.tenantId]));
      }
    }
  });

  it("lets the transform role read only the job's tenant in every source table", async () => {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const seen = await visibleToTransform(self.tenantId);
      for (const table of sourceTables) {
        expect(seen[table], table).toContain(self.tenantId);
        expect(seen[table], table).not.toContain(other.tenantId);
      }
    }
  });

  it("shows every table empty when no tenant is set", async () => {
    const client = appDatabase().sql;
    const results = await client.transaction(
      featureTables.map((t) => client.query(`SELECT count(*)::int AS n FROM ${t}`)),
    );
    for (const [i, table] of featureTables.entries()) expect(results[i]![0]!.n, table).toBe(0);
    const source = await client.transaction([
      client`SET LOCAL ROLE fs_transform`,
      ...sourceTables.map((t) => client.query(`SELECT count(*)::int AS n FROM ${t}`)),
    ]);
    for (const [i, table] of sourceTables.entries()) expect(source[i + 1]![0]!.n, table).toBe(0);
  });

  it("shows every table empty after a transaction that set a tenant has ended on the same session", async () => {
    const client = appDatabase().sql;
    // Same HTTP request, consecutive statements outside any tenant-setting transaction.
    const [, rows] = await client.transaction([
      client`SELECT set_config('app.tenant_id', ${a.tenantId}, true)`,
      client`SELECT count(*)::int AS n FROM ai_feature_online`,
    ]);
    expect(rows![0]!.n).toBe(1);
    const after =
      await client`SELECT count(*)::int AS n, current_setting('app.tenant_id', true) AS setting FROM ai_feature_online`;
    expect(after[0]!.n).toBe(0);
  });

  it("gives a single statement (tenantStatement) its own tenant's rows only, and nothing after it", async () => {
    const db = appDatabase();
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const rows = await tenantStatement(
        db,
        self.tenantId,
        `SELECT tenant_id, feature_id, event_timestamp FROM ai_feature_online
         WHERE feature_id = ANY (ARRAY[$1::uuid, $2::uuid]) ORDER BY tenant_id`,
        [self.featureId, other.featureId],
      );
      expect(rows.map((r) => r.tenant_id)).toEqual([self.tenantId]);
      expect(typeof rows[0]!.event_timestamp).toBe("string");
    }
    // The tenant and the settings last for the statement alone, on whatever pooled
    // connection runs the next one.
    for (let i = 0; i < 5; i++) {
      const [after] = await db.sql`SELECT count(*)::int AS n, current_setting('app.tenant_id', true) AS tenant,
                                          current_setting('enable_sort') AS sort FROM ai_feature_online`;
      expect(after).toEqual({ n: 0, tenant: "", sort: "on" });
      await tenantStatement(db, a.tenantId, "SELECT 1 AS one", [], { settings: { enable_sort: "off" } });
    }
  });

  it("refuses a single statement's setting that is not a planner or custom setting, and a 9th parameter", async () => {
    const db = appDatabase();
    await expect(tenantStatement(db, a.tenantId, "SELECT 1", [], { settings: { role: "fs_owner" } })).rejects.toThrow(
      /not a custom or planner setting/,
    );
    await expect(tenantStatement(db, a.tenantId, "SELECT 1", Array(9).fill("x"))).rejects.toThrow(/at most 8/);
    // The function refuses it too, for a caller that is not tenant.ts.
    await expect(
      db.sql.query("SELECT fs_tenant_rows($1, '{}', 'SELECT 1', $2)", [a.tenantId, Array(9).fill("x")]),
    ).rejects.toThrow(/at most 8 parameters/);
  });

  it("refuses to write a row for another tenant", async () => {
    await expect(
      withTenantSql(appDatabase(), a.tenantId, (sql) => [
        sql`INSERT INTO ai_feature_online (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp)
            VALUES (${b.tenantId}, ${b.featureId}, 'user', 'x', '1', 'scalar', now())`,
      ]),
    ).rejects.toThrow(/row-level security/);
  });

  it("refuses to move a row to another tenant by UPDATE", async () => {
    await expect(
      withTenantSql(appDatabase(), a.tenantId, (sql) => [
        sql`UPDATE ai_feature_online SET tenant_id = ${b.tenantId} WHERE tenant_id = ${a.tenantId}`,
      ]),
    ).rejects.toThrow(/row-level security/);
  });

  it("cannot attach a feature to another tenant's group even knowing its id", async () => {
    await expect(
      withTenantSql(appDatabase(), a.tenantId, (sql) => [
        sql`INSERT INTO ai_feature_definitions (tenant_id, group_id, name, display_name, data_type, source_type)
            VALUES (${a.tenantId}, ${b.groupId}, 'stolen', 'Stolen', 'int64', 'batch')`,
      ]),
    ).rejects.toThrow(/foreign key/);
  });

  it("cannot update or delete another tenant's rows (they are invisible)", async () => {
    const [updated, deleted] = await withTenantSql(appDatabase(), a.tenantId, (sql) => [
      sql`UPDATE ai_feature_groups SET display_name = 'pwned' WHERE id = ${b.groupId} RETURNING id`,
      sql`DELETE FROM ai_feature_definitions WHERE id = ${b.featureId} RETURNING id`,
    ]);
    expect(updated).toEqual([]);
    expect(deleted).toEqual([]);
    const [groups] = await withTenantSql(appDatabase(), b.tenantId, (sql) => [
      sql`SELECT display_name FROM ai_feature_groups WHERE id = ${b.groupId}`,
    ]);
    expect(groups![0]!.display_name).toBe("User");
  });
});

describe("the app role", () => {
  it("cannot disable row-level security", async () => {
    await expect(appDatabase().sql`ALTER TABLE ai_feature_online DISABLE ROW LEVEL SECURITY`).rejects.toThrow(
      /must be owner/,
    );
    await expect(appDatabase().sql`ALTER TABLE ai_feature_online NO FORCE ROW LEVEL SECURITY`).rejects.toThrow(
      /must be owner/,
    );
  });

  it("cannot drop or replace a policy", async () => {
    await expect(appDatabase().sql`DROP POLICY tenant_isolation ON ai_feature_online`).rejects.toThrow(/must be owner/);
  });

  it("cannot SET ROLE to the owner", async () => {
    const client = appDatabase().sql;
    await expect(client.transaction([client`SET LOCAL ROLE fs_owner`])).rejects.toThrow(/permission denied/);
    await expect(client.transaction([client`SET ROLE fs_owner`])).rejects.toThrow(/permission denied/);
  });

  it("is not a superuser, owns nothing and does not bypass RLS", async () => {
    const [role] = await appDatabase().sql`
      SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb,
             (SELECT count(*)::int FROM pg_class WHERE relowner = r.oid) AS owned
      FROM pg_roles r WHERE rolname = current_user`;
    expect(role).toEqual({ rolsuper: false, rolbypassrls: false, rolcreaterole: false, rolcreatedb: false, owned: 0 });
  });

  it("cannot read a partition directly, around the parent's policy", async () => {
    await expect(appDatabase().sql`SELECT * FROM ai_feature_values_default`).rejects.toThrow(/permission denied/);
  });

  it("cannot read source tables itself (only through the transform role)", async () => {
    await expect(
      withTenantSql(appDatabase(), a.tenantId, (sql) => [sql`SELECT count(*) FROM ai_conversations`]),
    ).rejects.toThrow(/permission denied/);
  });
});

describe("tenant SQL run as the transform role", () => {
  // A transformation is a statement the app runs but does not write: it must not be able to
  // switch tenant (or role) from inside, whatever it calls.
  it.each([
    ["set_config", "SELECT set_config('app.tenant_id', $1, true)"],
    ["pg_catalog.set_config", "SELECT pg_catalog.set_config('app.tenant_id', $1, true)"],
    [
      "set_config inside a subquery",
      "SELECT * FROM users WHERE (SELECT set_config('app.tenant_id', $1, true)) IS NOT NULL",
    ],
    ["set_config of the role", "SELECT set_config('role', 'fs_app', true) WHERE $1::text IS NOT NULL"],
  ])("cannot change app.tenant_id or its role through %s", async (_label, statement) => {
    await expect(
      withTenantSql(appDatabase(), a.tenantId, (sql) => [
        sql`SET LOCAL ROLE fs_transform`,
        sql.query(statement, [b.tenantId]),
      ]),
    ).rejects.toThrow(/permission denied for function set_config/);
  });

  it("cannot read feature-store tables", async () => {
    await expect(
      withTenantSql(appDatabase(), a.tenantId, (sql) => [
        sql`SET LOCAL ROLE fs_transform`,
        sql`SELECT * FROM ai_feature_online`,
      ]),
    ).rejects.toThrow(/permission denied/);
  });
});

describe("the schema", () => {
  it("has ENABLE and FORCE row-level security on every table with tenant data, partitions included", async () => {
    const owner = ownerSql();
    const tables = await owner`
      SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
             OR c.relname = 'tenants')
      ORDER BY c.relname`;
    const names = tables.map((t) => t.relname);
    for (const table of Object.keys(tenantTables)) expect(names).toContain(table);
    for (const t of tables) {
      expect({ table: t.relname, enabled: t.relrowsecurity, forced: t.relforcerowsecurity }).toEqual({
        table: t.relname,
        enabled: true,
        forced: true,
      });
    }
  });
});
