import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { apiClient, expectError } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { appDatabase, testEnv } from "#harness/stack.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { tenantKey } from "#shared/online-store/keys.ts";
import { connectRedis } from "#shared/online-store/redis-client.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

/** A tenant with one group of every data type, and a message group with a 60 s TTL. */
async function typedTenant() {
  const ctx = testTenantContext();
  await defineFeatures(ctx, [
    {
      name: "user",
      entityType: "user",
      features: [
        { name: "count", dataType: "int64" },
        { name: "big", dataType: "int64" },
        { name: "score", dataType: "float64", validationRules: { min: -1, max: 1 } },
        { name: "channel", dataType: "string", validationRules: { allowedValues: ["web", "whatsapp"] } },
        { name: "vip", dataType: "bool" },
        { name: "seen_at", dataType: "timestamp" },
        { name: "history", dataType: "array" },
        { name: "vec", dataType: "embedding", embeddingDimension: 3 },
      ],
    },
    { name: "message", entityType: "message", ttlSeconds: 60, features: [{ name: "length", dataType: "int64" }] },
  ]);
  return api.as(ctx.tenantId);
}

/** Deletes every Redis key of a tenant: the cache is gone, Postgres is not. */
async function flushTenantCache(tenantId: string) {
  const redis = connectRedis(testEnv())!;
  const prefix = (await tenantKey(tenantId, "x")).slice(0, -1);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, { match: `${prefix.replace(/[{}]/g, "\\$&")}*`, count: 1000 });
    if (keys.length) await redis.del(...keys);
    cursor = String(next);
  } while (cursor !== "0");
}

describe("online reads: happy paths", () => {
  let t: Awaited<ReturnType<typeof typedTenant>>;
  const eventTime = "2026-11-20T10:00:00.123Z";
  beforeAll(async () => {
    t = await typedTenant();
    const push = await t.post("/v1/features/push", {
      entityType: "user",
      rows: [
        {
          entityId: "u-1",
          eventTimestamp: eventTime,
          features: {
            count: 42,
            big: "9223372036854775807",
            score: -0.25,
            channel: "web",
            vip: true,
            seen_at: "2026-11-19T08:30:00+02:00",
            history: [1, "two", null],
            vec: [0.1, 0.2, 0.3],
          },
        },
      ],
    });
    expect(push.status, JSON.stringify(push.body)).toBe(200);
    expect(push.body).toMatchObject({ accepted: 1, rejected: 0, cache: "written" });
  });

  it("reads back every type with its timestamp (the seed's FeatureResponse plus statuses)", async () => {
    const names = ["count", "big", "score", "channel", "vip", "seen_at", "history", "vec", "user.count"];
    const r = await t.post("/v1/features/online", { entityType: "user", entityId: "u-1", features: names });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.entityType).toBe("user");
    expect(r.body.entityId).toBe("u-1");
    expect(r.body.features).toEqual({
      count: 42,
      big: "9223372036854775807",
      score: -0.25,
      channel: "web",
      vip: true,
      seen_at: "2026-11-19T06:30:00.000Z",
      history: [1, "two", null],
      vec: [0.1, 0.2, 0.3],
      "user.count": 42,
    });
    for (const name of names) {
      expect(r.body.timestamps[name]).toBe(eventTime);
      expect(r.body.statuses[name]).toBe("PRESENT");
    }
    expect(r.body.metadata.source).toBe("online");
    expect(typeof r.body.metadata.latencyMs).toBe("number");
  });

  it("answers a batch with NOT_FOUND for entities that have no values", async () => {
    const r = await t.post("/v1/features/online", {
      entityType: "user",
      entityIds: ["u-1", "u-404"],
      features: ["count", "vip"],
    });
    expect(r.status).toBe(200);
    expect(r.body.results).toEqual([
      {
        entityId: "u-1",
        features: { count: 42, vip: true },
        timestamps: { count: eventTime, vip: eventTime },
        statuses: { count: "PRESENT", vip: "PRESENT" },
      },
      {
        entityId: "u-404",
        features: { count: null, vip: null },
        timestamps: { count: null, vip: null },
        statuses: { count: "NOT_FOUND", vip: "NOT_FOUND" },
      },
    ]);
  });

  it("gives EXPIRED (value null) past the group's TTL and PRESENT within it", async () => {
    const push = await t.post("/v1/features/push", {
      entityType: "message",
      rows: [
        { entityId: "m-old", eventTimestamp: minutesAgo(2), features: { length: 10 } },
        { entityId: "m-new", eventTimestamp: minutesAgo(0.2), features: { length: 20 } },
      ],
    });
    expect(push.body.accepted).toBe(2);
    const r = await t.post("/v1/features/online", {
      entityType: "message",
      entityIds: ["m-old", "m-new"],
      features: ["length"],
    });
    expect(r.body.results.map((e: any) => [e.statuses.length, e.features.length])).toEqual([
      ["EXPIRED", null],
      ["PRESENT", 20],
    ]);
  });

  it("answers EXPIRED from the data alone: before and after TTL expiry cleans the online tables, as historical does", async () => {
    const entityId = `m-expired-${crypto.randomUUID()}`;
    await t.post("/v1/features/push", {
      entityType: "message",
      rows: [{ entityId, eventTimestamp: minutesAgo(3), features: { length: 10 } }],
    });
    const withoutRedis = apiClient(worker, { UPSTASH_REDIS_REST_URL: "", UPSTASH_REDIS_REST_TOKEN: "" }).as(t.tenantId);
    const read = async () =>
      (await withoutRedis.post("/v1/features/online", { entityType: "message", entityId, features: ["length"] })).body
        .statuses.length;
    expect(await read()).toBe("EXPIRED");
    await withTenantSql(appDatabase(), t.tenantId, (sql) => [sql`SELECT expire_online_values(100000)`]);
    const [left] = await withTenantSql(appDatabase(), t.tenantId, (sql) => [
      sql`SELECT 1 FROM ai_feature_online WHERE entity_id = ${entityId}`,
    ]);
    expect(left).toEqual([]);
    expect(await read()).toBe("EXPIRED");
    const historical = await t.post("/v1/features/historical", {
      entityType: "message",
      entityTimestampPairs: [{ entityId, timestamp: new Date().toISOString() }],
      features: ["length"],
    });
    expect(historical.body.rows[0].statuses.length).toBe("EXPIRED");
    // An entity that never had a value stays NOT_FOUND.
    const never = await withoutRedis.post("/v1/features/online", {
      entityType: "message",
      entityId: "never-seen",
      features: ["length"],
    });
    expect(never.body.statuses.length).toBe("NOT_FOUND");
  });

  it("keeps the newest event whatever order pushes arrive in, in Redis and in Postgres", async () => {
    const at = (minute: number) => `2026-11-21T10:${String(minute).padStart(2, "0")}:00.000Z`;
    const push = (minute: number) =>
      t.post("/v1/features/push", {
        entityType: "user",
        rows: [{ entityId: "u-race", eventTimestamp: at(minute), features: { count: minute } }],
      });
    await push(30);
    await push(10); // late and older: must not win
    let r = await t.post("/v1/features/online", { entityType: "user", entityId: "u-race", features: ["count"] });
    expect(r.body.features.count).toBe(30);
    const minutes = Array.from({ length: 24 }, (_, i) => 31 + ((i * 7) % 24));
    await Promise.all(minutes.map(push));
    r = await t.post("/v1/features/online", { entityType: "user", entityId: "u-race", features: ["count"] });
    expect(r.body.features.count).toBe(54);
    expect(r.body.timestamps.count).toBe(at(54));
    await flushTenantCache(t.tenantId);
    r = await t.post("/v1/features/online", { entityType: "user", entityId: "u-race", features: ["count"] });
    expect(r.body.features.count).toBe(54);
    expect(r.body.metadata.servedFrom).toBe("postgres");
    const [offline] = await withTenantSql(appDatabase(), t.tenantId, (sql) => [
      sql`SELECT count(*)::int AS n FROM ai_feature_values WHERE entity_id = 'u-race'`,
    ]);
    expect(offline![0]!.n).toBe(26);
  });

  it("writes the same (feature, entity, event time) to the offline store once", async () => {
    const row = { entityId: "u-once", eventTimestamp: eventTime, features: { count: 1 } };
    const first = await t.post("/v1/features/push", { entityType: "user", rows: [row] });
    const second = await t.post("/v1/features/push", { entityType: "user", rows: [row, row] });
    expect(first.body.offlineInserted).toBe(1);
    expect(second.body.offlineInserted).toBe(0);
  });

  it("after the cache is flushed, answers from Postgres with the same values and refills Redis", async () => {
    const names = ["count", "big", "score", "channel", "vip", "seen_at", "history", "vec"];
    await t.post("/v1/features/online", { entityType: "user", entityId: "u-1", features: names }); // warm
    const before = await t.post("/v1/features/online", { entityType: "user", entityId: "u-1", features: names });
    expect(before.body.metadata.servedFrom).toBe("redis");
    await flushTenantCache(t.tenantId);
    const fromPostgres = await t.post("/v1/features/online", { entityType: "user", entityId: "u-1", features: names });
    expect(fromPostgres.body.metadata.servedFrom).toBe("postgres");
    expect(fromPostgres.body.features).toEqual(before.body.features);
    expect(fromPostgres.body.timestamps).toEqual(before.body.timestamps);
    const refilled = await t.post("/v1/features/online", { entityType: "user", entityId: "u-1", features: names });
    expect(refilled.body.metadata.servedFrom).toBe("redis");
    expect(refilled.body.features).toEqual(before.body.features);
  });

  it("answers from Postgres when Redis is unreachable", async () => {
    const token = await import("#harness/tokens.ts").then((m) =>
      m.signToken({ tenantId: t.tenantId, scopes: ["features:read"] }),
    );
    const response = await worker.fetch(
      new Request("http://worker/v1/features/online", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ entityType: "user", entityId: "u-1", features: ["count", "vec"] }),
      }),
      { ...env, UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9" },
      { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext,
    );
    const body = (await response.json()) as any;
    expect(response.status).toBe(200);
    expect(body.features).toEqual({ count: 42, vec: [0.1, 0.2, 0.3] });
    expect(body.metadata).toMatchObject({ servedFrom: "postgres", redis: "unavailable" });
  });

  it("answers from Postgres when Redis does not answer within REDIS_TIMEOUT_MS", async () => {
    const slow = apiClient(worker, { UPSTASH_REDIS_REST_URL: inject("stalledUrl"), REDIS_TIMEOUT_MS: "50" });
    const started = Date.now();
    const r = await slow
      .as(t.tenantId, ["features:read"])
      .post("/v1/features/online", { entityType: "user", entityId: "u-1", features: ["count", "vec"] });
    expect(r.status).toBe(200);
    expect(r.body.features).toEqual({ count: 42, vec: [0.1, 0.2, 0.3] });
    expect(r.body.metadata).toMatchObject({ servedFrom: "postgres", redis: "unavailable" });
    // Two Redis calls at most (registry revision, cells), each cut at 50 ms, then Postgres.
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("answers a past timestamp from the offline store", async () => {
    const r = await t.post("/v1/features/online", {
      entityType: "user",
      entityId: "u-race",
      features: ["count"],
      timestamp: "2026-11-21T10:40:30Z",
    });
    expect(r.body.features.count).toBe(40);
    expect(r.body.metadata.source).toBe("offline");
    const before = await t.post("/v1/features/online", {
      entityType: "user",
      entityId: "u-race",
      features: ["count"],
      timestamp: "2026-11-01T00:00:00Z",
    });
    expect(before.body.statuses.count).toBe("NOT_FOUND");
  });
});

describe("online reads: one Redis round trip when warm", () => {
  it.each([
    [1, 10],
    [100, 10],
    [1000, 50],
  ])(
    "%i entities x %i features",
    async (entities, featureCount) => {
      const ctx = testTenantContext();
      const names = Array.from({ length: featureCount }, (_, i) => `f${i}`);
      await defineFeatures(ctx, [
        { name: "g", entityType: "user", features: names.map((name) => ({ name, dataType: "int64" as const })) },
      ]);
      const t = api.as(ctx.tenantId);
      const ids = Array.from({ length: entities }, (_, i) => `e${i}`);
      const push = await t.post("/v1/features/push", {
        entityType: "user",
        rows: ids.map((entityId, i) => ({
          entityId,
          eventTimestamp: 1_700_000_000_000 + i,
          features: Object.fromEntries(names.map((n, j) => [n, i * 100 + j])),
        })),
      });
      expect(push.body.accepted, JSON.stringify(push.body).slice(0, 300)).toBe(entities);
      // Counted by the Upstash endpoint itself, under a token of this test's own.
      const token = `${inject("upstashToken")}.rt-${ctx.tenantId}`;
      // A deadline that a loaded machine cannot miss: this counts round trips, not their speed.
      const counted = { ...env, UPSTASH_REDIS_REST_TOKEN: token, REDIS_TIMEOUT_MS: "10000" };
      const read = async () => {
        const jwt = await import("#harness/tokens.ts").then((m) =>
          m.signToken({ tenantId: ctx.tenantId, scopes: ["features:read"] }),
        );
        const response = await worker.fetch(
          new Request("http://worker/v1/features/online", {
            method: "POST",
            headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
            body: JSON.stringify({ entityType: "user", entityIds: ids, features: names }),
          }),
          counted,
          { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext,
        );
        return { response, body: (await response.json()) as any };
      };
      await read(); // warms this isolate's registry
      const stats = async () =>
        ((await (await fetch(`${inject("upstashUrl")}/__stats`)).json()) as any).byToken[token] ?? 0;
      const before = await stats();
      const { response, body } = await read();
      expect(response.status).toBe(200);
      expect((await stats()) - before).toBe(1);
      expect(response.headers.get("X-Redis-Round-Trips")).toBe("1");
      expect(response.headers.get("X-Postgres-Round-Trips")).toBe("0");
      expect(body.metadata.servedFrom).toBe("redis");
      expect(body.results).toHaveLength(entities);
      expect(body.results[entities - 1].features[names[featureCount - 1]!]).toBe(
        (entities - 1) * 100 + featureCount - 1,
      );
      // Writing 50,000 values first takes ~6 s alone and more beside the other test files.
    },
    90_000,
  );
});

describe("online reads: bad input", () => {
  let t: Awaited<ReturnType<typeof typedTenant>>;
  beforeAll(async () => {
    t = await typedTenant();
  });
  const read = (body: Record<string, unknown>) =>
    t.post("/v1/features/online", { entityType: "user", entityId: "u", ...body });

  it("names every unknown feature (400 UNKNOWN_FEATURE)", async () => {
    const r = await read({ features: ["count", "nope", "user.missing", "message.length"] });
    const details = expectError(r, 400, "UNKNOWN_FEATURE");
    expect(details.map((d: any) => d.feature)).toEqual(["nope", "user.missing", "message.length"]);
  });

  it.each([
    ["both entityId and entityIds", { entityIds: ["a"], features: ["count"] }],
    ["no features", { features: [] }],
    ["201 features", { features: Array.from({ length: 201 }, (_, i) => `f${i}`) }],
    ["an unknown entity type", { entityType: "account", features: ["count"] }],
    ["an unknown field", { features: ["count"], region: "eu" }],
    ["a 10 KB entity id", { entityId: "x".repeat(10_240), features: ["count"] }],
    ["an empty entity id", { entityId: "", features: ["count"] }],
    ["a bad timestamp", { features: ["count"], timestamp: "yesterday" }],
  ])("rejects %s with 400", async (_label, body) => {
    expectError(await read(body), 400, "VALIDATION_FAILED");
  });

  it("rejects 1,001 entity ids with 400", async () => {
    const ids = Array.from({ length: 1001 }, (_, i) => `e${i}`);
    expectError(
      await t.post("/v1/features/online", { entityType: "user", entityIds: ids, features: ["count"] }),
      400,
      "VALIDATION_FAILED",
    );
  });

  it("rejects malformed JSON with 400", async () => {
    const r = await t.call("/v1/features/online", {
      method: "POST",
      rawBody: '{"entityType": "user", "entityId": NaN}',
      headers: { "content-type": "application/json" },
    });
    expectError(r, 400, "BAD_REQUEST");
  });
});

describe("online reads: security", () => {
  it("requires a token and features:read", async () => {
    expectError(
      await api.call("/v1/features/online", {
        method: "POST",
        body: { entityType: "user", entityId: "u", features: ["x"] },
      }),
      401,
      "UNAUTHORIZED",
    );
    const writer = api.as(crypto.randomUUID(), ["features:write", "registry:read"]);
    expectError(
      await writer.post("/v1/features/online", { entityType: "user", entityId: "u", features: ["x"] }),
      403,
      "FORBIDDEN",
    );
  });

  it("never shows another tenant's features or values", async () => {
    const a = await typedTenant();
    const b = await typedTenant();
    await a.post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "shared-id", eventTimestamp: minutesAgo(1), features: { count: 7 } }],
    });
    const fromB = await b.post("/v1/features/online", {
      entityType: "user",
      entityId: "shared-id",
      features: ["count"],
    });
    expect(fromB.body.statuses.count).toBe("NOT_FOUND");
    const onlyA = testTenantContext();
    await defineFeatures(onlyA, [{ name: "secret", entityType: "user", features: [{ name: "s", dataType: "int64" }] }]);
    expectError(
      await b.post("/v1/features/online", { entityType: "user", entityId: "x", features: ["secret.s"] }),
      400,
      "UNKNOWN_FEATURE",
    );
  });

  it("keeps hostile entity ids in their own keys", async () => {
    const t = await typedTenant();
    const ids = ["a", "a:b", "a*", "a\nb", "a:{b}", "ü:ñ🌍", `${"z".repeat(1000)}`, "%61"];
    await t.post("/v1/features/push", {
      entityType: "user",
      rows: ids.map((entityId, i) => ({ entityId, eventTimestamp: minutesAgo(1), features: { count: i } })),
    });
    const r = await t.post("/v1/features/online", { entityType: "user", entityIds: ids, features: ["count"] });
    expect(r.body.results.map((e: any) => e.features.count)).toEqual(ids.map((_, i) => i));
  });
});

describe("registry changes reach serving", () => {
  it("sees a feature created, and a TTL changed, right after the change", async () => {
    const ctx = testTenantContext();
    const { groups } = await defineFeatures(ctx, [
      { name: "g", entityType: "user", features: [{ name: "a", dataType: "int64" }] },
    ]);
    const t = api.as(ctx.tenantId);
    await t.post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "u", eventTimestamp: minutesAgo(10), features: { a: 1 } }],
    });
    // This isolate now caches the registry with feature a only.
    expect(
      (await t.post("/v1/features/online", { entityType: "user", entityId: "u", features: ["a"] })).body.statuses.a,
    ).toBe("PRESENT");
    const { createFeature } = await import("#shared/registry/features.ts");
    const { updateGroup } = await import("#shared/registry/groups.ts");
    await createFeature(ctx, groups.get("g")!.id, {
      name: "b",
      displayName: "b",
      dataType: "int64",
      sourceType: "stream",
    });
    const afterCreate = await t.post("/v1/features/online", {
      entityType: "user",
      entityId: "u",
      features: ["a", "b"],
    });
    expect(afterCreate.status, JSON.stringify(afterCreate.body)).toBe(200);
    expect(afterCreate.body.statuses).toEqual({ a: "PRESENT", b: "NOT_FOUND" });
    await updateGroup(ctx, groups.get("g")!.id, { ttlSeconds: 60 });
    const afterTtl = await t.post("/v1/features/online", { entityType: "user", entityId: "u", features: ["a"] });
    expect(afterTtl.body.statuses.a).toBe("EXPIRED");
  });
});
