import { randomBytes, randomUUID } from "node:crypto";
import path from "node:path";
import { Redis } from "@upstash/redis";
import autocannon from "autocannon";
import * as jose from "jose";
import pg from "pg";
import { valueKey } from "#shared/online-store/keys.ts";
import { startWranglerDev, stopProcessGroup, waitForHttp } from "../scripts/lib/wrangler-dev.ts";
import { directUrl, localStack, neonUrl } from "../scripts/local/config.ts";
import { startNeonServer } from "../scripts/local/neon-server.ts";
import { startUpstashServer } from "../scripts/local/upstash-server.ts";
import { type Measurement, percentile } from "./stats.ts";
import type { Host } from "./workerd-host.ts";
import { workerdRssMb } from "./workerd-memory.ts";
import { plainWorkerdHost } from "./workerd-plain.ts";

/** Measured in Node, so the runner takes it as it is instead of parsing a BENCH line. */
export type HttpMeasurement = Measurement & { ratio: number | null };

const root = path.resolve(import.meta.dirname, "..");
const ports = { serving: 8797, admin: 8798, workerd: 8799 };
const featureNames = Array.from({ length: 10 }, (_, i) => `f${i}`);
const entityCount = 1000;
/**
 * HTTP_BENCH_SEQUENTIAL_ONLY=1: only the sequential reads on plain workerd (no wrangler dev,
 * no load test), for trying a change to the read path in a minute rather than ten.
 */
const sequentialOnly = process.env.HTTP_BENCH_SEQUENTIAL_ONLY === "1";
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

async function wranglerDevHost(vars: Record<string, string>): Promise<Host> {
  const child = startWranglerDev({
    name: "serving",
    root,
    config: "wrangler.toml",
    port: ports.serving,
    inspectorPort: 9240,
    vars,
    extraArgs: ["--show-interactive-dev-session=false"],
    output: () => {},
  });
  await waitForHttp(`http://127.0.0.1:${ports.serving}/healthz`, 90);
  return {
    name: "wrangler dev",
    port: ports.serving,
    rssMb: () => workerdRssMb(child.pid!),
    stop: () => stopProcessGroup(child),
  };
}

export function measure(
  name: string,
  params: Record<string, unknown>,
  value: number,
  unit: string,
  floor: number,
  floorName: string,
  extra?: Record<string, unknown>,
): HttpMeasurement {
  const m = { name, params, value, unit, floor, floorName, ratio: floor > 0 ? round(value / floor) : null, extra };
  const note = extra?.readsServedFrom ? ` reads served from ${JSON.stringify(extra.readsServedFrom)}` : "";
  console.log(`${name} ${JSON.stringify(params)}: ${value} ${unit} vs floor ${floor} ${unit} (x${m.ratio})${note}`);
  return m;
}

function runAutocannon(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

export async function runHttpBenchmarks(quick: boolean): Promise<HttpMeasurement[]> {
  const database = localStack.databases.test;
  const neon = await startNeonServer({ pgHost: localStack.pgHost, pgPort: localStack.pgPort });
  const upstash = await startUpstashServer({ redisUrl: localStack.redisUrl, token: localStack.upstashToken });
  const secret = randomBytes(32).toString("hex");
  const vars = {
    DATABASE_URL: neonUrl("app", database),
    NEON_FETCH_ENDPOINT: `${neon.url}/sql`,
    NEON_WS_PROXY: `127.0.0.1:${neon.port}/v1`,
    UPSTASH_REDIS_REST_URL: upstash.url,
    UPSTASH_REDIS_REST_TOKEN: localStack.upstashToken,
    JWT_SECRET: secret,
  };
  // The admin worker only sets up the registry.
  const admin = startWranglerDev({
    name: "admin",
    root,
    config: "workers/admin/wrangler.toml",
    port: ports.admin,
    inspectorPort: 9241,
    vars,
    extraArgs: ["--show-interactive-dev-session=false"],
    output: () => {},
  });
  const hosts: Host[] = [];
  try {
    await waitForHttp(`http://127.0.0.1:${ports.admin}/healthz`, 90);
    if (!sequentialOnly) hosts.push(await wranglerDevHost(vars));
    hosts.push(await plainWorkerdHost(vars, ports.workerd));
    const results = await measureAll(quick, hosts, { upstashUrl: upstash.url, secret });
    return results;
  } finally {
    await Promise.allSettled([stopProcessGroup(admin), ...hosts.map((h) => h.stop())]);
    await Promise.allSettled([neon.close(), upstash.close()]);
  }
}

async function measureAll(
  quick: boolean,
  hosts: Host[],
  setup: { upstashUrl: string; secret: string },
): Promise<HttpMeasurement[]> {
  const results: HttpMeasurement[] = [];
  const tenantId = randomUUID();
  const owner = new pg.Client({ connectionString: directUrl("owner", localStack.databases.test) });
  await owner.connect();
  await owner.query("INSERT INTO tenants (id, name) VALUES ($1, 'bench http')", [tenantId]);
  await owner.end();
  const token = await new jose.SignJWT({
    tenant_id: tenantId,
    scope: "features:read features:write registry:read registry:write",
  })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("bench")
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(setup.secret));
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const call = async (port: number, route: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${port}${route}`, {
      method: body === undefined ? "GET" : "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as any;
    if (response.status >= 300) throw new Error(`${route}: ${response.status} ${JSON.stringify(json).slice(0, 300)}`);
    return json;
  };

  // Registry and data: one group of 10 float features, 1,000 users, then every cell read once
  // so Redis holds it (the refill runs after each response).
  const group = await call(ports.admin, "/v1/admin/groups", { name: "load", displayName: "load", entityType: "user" });
  const fieldIds: string[] = [];
  for (const name of featureNames) {
    const feature = await call(ports.admin, `/v1/admin/groups/${group.id}/features`, {
      name,
      displayName: name,
      dataType: "float64",
      sourceType: "stream",
    });
    // The online store's field of the feature's version, as the product reads it.
    fieldIds.push(`${feature.id}@${feature.currentVersion}`);
  }
  const ids = Array.from({ length: entityCount }, (_, i) => `user-${i}`);
  const now = new Date().toISOString();
  const pushed = await call(hosts[0]!.port, "/v1/features/push", {
    entityType: "user",
    rows: ids.map((entityId, i) => ({
      entityId,
      eventTimestamp: now,
      features: Object.fromEntries(featureNames.map((n, j) => [n, i + j / 100])),
    })),
  });
  if (pushed.accepted !== entityCount) throw new Error(`push accepted ${pushed.accepted}`);
  for (let i = 0; i < entityCount; i += 100) {
    await call(hosts[0]!.port, "/v1/features/online", {
      entityType: "user",
      entityIds: ids.slice(i, i + 100),
      features: featureNames,
    });
  }
  await new Promise((r) => setTimeout(r, 500));

  // The floor reads as the product does: plain JSON replies (no base64), no deserialization.
  const redis = new Redis({
    url: setup.upstashUrl,
    token: localStack.upstashToken,
    automaticDeserialization: false,
    responseEncoding: false,
  });
  const keys = await Promise.all(ids.map((id) => valueKey(tenantId, group.id, id)));

  // Sequential warm reads over HTTP against the raw pipelined read of the same cells.
  const iterations = quick ? 50 : 500;
  for (const host of hosts)
    for (const entities of [1, 100]) {
      const body = JSON.stringify(
        entities === 1
          ? { entityType: "user", entityId: ids[0], features: featureNames }
          : { entityType: "user", entityIds: ids.slice(0, entities), features: featureNames },
      );
      const product = async () => {
        const response = await fetch(`http://127.0.0.1:${host.port}/v1/features/online`, {
          method: "POST",
          headers,
          body,
        });
        const json = (await response.json()) as any;
        if (json.metadata?.servedFrom !== "redis")
          throw new Error(`not a warm read: ${JSON.stringify(json).slice(0, 200)}`);
      };
      const floor = async () => {
        const p = redis.pipeline();
        for (const key of keys.slice(0, entities)) p.hmget(key, ...fieldIds);
        if ((await p.exec()).length !== entities) throw new Error("floor read failed");
      };
      const a: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < iterations + 20; i++) {
        let t = performance.now();
        await product();
        const productMs = performance.now() - t;
        t = performance.now();
        await floor();
        const floorMs = performance.now() - t;
        if (i >= 20) {
          a.push(productMs);
          b.push(floorMs);
        }
      }
      for (const p of [50, 99]) {
        results.push(
          measure(
            `online_read_http_p${p}`,
            { entities, features: 10, via: host.name },
            round(percentile(a, p)),
            "ms",
            round(percentile(b, p)),
            "the same cells read with one raw pipelined Upstash REST call (E x HMGET) over HTTP from the same Node process",
          ),
        );
      }
    }

  if (sequentialOnly) return results;

  // Load: 64 connections, random warm users, 1 x 10 each.
  const duration = quick ? 3 : 60;
  // workerd's heap grows in steps under 64 connections before it levels off (measured: from
  // ~190 MB to ~600 MB over the first ~50 s, then flat): warm up first, then sample.
  const warmUp = quick ? 2 : 45;
  const pick = () => ids[Math.floor(Math.random() * entityCount)]!;
  // Where each read was answered from: under saturation the Redis deadline (measured inside
  // the isolate, so it includes queueing) sends reads to Postgres.
  const servedFrom = new Map<string, number>();
  const readRequest = {
    method: "POST" as const,
    path: "/v1/features/online",
    headers,
    setupRequest: (request: any) => ({
      ...request,
      body: JSON.stringify({ entityType: "user", entityId: pick(), features: featureNames }),
    }),
    onResponse: (status: number, body: string) => {
      let where = `http ${status}`;
      try {
        where = JSON.parse(body).metadata?.servedFrom ?? where;
      } catch {}
      servedFrom.set(where, (servedFrom.get(where) ?? 0) + 1);
    },
  };
  const pushRequest = {
    method: "POST" as const,
    path: "/v1/features/push",
    headers,
    setupRequest: (request: any) => ({
      ...request,
      body: JSON.stringify({
        entityType: "user",
        rows: [
          {
            entityId: pick(),
            eventTimestamp: new Date().toISOString(),
            features: Object.fromEntries(featureNames.map((n) => [n, Math.random()])),
          },
        ],
      }),
    }),
  };
  const floorRequest = {
    method: "POST" as const,
    path: "/pipeline",
    headers: { authorization: `Bearer ${localStack.upstashToken}`, "content-type": "application/json" },
    setupRequest: (request: any) => ({
      ...request,
      body: JSON.stringify([["HMGET", keys[Math.floor(Math.random() * entityCount)], ...fieldIds]]),
    }),
  };
  const floorRun = await runAutocannon({
    url: setup.upstashUrl,
    connections: 64,
    duration,
    requests: [floorRequest],
  });
  const runs = [
    { mix: "reads", requests: [readRequest] },
    { mix: "90% reads, 10% pushes", requests: [...Array(9).fill(readRequest), pushRequest] },
  ];
  // Quick mode loads only the workerd host: wrangler dev's figures need the full run anyway.
  for (const host of quick ? hosts.filter((h) => h.name !== "wrangler dev") : hosts) {
    // Warm-up (not measured): the isolate's heap grows to its working size under 64 connections.
    await runAutocannon({
      url: `http://127.0.0.1:${host.port}`,
      connections: 64,
      duration: warmUp,
      requests: runs[1]!.requests,
    });
    for (const run of runs) {
      servedFrom.clear();
      const rssStart = host.rssMb();
      const rssSeries: number[] = [];
      const sampler = setInterval(() => rssSeries.push(host.rssMb()), (duration * 1000) / 6);
      const result = await runAutocannon({
        url: `http://127.0.0.1:${host.port}`,
        connections: 64,
        duration,
        requests: run.requests,
      });
      clearInterval(sampler);
      await new Promise((r) => setTimeout(r, quick ? 500 : 2000)); // let waitUntil work finish
      const rssEnd = host.rssMb();
      const params = { via: host.name, connections: 64, seconds: duration, mix: run.mix };
      const readsServedFrom = Object.fromEntries(servedFrom);
      const floorName =
        "the same 64 connections on the Upstash endpoint itself: one HMGET of one user's 10 cells per request";
      results.push(
        measure(
          "load_throughput",
          params,
          round(result.requests.average, 0),
          "req/s",
          round(floorRun.requests.average, 0),
          floorName,
          { total: result.requests.total, readsServedFrom },
        ),
        measure("load_p50", params, result.latency.p50, "ms", floorRun.latency.p50, floorName),
        measure("load_p99", params, result.latency.p99, "ms", floorRun.latency.p99, floorName),
        measure(
          "load_errors",
          params,
          result.errors + result.timeouts + result.non2xx,
          "requests",
          0,
          "none expected: connection errors + timeouts + non-2xx answers",
          { total: result.requests.total, non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts },
        ),
        measure(
          "load_serving_rss",
          params,
          rssEnd,
          "MB",
          rssStart,
          "resident memory of the serving worker's workerd before the run (value: after it)",
          { peakMb: Math.max(rssStart, ...rssSeries), sixthsOfTheRunMb: rssSeries },
        ),
      );
    }
  }
  return results;
}
