// Serving health, collected off the hot path: after a tenant's request is answered, its
// route, where the answer came from and its outcome are counted in the isolate's memory.
// At most every SERVING_METRICS_FLUSH_MS an isolate adds its counts to per-minute Redis
// hashes, in waitUntil (after the response), so a read stays one Redis round trip. With an
// Analytics Engine binding (SERVING_METRICS, production) each request is also one data
// point there (writeDataPoint does not wait). Counts an isolate holds when it is evicted are
// lost: this is health, not billing.
import type { MiddlewareHandler } from "hono";
import { parseEnv, servingEnv } from "#shared/env.ts";
import type { AppBindings } from "#shared/http/bindings.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";
import type { ServingCounts } from "#shared/online-store/store.ts";

/** The routes counted; anything else (a 404) is "other", so input cannot grow the hashes. */
export const countedRoutes = [
  "/v1/features/online",
  "/v1/features/push",
  "/v1/features/historical",
  "/v1/features/batch",
  "/v1/embeddings/search",
] as const;

export type AnswerSource = "redis" | "postgres" | "fallback" | "none";
export type Outcome = "ok" | "rejected" | "unavailable" | "error";

interface AnalyticsEngine {
  writeDataPoint(point: { blobs?: string[]; doubles?: number[]; indexes?: string[] }): void;
}

/**
 * Where an online read's answer came from, by the round trips the route reports: Redis
 * alone, Postgres alone (Redis off or down), or a fallback (Redis asked, then Postgres).
 */
export function answerSource(headers: Headers): AnswerSource {
  const redis = Number(headers.get("x-redis-round-trips") ?? 0);
  const postgres = Number(headers.get("x-postgres-round-trips") ?? 0);
  if (redis > 0 && postgres > 0) return "fallback";
  if (redis > 0) return "redis";
  if (postgres > 0) return "postgres";
  return "none";
}

export function outcomeOf(status: number): Outcome {
  if (status < 400) return "ok";
  if (status === 503) return "unavailable";
  return status < 500 ? "rejected" : "error";
}

const pending = new Map<string, ServingCounts>();
let lastFlush = 0;

function count(tenantId: string, minute: number, field: string) {
  const key = `${tenantId}|${minute}`;
  let entry = pending.get(key);
  if (!entry) {
    entry = { tenantId, minute, counts: {} };
    pending.set(key, entry);
  }
  entry.counts[field] = (entry.counts[field] ?? 0) + 1;
}

/** Counts every authenticated request of the serving API once it is answered. */
export function servingMetrics(): MiddlewareHandler<AppBindings> {
  return async (c, next) => {
    await next();
    const auth = c.get("auth");
    if (!auth) return;
    const path = c.req.path;
    const route = (countedRoutes as readonly string[]).includes(path) ? path : "other";
    const source = answerSource(c.res.headers);
    const outcome = outcomeOf(c.res.status);
    const now = Date.now();
    count(auth.tenantId, Math.floor(now / 60_000), `${route}|${source}|${outcome}`);
    const analytics = c.env.SERVING_METRICS as AnalyticsEngine | undefined;
    analytics?.writeDataPoint?.({ blobs: [route, source, outcome], doubles: [1], indexes: [auth.tenantId] });
    const { SERVING_METRICS_FLUSH_MS } = parseEnv(c.env, servingEnv);
    if (now - lastFlush < SERVING_METRICS_FLUSH_MS) return;
    lastFlush = now;
    const batch = [...pending.values()];
    pending.clear();
    const store = connectOnlineStore(parseEnv(c.env, servingEnv));
    const flush = store.addServingCounts(batch, 2000).catch((error: Error) => {
      console.warn("serving metrics flush failed", error.message);
    });
    try {
      c.executionCtx.waitUntil(flush);
    } catch {
      // No execution context (a direct app.fetch in a test): the flush runs on its own.
    }
  };
}
