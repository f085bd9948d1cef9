// The local stack with a fault proxy on each hop, for the fault tests and the reliability run:
//
//   worker ──"neon"──▶ Neon endpoint ──"postgres"──▶ PostgreSQL
//   worker ──"upstash"──▶ Upstash endpoint ──"redis"──▶ Redis
//
// Each proxy is switched by name through the control URL (fault-control.ts) or directly.
import { startFaultControl } from "./fault-control.ts";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.ts";
import { startNeonServer } from "./neon-server.ts";
import { startUpstashServer } from "./upstash-server.ts";

export interface FaultStack {
  /** Worker bindings that route every Postgres and Redis call through the proxies. */
  bindings: { NEON_FETCH_ENDPOINT: string; NEON_WS_PROXY: string; UPSTASH_REDIS_REST_URL: string };
  controlUrl: string;
  proxies: Record<"neon" | "postgres" | "upstash" | "redis", FaultProxy>;
  clear(): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultStack(options: {
  pgHost: string;
  pgPort: number;
  redisUrl: string;
  upstashToken: string;
}): Promise<FaultStack> {
  const redis = new URL(options.redisUrl);
  const postgresProxy = await startFaultProxy({
    name: "postgres",
    target: { host: options.pgHost, port: options.pgPort },
  });
  const redisProxy = await startFaultProxy({
    name: "redis",
    target: { host: redis.hostname, port: Number(redis.port || 6379) },
  });
  const neon = await startNeonServer({ pgHost: "127.0.0.1", pgPort: postgresProxy.port });
  const redisViaProxy = new URL(options.redisUrl);
  redisViaProxy.hostname = "127.0.0.1";
  redisViaProxy.port = String(redisProxy.port);
  const upstash = await startUpstashServer({ redisUrl: redisViaProxy.toString(), token: options.upstashToken });
  const neonProxy = await startFaultProxy({ name: "neon", target: { host: "127.0.0.1", port: neon.port } });
  const upstashProxy = await startFaultProxy({ name: "upstash", target: { host: "127.0.0.1", port: upstash.port } });
  const proxies = { neon: neonProxy, postgres: postgresProxy, upstash: upstashProxy, redis: redisProxy };
  const control = await startFaultControl(Object.values(proxies));
  return {
    bindings: {
      NEON_FETCH_ENDPOINT: `http://127.0.0.1:${neonProxy.port}/sql`,
      NEON_WS_PROXY: `127.0.0.1:${neonProxy.port}/v1`,
      UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${upstashProxy.port}`,
    },
    controlUrl: control.url,
    proxies,
    clear: async () => {
      await Promise.all(Object.values(proxies).map((p) => p.set({ kind: "none" })));
    },
    close: async () => {
      await Promise.allSettled([control.close(), ...Object.values(proxies).map((p) => p.close())]);
      await Promise.allSettled([neon.close(), upstash.close()]);
    },
  };
}
