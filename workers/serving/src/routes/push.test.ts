import { beforeAll, describe, expect, inject, it } from "vitest";
import { apiClient, detailPaths, expectError } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const now = () => new Date().toISOString();

async function tenant() {
  const ctx = testTenantContext();
  await defineFeatures(ctx, [
    {
      name: "user",
      entityType: "user",
      features: [
        { name: "count", dataType: "int64", validationRules: { min: 0 } },
        { name: "score", dataType: "float64", validationRules: { min: 0, max: 1, notNull: true } },
        { name: "code", dataType: "string", validationRules: { pattern: "^[A-Z]{3}$" } },
        { name: "vec", dataType: "embedding", embeddingDimension: 3 },
      ],
    },
  ]);
  return api.as(ctx.tenantId);
}

describe("push: values checked against their definition", () => {
  let t: Awaited<ReturnType<typeof tenant>>;
  beforeAll(async () => {
    t = await tenant();
  });

  it("rejects a value Postgres cannot store (U+0000, a lone surrogate) in its row only", async () => {
    const r = await t.post("/v1/features/push", {
      entityType: "user",
      rows: [
        { entityId: "nul", eventTimestamp: now(), features: { code: "A\u0000B" } },
        { entityId: "surrogate", eventTimestamp: now(), features: { code: "\ud800AB" } },
        { entityId: "fine", eventTimestamp: now(), features: { count: 2 } },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 2 });
    expect(r.body.errors.map((e: any) => [e.entityId, e.reasons[0].reason])).toEqual([
      ["nul", "contains U+0000 or a lone surrogate, which cannot be stored"],
      ["surrogate", "contains U+0000 or a lone surrogate, which cannot be stored"],
    ]);
  });

  it("rejects an embedding beyond float4 in its row only; stores embeddings as float4, read alike from Redis and Postgres", async () => {
    const r = await t.post("/v1/features/push", {
      entityType: "user",
      rows: [
        { entityId: "huge", eventTimestamp: now(), features: { vec: [3.5e38, 0, 0] } },
        { entityId: "float4", eventTimestamp: now(), features: { vec: [0.123456789, 1e-46, -3.4028234663852886e38] } },
      ],
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(r.body.errors[0].reasons[0].reason).toMatch(/float4 range/);
    const read = { entityType: "user", entityId: "float4", features: ["vec"] };
    const fromRedis = await t.post("/v1/features/online", read);
    const fromPostgres = await apiClient(worker, {
      UPSTASH_REDIS_REST_URL: inject("stalledUrl"),
      REDIS_TIMEOUT_MS: "50",
    })
      .as(t.tenantId)
      .post("/v1/features/online", read);
    expect(fromRedis.body.metadata.servedFrom).toBe("redis");
    expect(fromPostgres.body.metadata.servedFrom).toBe("postgres");
    expect(fromRedis.body.features.vec).toEqual([0.12345679, 0, -3.4028235e38]);
    expect(fromPostgres.body.features.vec).toEqual(fromRedis.body.features.vec);
  });

  it("stores valid rows and rejects invalid ones whole, with every reason", async () => {
    const r = await t.post("/v1/features/push", {
      entityType: "user",
      rows: [
        { entityId: "ok", eventTimestamp: now(), features: { count: 1, score: 0.5, code: "ABC", vec: [1, 0, 0] } },
        { entityId: "bad-1", eventTimestamp: now(), features: { count: -1, score: 0.5 } },
        { entityId: "bad-2", eventTimestamp: now(), features: { count: 1.5, score: null, code: "abcd", vec: [1, 2] } },
        { entityId: "bad-3", eventTimestamp: now(), features: { count: "12x", score: "0.5", vec: [1, "2", 3] } },
        { entityId: "bad-4", eventTimestamp: "2999-01-01T00:00:00Z", features: { count: 1 } },
        { entityId: "bad-5", eventTimestamp: now(), features: { count: "99999999999999999999" } },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.accepted).toBe(1);
    expect(r.body.rejected).toBe(5);
    const reasons = Object.fromEntries(
      r.body.errors.map((e: any) => [e.entityId, e.reasons.map((x: any) => x.feature)]),
    );
    expect(reasons).toEqual({
      "bad-1": ["count"],
      "bad-2": ["count", "score", "code", "vec"],
      "bad-3": ["count", "score", "vec"],
      "bad-4": [null],
      "bad-5": ["count"],
    });
    expect(r.body.errors[1].reasons.find((x: any) => x.feature === "vec").reason).toMatch(/3 dimensions, got 2/);
    const read = await t.post("/v1/features/online", {
      entityType: "user",
      entityIds: ["ok", "bad-1"],
      features: ["count"],
    });
    expect(read.body.results.map((e: any) => e.statuses.count)).toEqual(["PRESENT", "NOT_FOUND"]);
  });

  it("names unknown features (400 UNKNOWN_FEATURE) and stores nothing", async () => {
    const r = await t.post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "nothing", eventTimestamp: now(), features: { count: 1, nope: 2 } }],
    });
    expect(expectError(r, 400, "UNKNOWN_FEATURE").map((d: any) => d.feature)).toEqual(["nope"]);
    const read = await t.post("/v1/features/online", { entityType: "user", entityId: "nothing", features: ["count"] });
    expect(read.body.statuses.count).toBe("NOT_FOUND");
  });

  it.each([
    ["NaN", '{"entityType":"user","rows":[{"entityId":"x","eventTimestamp":0,"features":{"score":NaN}}]}'],
    ["Infinity", '{"entityType":"user","rows":[{"entityId":"x","eventTimestamp":0,"features":{"score":Infinity}}]}'],
    ["truncated JSON", '{"entityType":"user","rows":['],
  ])("rejects %s as malformed JSON (400)", async (_label, rawBody) => {
    const r = await t.call("/v1/features/push", {
      method: "POST",
      rawBody,
      headers: { "content-type": "application/json" },
    });
    expectError(r, 400, "BAD_REQUEST");
  });

  it.each([
    ["no rows", { entityType: "user", rows: [] }, "rows"],
    [
      "a row without features",
      { entityType: "user", rows: [{ entityId: "x", eventTimestamp: 0, features: {} }] },
      "rows.0.features",
    ],
    [
      "a bad timestamp",
      { entityType: "user", rows: [{ entityId: "x", eventTimestamp: "now", features: { count: 1 } }] },
      "rows.0.eventTimestamp",
    ],
    [
      "an unknown row field",
      { entityType: "user", rows: [{ entityId: "x", eventTimestamp: 0, features: { count: 1 }, tenantId: "y" }] },
      "rows.0",
    ],
    [
      "a 10 KB entity id",
      { entityType: "user", rows: [{ entityId: "x".repeat(10_240), eventTimestamp: 0, features: { count: 1 } }] },
      "rows.0.entityId",
    ],
  ])("rejects %s with 400 naming the path", async (_label, body, path) => {
    const r = await t.post("/v1/features/push", body);
    expectError(r, 400, "VALIDATION_FAILED");
    expect(detailPaths(r)).toContain(path);
  });

  it("rejects more than 1,000 rows with 413, and a body over 1 MB with 413", async () => {
    const rows = Array.from({ length: 1001 }, (_, i) => ({
      entityId: `e${i}`,
      eventTimestamp: 0,
      features: { count: i },
    }));
    expectError(await t.post("/v1/features/push", { entityType: "user", rows }), 413, "PAYLOAD_TOO_LARGE");
    const big = [{ entityId: "big", eventTimestamp: 0, features: { code: "x".repeat(1_100_000) } }];
    expectError(await t.post("/v1/features/push", { entityType: "user", rows: big }), 413, "PAYLOAD_TOO_LARGE");
  });
});

describe("push: security", () => {
  it("requires a token and features:write", async () => {
    const body = { entityType: "user", rows: [{ entityId: "x", eventTimestamp: 0, features: { count: 1 } }] };
    expectError(await api.call("/v1/features/push", { method: "POST", body }), 401, "UNAUTHORIZED");
    const reader = api.as(crypto.randomUUID(), ["features:read", "registry:write"]);
    expectError(await reader.post("/v1/features/push", body), 403, "FORBIDDEN");
  });

  it("cannot write into another tenant's features", async () => {
    const a = await tenant();
    const b = api.as(crypto.randomUUID());
    const r = await b.post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "x", eventTimestamp: now(), features: { "user.count": 5 } }],
    });
    expectError(r, 400, "UNKNOWN_FEATURE");
    const read = await a.post("/v1/features/online", { entityType: "user", entityId: "x", features: ["count"] });
    expect(read.body.statuses.count).toBe("NOT_FOUND");
  });
});
