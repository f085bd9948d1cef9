import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "./index.ts";

async function health(bindings: Record<string, unknown>) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request("http://serving/healthz"), bindings, ctx);
  await waitOnExecutionContext(ctx);
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

describe("serving GET /healthz", () => {
  it("reports Postgres and Redis reachable, without a token", async () => {
    const { status, body } = await health(env);
    expect(status).toBe(200);
    expect(body.status).toBe("ok");
    expect(body.service).toBe("serving");
    expect(body.checks.postgres.ok).toBe(true);
    expect(body.checks.redis.ok).toBe(true);
  });

  it("is degraded (200) when Redis is unreachable", async () => {
    const { status, body } = await health({ ...env, UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9" });
    expect(status).toBe(200);
    expect(body.status).toBe("degraded");
    expect(body.checks.redis.ok).toBe(false);
    expect(body.checks.postgres.ok).toBe(true);
  });

  it("is down (503) when Postgres rejects the login", async () => {
    const { status, body } = await health({
      ...env,
      DATABASE_URL: String(env.DATABASE_URL).replace("/featurestore_test", "/no_such_database"),
    });
    expect(status).toBe(503);
    expect(body.status).toBe("down");
    expect(body.checks.postgres.ok).toBe(false);
    expect(body.checks.postgres.error).toMatch(/no_such_database/);
  });

  it("answers a misconfigured worker with the error envelope, naming the setting", async () => {
    const { status, body } = await health({ ...env, DATABASE_URL: "not a url" });
    expect(status).toBe(500);
    expect(body.error.code).toBe("MISCONFIGURED");
    expect(body.error.message).toMatch(/DATABASE_URL/);
    expect(typeof body.error.requestId).toBe("string");
  });

  it("answers an unknown route with a 404 envelope", async () => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(new Request("http://serving/nope"), env, ctx);
    expect(response.status).toBe(404);
    const body = (await response.json()) as Record<string, any>;
    expect(body.error.code).toBe("NOT_FOUND");
  });
});
