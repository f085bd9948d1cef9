// The /healthz contract every worker keeps; each worker's own test file runs it.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

interface FetchWorker {
  fetch: (request: Request, env: any, ctx: ExecutionContext) => Response | Promise<Response>;
}

async function call(worker: FetchWorker, path: string, bindings: Record<string, unknown>) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`http://worker${path}`), bindings, ctx);
  await waitOnExecutionContext(ctx);
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

export function describeHealthRoute(service: string, worker: FetchWorker): void {
  describe(`${service} GET /healthz`, () => {
    it("reports Postgres and Redis reachable, without a token", async () => {
      const { status, body, headers } = await call(worker, "/healthz", env);
      expect(status).toBe(200);
      expect(body.status).toBe("ok");
      expect(body.service).toBe(service);
      expect(body.checks.postgres.ok).toBe(true);
      expect(body.checks.redis.ok).toBe(true);
      expect(headers.get("x-request-id")).toMatch(/.+/);
    });

    it("is degraded (200) when Redis is unreachable", async () => {
      const { status, body } = await call(worker, "/healthz", { ...env, UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9" });
      expect(status).toBe(200);
      expect(body.status).toBe("degraded");
      expect(body.checks.redis.ok).toBe(false);
      expect(body.checks.postgres.ok).toBe(true);
    });

    it("is down (503) when Postgres rejects the login", async () => {
      const { status, body } = await call(worker, "/healthz", {
        ...env,
        DATABASE_URL: String(env.DATABASE_URL).replace("/featurestore_test", "/no_such_database"),
      });
      expect(status).toBe(503);
      expect(body.status).toBe("down");
      expect(body.checks.postgres.ok).toBe(false);
      expect(body.checks.postgres.error).toMatch(/no_such_database/);
    });

    it("answers a misconfigured worker with the envelope, naming the setting", async () => {
      const { status, body } = await call(worker, "/healthz", { ...env, DATABASE_URL: "not a url" });
      expect(status).toBe(500);
      expect(body.error.code).toBe("MISCONFIGURED");
      expect(body.error.message).toMatch(/DATABASE_URL/);
      expect(JSON.stringify(body)).not.toContain(String(env.JWT_SECRET));
    });

    it("answers an unknown route with a 404 envelope", async () => {
      const { status, body } = await call(worker, "/no/such/route", env);
      expect(status).toBe(404);
      expect(body.error.code).toBe("NOT_FOUND");
      expect(typeof body.error.requestId).toBe("string");
    });
  });
}
