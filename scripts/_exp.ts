import pg from "pg";
import { bootstrapCluster } from "./lib/cluster.ts";
import { migrate } from "./lib/migrator.ts";
import { directUrl, localStack, useEmbeddedPostgres } from "./local/config.ts";
import { startEmbeddedPostgres } from "./local/embedded-postgres.ts";

let t = Date.now();
const lap = (s: string) => {
  console.log(s, Date.now() - t, "ms");
  t = Date.now();
};
const e = await startEmbeddedPostgres({ dataDir: "/tmp/pgl/fs", onSlowWait: console.warn });
lap("open");
useEmbeddedPostgres(e.port, e.superuser);
await bootstrapCluster([localStack.databases.dev]);
lap("bootstrap");
const r = await migrate(directUrl("owner", localStack.databases.dev), console.log);
lap(`migrate ${r.applied.length}`);
const app = new pg.Client({ connectionString: directUrl("app", "featurestore") });
await app.connect();
console.log((await app.query("select current_user, count(*) from ai_feature_groups")).rows);
const clients = await Promise.all(
  Array.from({ length: 5 }, async (_, i) => {
    const c = new pg.Client({ connectionString: directUrl("app", "featurestore") });
    await c.connect();
    return c;
  }),
);
const res = await Promise.all(
  clients.map(async (c, i) => {
    await c.query("BEGIN");
    const a = await c.query("select $1::int as i, current_user u", [i]);
    await c.query("COMMIT");
    return a.rows[0];
  }),
);
console.log(res);
lap("5 clients");
for (const c of [app, ...clients]) await c.end();
await e.close();
lap("close");
