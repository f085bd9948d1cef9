// Reachability of the backing services, for each worker's GET /healthz. No auth, no data.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { connectDatabase } from "#shared/db/client.ts";
import { withDeadline } from "#shared/deadline.ts";
import { type Env, parseEnv } from "#shared/env.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";
import type { AppBindings } from "./bindings.ts";

const checkSchema = z.object({
  ok: z.boolean(),
  configured: z.boolean(),
  latencyMs: z.number().optional(),
  error: z.string().optional(),
});
export type ServiceCheck = z.infer<typeof checkSchema>;

const healthSchema = z.object({
  status: z.enum(["ok", "degraded", "down"]),
  service: z.string(),
  checks: z.object({ postgres: checkSchema, redis: checkSchema }),
});

const checkDeadlineMs = 3000;

async function timed(run: () => Promise<unknown>): Promise<ServiceCheck> {
  const started = Date.now();
  try {
    await run();
    return { ok: true, configured: true, latencyMs: Date.now() - started };
  } catch (error) {
    return {
      ok: false,
      configured: true,
      latencyMs: Date.now() - started,
      error: (error as Error).message.slice(0, 200),
    };
  }
}

export function checkPostgres(env: Env): Promise<ServiceCheck> {
  return timed(() => withDeadline(connectDatabase(env).sql`SELECT 1 AS ok`, checkDeadlineMs));
}

export async function checkRedis(env: Env): Promise<ServiceCheck> {
  const store = connectOnlineStore(env);
  if (!store.enabled) return { ok: false, configured: false, error: "UPSTASH_REDIS_REST_URL is not set" };
  // The store applies the deadline itself.
  return timed(() => store.ping(checkDeadlineMs));
}

/**
 * GET /healthz. Postgres is required: without it the status is "down" (503). Redis is a
 * cache: without it the status is "degraded" (200), since reads still answer from Postgres.
 */
export function registerHealthRoute(app: OpenAPIHono<AppBindings>, service: string): void {
  const route = createRoute({
    method: "get",
    path: "/healthz",
    summary: "Reachability of Postgres and Redis",
    responses: {
      200: { description: "Postgres reachable", content: { "application/json": { schema: healthSchema } } },
      503: { description: "Postgres unreachable", content: { "application/json": { schema: healthSchema } } },
    },
  });
  app.openapi(route, async (c) => {
    const env = parseEnv(c.env);
    const [postgres, redis] = await Promise.all([checkPostgres(env), checkRedis(env)]);
    const status = !postgres.ok ? "down" : redis.ok ? "ok" : "degraded";
    return c.json({ status, service, checks: { postgres, redis } }, postgres.ok ? 200 : 503);
  });
}
