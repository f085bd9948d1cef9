// The Neon driver's WebSocket path (Pool), which interactive transactions need, through the
// local proxy to the real Postgres, as the app role under RLS.
import { Pool } from "@neondatabase/serverless";
import { describe, expect, it } from "vitest";
import { appDatabase, createTenant, testEnv } from "#harness/stack.ts";

describe("Neon WebSocket pool", () => {
  it("runs an interactive transaction with the tenant set, and RLS applies", async () => {
    appDatabase(); // configures the driver for the local endpoint
    const tenantId = await createTenant("ws");
    const pool = new Pool({ connectionString: testEnv().DATABASE_URL });
    pool.on("error", () => {});
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
      const { rows } = await client.query<{ id: string; user: string }>(
        "SELECT id::text, current_user AS user FROM tenants",
      );
      expect(rows).toEqual([{ id: tenantId, user: "fs_app" }]);
      await client.query("COMMIT");
      const after = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM tenants");
      expect(after.rows[0]!.n).toBe(0);
    } finally {
      client.release();
      await pool.end();
    }
  });
});
