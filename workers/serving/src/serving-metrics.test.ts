// Serving health is counted after the answer: the read stays one Redis round trip, each
// request becomes an Analytics Engine data point (asserted through a wrapper: the local
// binding stores nothing), and the per-minute counts reach Redis for the console.
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { testEnv } from "#harness/stack.ts";
import { readServingHealth } from "#shared/metrics/serving-health.ts";
import worker from "./index.ts";

describe("serving health", () => {
  it("counts reads by source and outcome, off the hot path", async () => {
    const points: { blobs?: string[]; indexes?: string[] }[] = [];
    const api = apiClient(worker, {
      SERVING_METRICS_FLUSH_MS: "0",
      SERVING_METRICS: { writeDataPoint: (point: (typeof points)[number]) => points.push(point) },
    });
    const ctx = testTenantContext();
    await defineFeatures(ctx, [
      { name: "user", entityType: "user", features: [{ name: "score", dataType: "float64" }] },
    ]);
    const t = api.as(ctx.tenantId);
    await t.post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "u1", eventTimestamp: new Date().toISOString(), features: { score: 0.5 } }],
    });
    const read = { entityType: "user", entityId: "u1", features: ["user.score"] };
    const warm = await t.post("/v1/features/online", read);
    expect(warm.headers.get("x-redis-round-trips")).toBe("1");
    expect(warm.headers.get("x-postgres-round-trips")).toBe("0");
    await t.post("/v1/features/online", read);
    await t.post("/v1/features/online", { ...read, features: ["user.nope"] });
    await api.call("/v1/features/online", { method: "POST", body: read }); // no token: no tenant to count

    expect(points.map((p) => [p.indexes, p.blobs])).toEqual([
      // A push is not a read: it has no answer source.
      [[ctx.tenantId], ["/v1/features/push", "none", "ok"]],
      [[ctx.tenantId], ["/v1/features/online", "redis", "ok"]],
      [[ctx.tenantId], ["/v1/features/online", "redis", "ok"]],
      [[ctx.tenantId], ["/v1/features/online", "none", "rejected"]],
    ]);
    const health = await readServingHealth(testEnv(), ctx.tenantId);
    const online = health.routes.find((r) => r.route === "/v1/features/online");
    expect(online).toMatchObject({ requests: 3, redis: 2, postgres: 0, fallback: 0, rejected: 1, errors: 0 });
    expect(health.perMinute.reduce((a, b) => a + b, 0)).toBe(4);
    // Another tenant's hour is empty.
    expect((await readServingHealth(testEnv(), crypto.randomUUID())).routes).toEqual([]);
  });
});
