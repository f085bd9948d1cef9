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
import WebSocket from "ws";
import { bootstrapCluster } from "../../scripts/lib/cluster.ts";
import { migrate } from "../../scripts/lib/migrator.ts";
import { directUrl, localStack, neonUrl, useEmbeddedPostgres } from "../../scripts/local/config.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../../scripts/local/embedded-postgres.ts";
import { type RunningServer, startNeonServer } from "../../scripts/local/neon-server.ts";
import { tenantContextFor } from "../../shared/db/tenant.ts";
import { parseEnv } from "../../shared/env.ts";
import { createJob, getJob } from "../../shared/jobs/jobs.ts";
import { createFeature } from "../../shared/registry/features.ts";
import { createGroup } from "../../shared/registry/groups.ts";
import { createFeatureBody, createGroupBody } from "../../shared/registry/schemas.ts";
import { runMaterialization } from "../../workers/cron/src/materialize.ts";

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

  it("materializes a job of several units, each staging in its own temporary table of the one shared session", async () => {
    neonConfig.webSocketConstructor = WebSocket;
    const env = parseEnv({
      DATABASE_URL: neonUrl("app", database),
      NEON_FETCH_ENDPOINT: `${neonServer.url}/sql`,
      NEON_WS_PROXY: `127.0.0.1:${neonServer.port}/v1`,
    });
    const ctx = tenantContextFor(env, tenants[1]!);
    const owner = await connect("owner");
    try {
      await owner.query(
        `INSERT INTO ai_conversations (tenant_id, channel, created_at, updated_at)
         SELECT $1, 'web', now() - g * interval '1 hour', now() - g * interval '1 hour' + g * interval '1 second'
         FROM generate_series(1, 30) g`,
        [tenants[1]],
      );
    } finally {
      await owner.end();
    }
    const group = await createGroup(
      ctx,
      createGroupBody.parse({ name: "conv", displayName: "Conv", entityType: "conversation" }),
    );
    for (const name of ["duration", "seconds"]) {
      await createFeature(
        ctx,
        group.id,
        createFeatureBody.parse({
          name,
          displayName: name,
          dataType: "int64",
          sourceType: "batch",
          transformationSql: `SELECT id AS entity_id, EXTRACT(EPOCH FROM updated_at - created_at)::int AS value
            FROM ai_conversations WHERE created_at < :end_time`,
        }),
      );
    }
    const job = await createJob(ctx, {
      featureGroupId: group.id,
      jobType: "point_in_time",
      startTime: new Date(Date.now() - 2 * 86_400_000).toISOString(),
      endTime: new Date().toISOString(),
    });
    const run = await runMaterialization(env, { tenants: [tenants[1]!] });
    expect(run.outcomes).toEqual({ [job.id]: "completed" });
    // 2 daily windows x 2 features: 7 conversations before the first window's end, 30 before the second's.
    expect((await getJob(ctx, job.id)).rowsProcessed).toBe(2 * (7 + 30));
  }, 60_000);

  it("refuses a second opening of the same data directory", async () => {
    await expect(startEmbeddedPostgres({ dataDir: path.join(dataDir, "db") })).rejects.toThrow(/in use by process/);
  });
});
