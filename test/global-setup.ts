// Runs once in Node before the workerd test pools: checks the services, migrates the test
// database, and starts the local Neon and Upstash endpoints (and a JWKS for RS256/ES256)
// on free ports. Services that are missing fail the run with what to start.
import http from "node:http";
import type net from "node:net";
import Redis from "ioredis";
import * as jose from "jose";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { bootstrapCluster } from "../scripts/lib/cluster.ts";
import { migrate } from "../scripts/lib/migrator.ts";
import { directUrl, localStack, neonUrl, superuserUrl } from "../scripts/local/config.ts";
import { startFaultStack } from "../scripts/local/fault-stack.ts";
import { startNeonServer } from "../scripts/local/neon-server.ts";
import { startUpstashServer } from "../scripts/local/upstash-server.ts";

async function requirePostgres() {
  const client = new pg.Client({ connectionString: superuserUrl(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const vector = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'");
    if (!vector.rowCount) {
      throw new Error("pgvector is not installed in this PostgreSQL. Run `npm run stack` (it builds it).");
    }
  } catch (error) {
    if ((error as Error).message.includes("pgvector")) throw error;
    throw new Error(
      `PostgreSQL is not reachable at ${localStack.pgHost}:${localStack.pgPort} as ${localStack.superuser} ` +
        `(${(error as Error).message}). Start it with \`npm run stack\`.`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}

async function requireRedis() {
  const redis = new Redis(localStack.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000 });
  redis.on("error", () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${localStack.redisUrl} (${(error as Error).message}). Start it with \`npm run stack\`.`,
    );
  } finally {
    redis.disconnect();
  }
}

async function startJwks() {
  const rs = await jose.generateKeyPair("RS256", { extractable: true });
  const es = await jose.generateKeyPair("ES256", { extractable: true });
  const rsPrivate = { ...(await jose.exportJWK(rs.privateKey)), kid: "test-rs256", alg: "RS256" };
  const esPrivate = { ...(await jose.exportJWK(es.privateKey)), kid: "test-es256", alg: "ES256" };
  const keys = [
    { ...(await jose.exportJWK(rs.publicKey)), kid: "test-rs256", alg: "RS256", use: "sig" },
    { ...(await jose.exportJWK(es.publicKey)), kid: "test-es256", alg: "ES256", use: "sig" },
  ];
  const server = http.createServer((_, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    signingKeys: { rs256: rsPrivate, es256: esPrivate },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Accepts requests and never answers them (until closed). */
async function startStalledServer() {
  const waiting = new Set<http.ServerResponse>();
  const server = http.createServer((_, res) => void waiting.add(res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of waiting) res.destroy();
        server.close(() => resolve());
      }),
  };
}

export default async function setup(project: TestProject) {
  await requirePostgres();
  await requireRedis();
  const database = localStack.databases.test;
  await bootstrapCluster([database]);
  await migrate(directUrl("owner", database));

  const neon = await startNeonServer({ pgHost: localStack.pgHost, pgPort: localStack.pgPort });
  const upstash = await startUpstashServer({ redisUrl: localStack.redisUrl, token: localStack.upstashToken });
  const jwks = await startJwks();
  const stalled = await startStalledServer();
  const faults = await startFaultStack({
    pgHost: localStack.pgHost,
    pgPort: localStack.pgPort,
    redisUrl: localStack.redisUrl,
    upstashToken: localStack.upstashToken,
  });

  project.provide("databaseUrl", neonUrl("app", database));
  project.provide("ownerDatabaseUrl", neonUrl("owner", database));
  project.provide("neonFetchEndpoint", `${neon.url}/sql`);
  project.provide("neonWsProxy", `127.0.0.1:${neon.port}/v1`);
  project.provide("neonStatsUrl", `${neon.url}/__stats`);
  project.provide("upstashUrl", upstash.url);
  project.provide("upstashToken", localStack.upstashToken);
  project.provide("stalledUrl", stalled.url);
  project.provide("faultBindings", faults.bindings);
  project.provide("faultControlUrl", faults.controlUrl);
  project.provide("jwtSecret", "test-secret-that-is-at-least-32-bytes-long!");
  project.provide("jwksUrl", jwks.url);
  project.provide("signingKeys", jwks.signingKeys);

  return async () => {
    await Promise.allSettled([neon.close(), upstash.close(), jwks.close(), stalled.close(), faults.close()]);
  };
}
