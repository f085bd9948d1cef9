// The embedded database (PGlite behind a wire-protocol port) that `npm start` uses when no
// PostgreSQL server can run: concurrent clients each get their own answers, the app role
// stays under row-level security, a client gone mid-transaction leaves nothing behind, and
// the Neon driver reaches it through the same local Neon endpoint as a real server.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { neon, neonConfig } from "@neondatabase/serverless";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapCluster } from "../../scripts/lib/cluster.ts";
import { migrate } from "../../scripts/lib/migrator.ts";
import { directUrl, localStack, neonUrl, useEmbeddedPostgres } from "../../scripts/local/config.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../../scripts/local/embedded-postgres.ts";
import { type RunningServer, startNeonServer } from "../../scripts/local/neon-server.ts";

const database = localStack.databases.dev;
let dataDir: string;
let embedded: EmbeddedPostgres;
let neonServer: RunningServer;
const tenants = ["0e0e0e0e-0000-4000-8000-00000000000a", "0e0e0e0e-0000-4000-8000-00000000000b"];

async function connect(role: "owner" | "app"): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: directUrl(role, database) });
  await client.connect();
  return client;
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "fs-embedded-"));
  embedded = await startEmbeddedPostgres({ dataDir: path.join(dataDir, "db") });
  useEmbeddedPostgres(embedded.port, embedded.superuser);
  await bootstrapCluster([database]);
  await migrate(directUrl("owner", database));
  const owner = await connect("owner");
  await owner.query("INSERT INTO tenants (id, name) SELECT unnest($1::uuid[]), 'embedded'", [tenants]);
  await owner.end();
  neonServer = await startNeonServer({ pgHost: "127.0.0.1", pgPort: embedded.port });
}, 120_000);

afterAll(async () => {
  await neonServer?.close();
  await embedded?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("embedded PostgreSQL", () => {
  it("gives each of several concurrent clients the answers to its own interleaved transactions", async () => {
    const clients = await Promise.all(Array.from({ length: 6 }, () => connect("app")));
    try {
      const answers = await Promise.all(
        clients.map(async (client, i) => {
          await client.query("BEGIN");
          const seen: number[] = [];
          for (let step = 0; step < 5; step++) {
            const { rows } = await client.query<{ v: number }>("SELECT $1::int * 100 + $2::int AS v", [i, step]);
            seen.push(rows[0]!.v);
            await new Promise((r) => setTimeout(r, 1)); // let the other clients interleave
          }
          await client.query("COMMIT");
          return seen;
        }),
      );
      answers.forEach((seen, i) => {
        expect(seen).toEqual([0, 1, 2, 3, 4].map((step) => i * 100 + step));
      });
      expect(embedded.stats().waits).toBeGreaterThan(0);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it("runs the app role under row-level security, and the owner beside it", async () => {
    const [app, owner] = await Promise.all([connect("app"), connect("owner")]);
    try {
      await app.query("BEGIN");
      await app.query("SELECT set_config('app.tenant_id', $1, true)", [tenants[0]]);
      const own = await app.query("SELECT id::text, current_user AS role FROM tenants");
      // The owner's query arrives while the app's transaction is open; it must not see its role.
      const ownerView = owner.query<{ n: number; role: string }>(
        "SELECT count(*)::int AS n, current_user AS role FROM tenants WHERE name = 'embedded'",
      );
      await app.query("COMMIT");
      expect(own.rows).toEqual([{ id: tenants[0], role: "fs_app" }]);
      expect((await ownerView).rows[0]).toEqual({ n: 2, role: "fs_owner" });
      const outside = await app.query("SELECT count(*)::int AS n FROM tenants");
      expect(outside.rows[0].n).toBe(0);
    } finally {
      await Promise.all([app.end(), owner.end()]);
    }
  });

  it("rolls back the open transaction of a client that goes away, and serves the next one", async () => {
    const leaver = await connect("owner");
    leaver.on("error", () => {}); // it is cut off on purpose
    await leaver.query("BEGIN");
    await leaver.query("INSERT INTO tenants (name) VALUES ('left behind')");
    const waiting = connect("owner").then(async (next) => {
      const { rows } = await next.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM tenants WHERE name = 'left behind'",
      );
      await next.end();
      return rows[0]!.n;
    });
    await new Promise((r) => setTimeout(r, 50));
    (leaver as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    expect(await waiting).toBe(0);
  });

  it("answers the Neon driver through the local Neon endpoint, as the app role", async () => {
    neonConfig.fetchEndpoint = `${neonServer.url}/sql`;
    const sql = neon(neonUrl("app", database));
    const [, rows] = await sql.transaction([
      sql`SELECT set_config('app.tenant_id', ${tenants[1]}, true)`,
      sql`SELECT id::text, current_user AS role FROM tenants`,
    ]);
    expect(rows).toEqual([{ id: tenants[1], role: "fs_app" }]);
  });

  it("refuses a second opening of the same data directory", async () => {
    await expect(startEmbeddedPostgres({ dataDir: path.join(dataDir, "db") })).rejects.toThrow(/in use by process/);
  });
});
