// npm start — the whole product on this machine: the local stack, the three workers
// (wrangler dev on 8787 / 8788 / 8789, cron triggers fired locally), a demo tenant with
// synthetic TIS TIS data, its features bootstrapped and materialized, then a token and
// copy-paste curl calls. Ctrl-C stops everything it started.
// npm start runs it as `node --import tsx`, not through the tsx CLI: that CLI relays Ctrl-C
// and SIGKILLs a child that has not acknowledged it within ~60 ms, which cut the embedded
// database's shutdown short (its lock file was left behind in one CI run).
import { type ChildProcess, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as jose from "jose";
import pg from "pg";
import { demoTenantId, insertDemoConversations, randomEmbedding } from "./demo/data.ts";
import { bootstrapCluster } from "./lib/cluster.ts";
import { migrate } from "./lib/migrator.ts";
import { chooseDatabaseMode, redisAvailable } from "./lib/stack-mode.ts";
import { startWranglerDev, waitForHttp } from "./lib/wrangler-dev.ts";
import { directUrl, localStack, neonUrl, useEmbeddedPostgres } from "./local/config.ts";
import { startEmbeddedPostgres } from "./local/embedded-postgres.ts";
import { startNeonServer } from "./local/neon-server.ts";
import { startUpstashServer } from "./local/upstash-server.ts";

const root = path.resolve(import.meta.dirname, "..");
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const say = (line: string) => console.log(`[start ${elapsed()}] ${line}`);
const jwtSecret = process.env.DEMO_JWT_SECRET ?? "local-demo-secret-change-me-0123456789abcdef";
const ports = { serving: 8787, admin: 8788, cron: 8789 };
const inspectorPorts = { serving: 9230, admin: 9231, cron: 9232 };
const children: ChildProcess[] = [];
const closers: (() => Promise<void>)[] = [];
let stopping = false;

async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  say("stopping");
  for (const child of children) {
    try {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
    } catch {}
  }
  // Last started, first stopped: the endpoints before the embedded database under them.
  for (const close of closers.reverse()) await close().catch((error: Error) => say(`warning: ${error.message}`));
  await new Promise((r) => setTimeout(r, 500));
  for (const child of children) {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {}
  }
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

function startWorker(name: keyof typeof ports, config: string, vars: Record<string, string>) {
  const child = startWranglerDev({
    name,
    root,
    config,
    port: ports[name],
    inspectorPort: inspectorPorts[name],
    vars,
    extraArgs: name === "cron" ? ["--test-scheduled"] : [],
    output: (text) => process.stdout.write(text),
  });
  child.on("exit", (code) => {
    if (!stopping) {
      console.error(`${name} worker exited (${code}); stopping`);
      void stop(1);
    }
  });
  children.push(child);
}

async function api(port: number, method: string, pathName: string, token: string, body?: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}${pathName}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as any;
  if (response.status >= 400) throw new Error(`${method} ${pathName}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** The embedded database and its setup, inside this process. */
async function startEmbedded() {
  say("embedded PostgreSQL (PGlite + pgvector) in .stack/pglite");
  const embedded = await startEmbeddedPostgres({
    dataDir: path.join(root, ".stack/pglite"),
    onSlowWait: (line) => say(`warning: ${line}`),
  });
  closers.push(embedded.close);
  useEmbeddedPostgres(embedded.port, embedded.superuser);
  await bootstrapCluster([localStack.databases.dev]);
  const { applied } = await migrate(directUrl("owner", localStack.databases.dev));
  say(`embedded database ready: ${applied.length ? `${applied.length} migrations applied` : "schema up to date"}`);
}

function startServerStack(withRedis: boolean) {
  say(`local stack: PostgreSQL + pgvector${withRedis ? ", Redis" : ""}, migrations`);
  const args = ["--import", "tsx", "scripts/stack.ts", "--for-tests", "--quiet"];
  if (!withRedis) args.push("--no-redis");
  const stack = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  if (stack.status !== 0) throw new Error("the local stack did not come up (see above)");
}

async function main() {
  const args = new Set(process.argv.slice(2));
  const { mode, why } = await chooseDatabaseMode(args);
  const withRedis = await redisAvailable(mode);
  say(
    `database: ${mode === "embedded" ? "embedded (PGlite)" : "PostgreSQL server"} (${why}); ` +
      `Redis: ${withRedis ? localStack.redisUrl : "none, the serving worker reads from Postgres"}`,
  );
  if (mode === "embedded") await startEmbedded();
  else startServerStack(withRedis);

  const neon = await startNeonServer({
    port: localStack.neonPort,
    pgHost: localStack.pgHost,
    pgPort: localStack.pgPort,
  }).catch((error) => {
    // Another copy's endpoint would point at another database: only reuse it in server mode.
    if (mode === "embedded") throw new Error(`port ${localStack.neonPort} is taken (${error.message})`);
    return null;
  });
  const upstash = withRedis
    ? await startUpstashServer({
        port: localStack.upstashPort,
        redisUrl: localStack.redisUrl,
        token: localStack.upstashToken,
      }).catch(() => null)
    : null;
  if (neon) closers.push(neon.close);
  if (upstash) closers.push(upstash.close);
  say(
    `Neon endpoint :${localStack.neonPort}${neon ? "" : " (already running)"}` +
      (withRedis ? `, Upstash endpoint :${localStack.upstashPort}${upstash ? "" : " (already running)"}` : ""),
  );

  const vars: Record<string, string> = {
    DATABASE_URL: neonUrl("app", localStack.databases.dev),
    NEON_FETCH_ENDPOINT: `http://127.0.0.1:${localStack.neonPort}/sql`,
    NEON_WS_PROXY: `127.0.0.1:${localStack.neonPort}/v1`,
  };
  if (withRedis) {
    vars.UPSTASH_REDIS_REST_URL = `http://127.0.0.1:${localStack.upstashPort}`;
    vars.UPSTASH_REDIS_REST_TOKEN = localStack.upstashToken;
  }
  say("starting the serving, admin and cron workers (wrangler dev)");
  startWorker("serving", "wrangler.toml", { ...vars, JWT_SECRET: jwtSecret });
  startWorker("admin", "workers/admin/wrangler.toml", { ...vars, JWT_SECRET: jwtSecret });
  // The cron worker answers no tenant: it gets no JWT secret.
  startWorker("cron", "workers/cron/wrangler.toml", { ...vars, MATERIALIZE_TENANTS: "" });
  await Promise.all(Object.values(ports).map((p) => waitForHttp(`http://127.0.0.1:${p}/healthz`, 90)));
  say("workers are up");

  const token = await new jose.SignJWT({
    tenant_id: demoTenantId,
    scope: "features:read features:write registry:read registry:write jobs:write",
  })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("demo-user")
    .setIssuedAt()
    .setExpirationTime("24h")
    .sign(new TextEncoder().encode(jwtSecret));

  const owner = new pg.Client({ connectionString: directUrl("owner", localStack.databases.dev) });
  await owner.connect();
  const existing = await owner.query("SELECT count(*)::int AS n FROM ai_conversations WHERE tenant_id = $1", [
    demoTenantId,
  ]);
  const bootstrap = await api(ports.admin, "POST", "/v1/admin/bootstrap", token);
  say(
    `demo tenant ${demoTenantId}: ${bootstrap.features.created.length} features created, ${bootstrap.features.existing.length} already there`,
  );
  if (existing.rows[0].n === 0) {
    await insertDemoConversations(owner, (done, total) =>
      say(`synthetic conversations: ${done}/${total} (${Math.round((done / total) * 100)}%)`),
    );
    const messages = await owner.query(
      "SELECT id FROM ai_messages WHERE tenant_id = $1 ORDER BY created_at LIMIT 200",
      [demoTenantId],
    );
    for (let i = 0; i < messages.rows.length; i += 40) {
      const rows = messages.rows.slice(i, i + 40).map((m, j) => ({
        entityId: m.id,
        eventTimestamp: new Date().toISOString(),
        features: { "message.embedding": randomEmbedding(i + j), "message.length": 20 + ((i + j) % 200) },
      }));
      await api(ports.serving, "POST", "/v1/features/push", token, { entityType: "message", rows });
      say(`message embeddings: ${Math.min(i + 40, messages.rows.length)}/${messages.rows.length}`);
    }
  } else {
    say(`demo data already there (${existing.rows[0].n} conversations): reusing it`);
  }

  const groups = (await api(ports.admin, "GET", "/v1/admin/groups", token)).items as { id: string; name: string }[];
  const end = new Date();
  const startTime = new Date(end.getTime() - 30 * 86_400_000);
  const jobs: string[] = [];
  for (const g of groups.filter((g) => ["tenant", "user", "conversation"].includes(g.name))) {
    const job = await api(ports.admin, "POST", "/v1/admin/jobs", token, {
      featureGroupId: g.id,
      jobType: "full",
      startTime: startTime.toISOString(),
      endTime: end.toISOString(),
    });
    jobs.push(job.id);
  }
  const fire = (cron: string) =>
    fetch(`http://127.0.0.1:${ports.cron}/__scheduled?cron=${encodeURIComponent(cron)}`).catch(() => {});
  await fire("17 3 * * *");
  for (let round = 0; round < 60; round++) {
    await fire("* * * * *");
    const states = await Promise.all(jobs.map((id) => api(ports.admin, "GET", `/v1/admin/jobs/${id}`, token)));
    const done = states.filter((s) => ["completed", "failed", "cancelled"].includes(s.status));
    const rows = states.reduce((n, s) => n + s.rowsProcessed, 0);
    say(`materialization: ${done.length}/${jobs.length} jobs done, ${rows} values written`);
    if (done.length === jobs.length) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  await showWindowedCount(token);
  // Local cron triggers: materialization every minute, TTL expiry every 5 minutes, upkeep daily.
  const timers = [
    setInterval(() => void fire("* * * * *"), 60_000),
    setInterval(() => void fire("*/5 * * * *"), 300_000),
    setInterval(() => void fire("17 3 * * *"), 86_400_000),
  ];
  closers.push(async () => timers.forEach(clearInterval));

  const sample = await owner.query(
    `SELECT (SELECT id FROM users WHERE tenant_id = $1 ORDER BY email LIMIT 1) AS user_id,
            (SELECT conversation_id FROM ai_messages WHERE tenant_id = $1 ORDER BY created_at LIMIT 1) AS conversation_id,
            (SELECT id FROM ai_messages WHERE tenant_id = $1 ORDER BY created_at LIMIT 1) AS message_id`,
    [demoTenantId],
  );
  await owner.end();
  const { user_id: userId, conversation_id: conversationId, message_id: messageId } = sample.rows[0];
  const h = `-H "Authorization: Bearer $TOKEN" -H 'content-type: application/json'`;
  const yesterday = new Date(Date.now() - 86_400_000).toISOString();
  const calls = [
    {
      name: "online read",
      curl: `curl -s ${h} localhost:${ports.serving}/v1/features/online -d '{"entityType":"user","entityId":"${userId}","features":["user.conversation_count","user.preferred_channel","feedback_tendency"]}'`,
    },
    {
      name: "push",
      curl: `curl -s ${h} localhost:${ports.serving}/v1/features/push -d '{"entityType":"conversation","rows":[{"entityId":"${conversationId}","eventTimestamp":"${new Date().toISOString()}","features":{"escalated":true,"resolution_status":"open"}}]}'`,
    },
    {
      name: "historical",
      curl: `curl -s ${h} localhost:${ports.serving}/v1/features/historical -d '{"entityType":"user","entityTimestampPairs":[{"entityId":"${userId}","timestamp":"${yesterday}"},{"entityId":"${userId}","timestamp":"${new Date().toISOString()}"}],"features":["user.conversation_count"]}'`,
    },
    {
      name: "search",
      curl: `curl -s ${h} localhost:${ports.serving}/v1/embeddings/search -d '{"feature":"message.embedding","entityId":"${messageId}","k":5}'`,
    },
    {
      name: "windowed count and on-demand duration",
      curl: `curl -s ${h} localhost:${ports.serving}/v1/features/online -d '{"entityType":"conversation","entityId":"${conversationId}","features":["messages_last_hour","message_count","duration_seconds"]}'`,
    },
    { name: "registry", curl: `curl -s ${h} localhost:${ports.admin}/v1/admin/features/user.conversation_count` },
  ];
  mkdirSync(path.join(root, ".stack"), { recursive: true });
  writeFileSync(path.join(root, ".stack/demo.json"), JSON.stringify({ token, tenantId: demoTenantId, calls }, null, 2));
  console.log(`
Feature store ready in ${elapsed()}:
  serving  http://localhost:${ports.serving}   (online, push, historical, batch, search)
  admin    http://localhost:${ports.admin}   (registry, jobs; OpenAPI at /v1/admin/openapi.json)
  console  http://localhost:${ports.admin}/console/sign-in#token=${token}
           (the admin console, signed in as the demo tenant)
  cron     http://localhost:${ports.cron}   (materialization every minute, units on the local queue; TTL expiry every 5 minutes)

export TOKEN=${token}
${calls.map((c) => `\n# ${c.name}\n${c.curl}`).join("\n")}

# the typed client (README: Use it from your app)
npx tsx examples/use-the-client.ts

# features as code: the TIS TIS registry as a file, planned against this tenant (no change)
npx fs plan --file examples/tistis/features.ts

READY (Ctrl-C stops everything)`);
}

main().catch((error) => {
  console.error(`start failed: ${(error as Error).message}`);
  void stop(1);
});

/**
 * The demo of a windowed count: message events pushed to one conversation move
 * conversation.messages_last_hour (a stream count over the last hour, 10-second steps) and
 * message_count (every event so far), read back after each push.
 */
async function showWindowedCount(token: string): Promise<void> {
  const conversationId = `demo-conversation-${Date.now()}`;
  const features = ["conversation.messages_last_hour", "conversation.message_count"];
  for (let round = 1; round <= 3; round++) {
    // 61 s old: inside every window answered now (each ends at the last 10 s or 60 s boundary).
    const eventTimestamp = new Date(Date.now() - 61_000).toISOString();
    const rows = [1, 2].map((i) => ({
      entityId: conversationId,
      eventTimestamp,
      eventId: `m${round}-${i}`,
      features: { "conversation.messages_last_hour": 1, "conversation.message_count": 1 },
    }));
    // Sent twice: an event id counts once.
    await api(ports.serving, "POST", "/v1/features/push", token, {
      entityType: "conversation",
      rows: [...rows, ...rows],
    });
    const read = await api(ports.serving, "POST", "/v1/features/online", token, {
      entityType: "conversation",
      entityId: conversationId,
      features,
    });
    say(
      `windowed count of ${conversationId}: messages_last_hour = ${read.features[features[0]!]}, message_count = ${read.features[features[1]!]} (from ${read.metadata.servedFrom})`,
    );
  }
}
