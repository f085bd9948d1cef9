// npm run stack — makes sure the local stack is up, idempotently:
// PostgreSQL with pgvector, Redis, roles, databases, migrations, and the two local protocol
// servers (Neon HTTP/WebSocket, Upstash REST) in the background.
//   --for-tests   everything but the background servers (tests start their own)
//   --stop        stop the background servers
//   --quiet       print only problems
//   --no-redis    leave Redis alone (npm start runs without it when there is none)
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import Redis from "ioredis";
import pg from "pg";
import { bootstrapCluster } from "./lib/cluster.ts";
import { migrate } from "./lib/migrator.ts";
import { directUrl, localStack, neonUrl, superuserUrl } from "./local/config.ts";

const root = path.resolve(import.meta.dirname, "..");
const stateDir = path.join(root, ".stack");
const pidFile = path.join(stateDir, "servers.pid");
const args = new Set(process.argv.slice(2));
const quiet = args.has("--quiet");
const say = (line: string) => {
  if (!quiet) console.log(line);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fail(message: string): never {
  console.error(`\nstack: ${message}`);
  process.exit(1);
}

async function canReachPostgres(): Promise<boolean> {
  const client = new pg.Client({ connectionString: superuserUrl(), connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function canReachRedis(): Promise<boolean> {
  const redis = new Redis(localStack.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000 });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function waitFor(check: () => Promise<boolean>, seconds: number): Promise<boolean> {
  for (let i = 0; i < seconds * 4; i++) {
    if (await check()) return true;
    await sleep(250);
  }
  return false;
}

async function ensurePostgres() {
  if (await canReachPostgres()) return;
  say("starting PostgreSQL");
  const versions = existsSync("/etc/postgresql")
    ? spawnSync("ls", ["/etc/postgresql"]).stdout.toString().split(/\s+/)
    : [];
  const version = versions.filter(Boolean).sort().at(-1);
  if (!version)
    fail(
      `PostgreSQL is not reachable at ${localStack.pgHost}:${localStack.pgPort} and none is installed here. Install postgresql-15, or set POSTGRES_URL to a server (npm start alone also runs without one: npm start -- --embedded).`,
    );
  spawnSync("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "start"], { stdio: "inherit" });
  if (!(await waitFor(canReachPostgres, 20))) {
    fail(
      `PostgreSQL did not come up at ${localStack.pgHost}:${localStack.pgPort} (tried pg_ctlcluster ${version} main start).`,
    );
  }
}

async function ensureRedis() {
  if (await canReachRedis()) return;
  say("starting Redis");
  mkdirSync("/var/lib/redis", { recursive: true });
  mkdirSync("/var/log/redis", { recursive: true });
  spawnSync(
    "redis-server",
    [
      "--daemonize",
      "yes",
      "--bind",
      "127.0.0.1",
      "-::1",
      "--port",
      "6379",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      "/var/lib/redis",
      "--logfile",
      "/var/log/redis/ci.log",
    ],
    { stdio: "inherit" },
  );
  if (!(await waitFor(canReachRedis, 10)))
    fail(`Redis did not come up at ${localStack.redisUrl}. Install redis-server or set REDIS_URL.`);
}

function ensurePgvector() {
  const r = spawnSync("bash", [path.join(root, "scripts/ensure-pgvector.sh")], { stdio: "inherit" });
  if (r.status !== 0) fail("pgvector is missing and could not be built (see above).");
}

async function serversHealthy(): Promise<boolean> {
  try {
    const urls = [
      `http://127.0.0.1:${localStack.neonPort}/healthz`,
      `http://127.0.0.1:${localStack.upstashPort}/healthz`,
    ];
    const answers = await Promise.all(urls.map((u) => fetch(u, { signal: AbortSignal.timeout(1000) })));
    return answers.every((a) => a.ok);
  } catch {
    return false;
  }
}

function stopServers() {
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, "utf8"));
  try {
    process.kill(pid, "SIGTERM");
  } catch {}
  rmSync(pidFile, { force: true });
  return true;
}

async function startServers() {
  if (await serversHealthy()) {
    say(`protocol servers already running (neon :${localStack.neonPort}, upstash :${localStack.upstashPort})`);
    return;
  }
  mkdirSync(stateDir, { recursive: true });
  const log = openSync(path.join(stateDir, "servers.log"), "a");
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "scripts/local/serve.ts")], {
    cwd: root,
    detached: true,
    stdio: ["ignore", log, log],
  });
  child.unref();
  writeFileSync(pidFile, String(child.pid));
  if (!(await waitFor(serversHealthy, 15)))
    fail(`protocol servers did not start; see ${path.join(stateDir, "servers.log")}`);
  say(`protocol servers started (pid ${child.pid}; log .stack/servers.log)`);
}

if (args.has("--stop")) {
  say(stopServers() ? "protocol servers stopped" : "protocol servers were not running");
  process.exit(0);
}

const started = Date.now();
// A server named by POSTGRES_URL brings its own pgvector; only a local one is built here.
if (!process.env.POSTGRES_URL) ensurePgvector();
await ensurePostgres();
if (!args.has("--no-redis")) await ensureRedis();
await bootstrapCluster([localStack.databases.dev, localStack.databases.test]);
for (const db of [localStack.databases.dev, localStack.databases.test]) {
  const { applied } = await migrate(directUrl("owner", db), quiet ? () => {} : say).catch((error: Error) =>
    fail(`database ${db}: ${error.message}`),
  );
  say(`database ${db}: ${applied.length ? `${applied.length} migrations applied` : "up to date"}`);
}
if (!args.has("--for-tests")) {
  await startServers();
  say(`
local stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Worker bindings for it:
  DATABASE_URL=${neonUrl("app", localStack.databases.dev)}
  NEON_FETCH_ENDPOINT=http://127.0.0.1:${localStack.neonPort}/sql
  NEON_WS_PROXY=127.0.0.1:${localStack.neonPort}/v1
  UPSTASH_REDIS_REST_URL=http://127.0.0.1:${localStack.upstashPort}
  UPSTASH_REDIS_REST_TOKEN=${localStack.upstashToken}`);
} else {
  say(`local stack ready for tests in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
