// Warm online reads through the serving worker against the floor: the same cells read with
// one raw pipelined Upstash call (E x HMGET) from the same runtime.
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { testEnv } from "#harness/stack.ts";
import { signToken } from "#harness/tokens.ts";
import { valueKey } from "#shared/online-store/keys.ts";
import { connectRedis } from "#shared/online-store/redis-client.ts";
import worker from "../workers/serving/src/index.ts";
import { interleaved, percentile, report } from "./stats.ts";

const quick = Boolean(env.BENCH_QUICK);
const iterations = quick ? 60 : 400;

it("online read: 1 x 10 and 100 x 10, p50/p99 against a raw pipelined Redis read", async () => {
  const ctx = testTenantContext();
  const names = Array.from({ length: 10 }, (_, i) => `f${i}`);
  const { features, groups } = await defineFeatures(ctx, [
    { name: "g", entityType: "user", features: names.map((name) => ({ name, dataType: "float64" as const })) },
  ]);
  const ids = Array.from({ length: 100 }, (_, i) => `user-${i}`);
  const client = apiClient(worker).as(ctx.tenantId);
  const push = await client.post("/v1/features/push", {
    entityType: "user",
    rows: ids.map((entityId, i) => ({
      entityId,
      eventTimestamp: new Date().toISOString(),
      features: Object.fromEntries(names.map((n, j) => [n, i + j / 100])),
    })),
  });
  expect(push.body.accepted).toBe(100);
  const token = await signToken({ tenantId: ctx.tenantId, scopes: ["features:read"], expiresIn: 3600 });
  const redis = connectRedis(testEnv())!;
  const groupId = groups.get("g")!.id;
  // The online store's fields: one per feature version (`<id>@<version>`), as the product reads them.
  const fieldIds = names.map((n) => {
    const feature = features.get(`g.${n}`)!;
    return `${feature.id}@${feature.currentVersion}`;
  });
  const noop = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;

  for (const entities of [1, 100]) {
    const entityIds = ids.slice(0, entities);
    const keys = await Promise.all(entityIds.map((id) => valueKey(ctx.tenantId, groupId, id)));
    const body = JSON.stringify(
      entities === 1
        ? { entityType: "user", entityId: entityIds[0], features: names }
        : { entityType: "user", entityIds, features: names },
    );
    const product = async () => {
      const response = await worker.fetch(
        new Request("http://serving/v1/features/online", {
          method: "POST",
          // As every HTTP client sends it; without it the body limit has to read the stream to count.
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "content-length": String(body.length),
          },
          body,
        }),
        env,
        noop,
      );
      const json = (await response.json()) as any;
      if (response.status !== 200 || json.metadata.servedFrom !== "redis")
        throw new Error(`not a warm read: ${JSON.stringify(json).slice(0, 200)}`);
      // Serving health is counted after the answer (in memory, flushed in waitUntil): the
      // read itself stays one Redis round trip.
      if (response.headers.get("x-redis-round-trips") !== "1")
        throw new Error(`a warm read took ${response.headers.get("x-redis-round-trips")} Redis round trips`);
    };
    const floor = async () => {
      const p = redis.pipeline();
      for (const key of keys) p.hmget(key, ...fieldIds);
      const cells = await p.exec();
      if (cells.length !== entities) throw new Error("floor read failed");
    };
    await interleaved(20, product, floor); // warm both paths
    // The clock has millisecond resolution: enough calls per sample to resolve ~0.02 ms.
    const repeat = entities === 1 ? 50 : 5;
    const { a, b } = await interleaved(iterations, product, floor, repeat);
    for (const [stat, p] of [
      ["p50", 50],
      ["p99", 99],
    ] as const) {
      report({
        name: `online_read_${stat}`,
        params: { entities, features: names.length, iterations, callsPerSample: repeat },
        // Checked on every timed read (above), with serving health counted.
        extra: { redisRoundTrips: 1 },
        value: Math.round(percentile(a, p) * 1000) / 1000,
        unit: "ms",
        floor: Math.round(percentile(b, p) * 1000) / 1000,
        floorName: "one raw pipelined Upstash REST call (E x HMGET of the same cells) from the same workerd",
      });
    }
  }
});
