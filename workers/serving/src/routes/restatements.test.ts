// Restatements and versioned values through the serving routes (DESIGN.md, "Writes,
// restatements and versions"): a corrected value takes effect everywhere, `name@vN` reads
// and writes version N, and a promotion switches every read at once.
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { promoteVersion, updateFeature } from "#shared/registry/features.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const HOUR = 3_600_000;

async function tenant() {
  const ctx = testTenantContext();
  await defineFeatures(ctx, [
    {
      name: "user",
      entityType: "user",
      features: [
        { name: "count", dataType: "int64" },
        { name: "tier", dataType: "string" },
      ],
    },
  ]);
  return { ctx, client: api.as(ctx.tenantId, ["features:read", "features:write"]) };
}

const online = (client: ReturnType<typeof api.as>, entityIds: string[], features: string[]) =>
  client.post("/v1/features/online", { entityType: "user", entityIds, features });

describe("restatements", () => {
  it("stores a corrected value beside the old one: reads answer it, asOfIngestion answers what was known", async () => {
    const { client } = await tenant();
    const eventTimestamp = new Date(Date.now() - HOUR).toISOString();
    const push = (count: number) =>
      client.post("/v1/features/push", {
        entityType: "user",
        rows: [{ entityId: "u1", eventTimestamp, features: { count } }],
      });

    const first = await push(5);
    expect(first.body).toMatchObject({ accepted: 1, offlineInserted: 1, restated: 0, unchanged: 0 });
    const again = await push(5);
    expect(again.body).toMatchObject({ accepted: 1, offlineInserted: 0, restated: 0, unchanged: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const knownBefore = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const corrected = await push(50);
    expect(corrected.body).toMatchObject({ accepted: 1, offlineInserted: 1, restated: 1, unchanged: 0 });

    // Online, from the online store and from Postgres alike.
    const fromStore = await online(client, ["u1"], ["count"]);
    expect(fromStore.body.results[0].features.count).toBe(50);
    expect(fromStore.body.metadata.servedFrom).toBe("redis");
    const fromPostgres = await apiClient(worker, { UPSTASH_REDIS_REST_URL: "", UPSTASH_REDIS_REST_TOKEN: "" })
      .as(client.tenantId, ["features:read"])
      .post("/v1/features/online", { entityType: "user", entityIds: ["u1"], features: ["count"] });
    expect(fromPostgres.body.results[0].features.count).toBe(50);
    expect(fromPostgres.body.metadata.servedFrom).toBe("postgres");

    const historical = (timestamp: string, asOfIngestion: boolean) =>
      client.post("/v1/features/historical", {
        entityType: "user",
        entityTimestampPairs: [{ entityId: "u1", timestamp }],
        features: ["count"],
        asOfIngestion,
      });
    expect((await historical(knownBefore, false)).body.rows[0].features.count).toBe(50);
    expect((await historical(knownBefore, true)).body.rows[0].features.count).toBe(5);
    expect((await historical(new Date().toISOString(), true)).body.rows[0].features.count).toBe(50);
    // A late event older than the corrected one changes nothing online.
    const late = await client.post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "u1", eventTimestamp: new Date(Date.now() - 2 * HOUR).toISOString(), features: { count: 1 } }],
    });
    expect(late.body).toMatchObject({ offlineInserted: 1, restated: 0, onlineUpdated: 0 });
    expect((await online(client, ["u1"], ["count"])).body.results[0].features.count).toBe(50);
  });

  it("treats later rows of one request as later ingestions, and rejects a row naming one feature twice", async () => {
    const { client } = await tenant();
    const eventTimestamp = new Date(Date.now() - HOUR).toISOString();
    const r = await client.post("/v1/features/push", {
      entityType: "user",
      rows: [
        { entityId: "u1", eventTimestamp, features: { count: 1 } },
        { entityId: "u1", eventTimestamp, features: { count: 2 } },
        { entityId: "u1", eventTimestamp, features: { count: 2 } },
        { entityId: "u2", eventTimestamp, features: { count: 3, "user.count": 4 } },
      ],
    });
    expect(r.body).toMatchObject({ accepted: 3, rejected: 1, offlineInserted: 2, restated: 1, unchanged: 1 });
    expect(r.body.errors[0].reasons).toEqual([
      { feature: "user.count", reason: "names the same feature version as count" },
    ]);
    const read = await online(client, ["u1", "u2"], ["count"]);
    expect(read.body.results.map((e: any) => e.statuses.count)).toEqual(["PRESENT", "NOT_FOUND"]);
    expect(read.body.results[0].features.count).toBe(2);
  });
});

describe("restated embeddings", () => {
  it("answer the latest vector online, in search and in training sets; the same vector again is a no-op", async () => {
    const ctx = testTenantContext();
    await defineFeatures(ctx, [
      { name: "msg", entityType: "message", features: [{ name: "vec", dataType: "embedding", embeddingDimension: 3 }] },
    ]);
    const client = api.as(ctx.tenantId, ["features:read", "features:write"]);
    const eventTimestamp = new Date(Date.now() - HOUR).toISOString();
    const push = (vec: number[]) =>
      client.post("/v1/features/push", {
        entityType: "message",
        rows: [
          { entityId: "m1", eventTimestamp, features: { vec } },
          { entityId: "m2", eventTimestamp, features: { vec: [1, 1, 0] } },
        ],
      });
    expect((await push([1, 0, 0])).body).toMatchObject({ offlineInserted: 2, restated: 0 });
    expect((await push([1, 0, 0])).body).toMatchObject({ offlineInserted: 0, unchanged: 2 });
    expect((await push([0, 0, 1])).body).toMatchObject({ offlineInserted: 1, restated: 1, unchanged: 1 });
    const read = await client.post("/v1/features/online", { entityType: "message", entityId: "m1", features: ["vec"] });
    expect(read.body.features.vec).toEqual([0, 0, 1]);
    const search = await client.post("/v1/embeddings/search", { feature: "vec", vector: [0, 0, 1], k: 2 });
    expect(search.body.results.map((r: any) => [r.entityId, Math.round(r.distance * 1000) / 1000])).toEqual([
      ["m1", 0],
      ["m2", 1],
    ]);
    const historical = await client.post("/v1/features/historical", {
      entityType: "message",
      entityTimestampPairs: [{ entityId: "m1", timestamp: new Date().toISOString() }],
      features: ["vec"],
    });
    expect(historical.body.rows[0].features.vec).toEqual([0, 0, 1]);
  });
});

describe("versioned values", () => {
  it("keeps versions apart: a staged version is written by name@vN and read by name only once promoted", async () => {
    const { ctx, client } = await tenant();
    const eventTimestamp = new Date(Date.now() - HOUR).toISOString();
    await client.post("/v1/features/push", {
      entityType: "user",
      rows: [
        { entityId: "old", eventTimestamp, features: { count: 7 } },
        { entityId: "both", eventTimestamp, features: { count: 8 } },
      ],
    });
    const staged = await updateFeature(ctx, "user.count", { dataType: "string", promote: false });
    expect(staged).toMatchObject({ version: 2, currentVersion: 1, stagedVersion: 2, dataType: "string" });

    // `count` is still version 1 (int64): a string is refused; `count@v2` takes it.
    const refused = await client.post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "both", eventTimestamp, features: { count: "eight" } }],
    });
    expect(refused.body.rejected).toBe(1);
    const pushed = await client.post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "both", eventTimestamp, features: { "count@v2": "eight" } }],
    });
    expect(pushed.body).toMatchObject({ accepted: 1, offlineInserted: 1, restated: 0 });

    const before = await online(client, ["old", "both"], ["count", "count@v2", "user.count@v1"]);
    expect(before.body.results.map((e: any) => e.features)).toEqual([
      { count: 7, "count@v2": null, "user.count@v1": 7 },
      { count: 8, "count@v2": "eight", "user.count@v1": 8 },
    ]);

    await promoteVersion(ctx, "user.count", 2);
    const after = await online(client, ["old", "both"], ["count", "user.count@v1"]);
    // After a change of meaning, `count` has no values of the new version until they are written.
    expect(
      after.body.results.map((e: any) => [e.statuses.count, e.features.count, e.features["user.count@v1"]]),
    ).toEqual([
      ["NOT_FOUND", null, 7],
      ["PRESENT", "eight", 8],
    ]);
    const historical = await client.post("/v1/features/historical", {
      entityType: "user",
      entityTimestampPairs: [{ entityId: "both", timestamp: new Date().toISOString() }],
      features: ["count", "count@v1"],
    });
    expect(historical.body.rows[0].features).toEqual({ count: "eight", "count@v1": 8 });
  });

  it("batch reads answer each event time's latest restatement, one version per name", async () => {
    const { ctx, client } = await tenant();
    const t1 = new Date(Date.now() - 2 * HOUR).toISOString();
    const t2 = new Date(Date.now() - HOUR).toISOString();
    await client.post("/v1/features/push", {
      entityType: "user",
      rows: [
        { entityId: "u1", eventTimestamp: t1, features: { count: 1 } },
        { entityId: "u1", eventTimestamp: t2, features: { count: 2 } },
        { entityId: "u1", eventTimestamp: t1, features: { count: 10 } },
      ],
    });
    await updateFeature(ctx, "user.count", { dataType: "float64", promote: false });
    await client.post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "u1", eventTimestamp: t2, features: { "count@v2": 2.5 } }],
    });
    const r = await client.post("/v1/features/batch", {
      entityType: "user",
      entityIds: ["u1"],
      features: ["count", "user.count@v2"],
    });
    expect(r.status).toBe(200);
    expect(r.body.rows).toEqual([
      { entityId: "u1", eventTimestamp: t1, features: { count: 10 } },
      { entityId: "u1", eventTimestamp: t2, features: { count: 2, "user.count@v2": 2.5 } },
    ]);
  });

  it("answers 400 UNKNOWN_FEATURE for a version that does not exist", async () => {
    const { client } = await tenant();
    const r = await online(client, ["u1"], ["count@v3", "tier"]);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("UNKNOWN_FEATURE");
    expect(r.body.error.details).toEqual([{ feature: "count@v3", message: "user.count has no version 3" }]);
  });

  it("never answers a mix of two versions while a promotion lands under concurrent reads", async () => {
    const { ctx, client } = await tenant();
    const entityIds = Array.from({ length: 20 }, (_, i) => `e${i}`);
    const eventTimestamp = new Date(Date.now() - HOUR).toISOString();
    await client.post("/v1/features/push", {
      entityType: "user",
      rows: entityIds.map((entityId, i) => ({ entityId, eventTimestamp, features: { count: i } })),
    });
    await updateFeature(ctx, "user.count", { dataType: "float64", promote: false });
    await client.post("/v1/features/push", {
      entityType: "user",
      rows: entityIds.map((entityId, i) => ({ entityId, eventTimestamp, features: { "count@v2": 1000 + i } })),
    });

    const seen = new Set<string>();
    let reading = true;
    const reader = async () => {
      while (reading) {
        const r = await online(client, entityIds, ["count"]);
        expect(r.status).toBe(200);
        const values: number[] = r.body.results.map((e: any) => e.features.count as number);
        const versions = new Set(values.map((v) => (v >= 1000 ? "v2" : "v1")));
        expect(versions.size, JSON.stringify(values)).toBe(1);
        seen.add([...versions][0]!);
      }
    };
    const readers = [reader(), reader(), reader(), reader()];
    await new Promise((resolve) => setTimeout(resolve, 100));
    await promoteVersion(ctx, "user.count", 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    reading = false;
    await Promise.all(readers);
    expect([...seen].sort()).toEqual(["v1", "v2"]);
    const settled = await online(client, entityIds, ["count"]);
    expect(settled.body.results.map((e: any) => e.features.count)).toEqual(entityIds.map((_, i) => 1000 + i));
  });
});
