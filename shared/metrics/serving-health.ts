// Serving health as the console shows it: per route over the last hour, reads answered from
// Redis, from Postgres, after a fallback, and rejected / unavailable / failed answers, from
// the per-minute counts the serving worker writes (serving-metrics.ts).
import type { Env } from "#shared/env.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";

export interface RouteHealth {
  route: string;
  requests: number;
  redis: number;
  postgres: number;
  fallback: number;
  rejected: number;
  unavailable: number;
  errors: number;
}

export interface ServingHealth {
  minutes: number;
  routes: RouteHealth[];
  /** Requests per minute over the hour, oldest first: the sparkline. */
  perMinute: number[];
  store: "redis" | "disabled";
}

export async function readServingHealth(env: Env, tenantId: string, now = Date.now()): Promise<ServingHealth> {
  const store = connectOnlineStore(env);
  const last = Math.floor(now / 60_000);
  const minutes = Array.from({ length: 60 }, (_, i) => last - 59 + i);
  const hashes = await store.servingCounts(tenantId, minutes);
  const routes = new Map<string, RouteHealth>();
  const perMinute = hashes.map((hash) => {
    let total = 0;
    for (const [field, n] of Object.entries(hash)) {
      const [route = "other", source, outcome] = field.split("|");
      let health = routes.get(route);
      if (!health) {
        health = { route, requests: 0, redis: 0, postgres: 0, fallback: 0, rejected: 0, unavailable: 0, errors: 0 };
        routes.set(route, health);
      }
      health.requests += n;
      if (source === "redis" || source === "postgres" || source === "fallback") health[source] += n;
      if (outcome === "rejected") health.rejected += n;
      if (outcome === "unavailable") health.unavailable += n;
      if (outcome === "error") health.errors += n;
      total += n;
    }
    return total;
  });
  return {
    minutes: 60,
    routes: [...routes.values()].sort((a, b) => b.requests - a.requests),
    perMinute,
    store: store.enabled ? "redis" : "disabled",
  };
}
