// Timestamps keep the microseconds they are sent with (DESIGN "Writes, restatements and
// versions"): in push, online echoes, historical comparisons and echoes, batch pages and
// timestamp-typed values, from Redis and from Postgres alike.
import { beforeAll, describe, expect, inject, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const withoutRedis = apiClient(worker, { UPSTASH_REDIS_REST_URL: inject("stalledUrl"), REDIS_TIMEOUT_MS: "50" });
let tenantId: string;
const t0 = "2026-11-30T10:00:00.123456Z";
const t1 = "2026-11-30T10:00:00.123457Z";

beforeAll(async () => {
  const ctx = testTenantContext();
  tenantId = ctx.tenantId;
  await defineFeatures(ctx, [
    {
      name: "user",
      entityType: "user",
      features: [
        { name: "n", dataType: "int64" },
        { name: "seen", dataType: "timestamp" },
      ],
    },
  ]);
  const t = api.as(tenantId);
  const push = await t.post("/v1/features/push", {
    entityType: "user",
    rows: [
      { entityId: "u1", eventTimestamp: t0, features: { n: 1, seen: "2026-11-29T23:59:59.9999999Z" } },
      // One microsecond later: a newer event, not a restatement of the same time.
      { entityId: "u1", eventTimestamp: t1, features: { n: 2 } },
      // Sent later, one microsecond older: it never wins online.
      { entityId: "u2", eventTimestamp: t1, features: { n: 20 } },
      { entityId: "u2", eventTimestamp: t0, features: { n: 10 } },
    ],
  });
  expect(push.status, push.text).toBe(200);
  expect(push.body).toMatchObject({ accepted: 4, restated: 0 });
});

describe("microseconds", () => {
  it("online: the newest of two events one microsecond apart wins, echoed with its microseconds, from Redis and Postgres", async () => {
    for (const client of [api, withoutRedis]) {
      const r = await client
        .as(tenantId)
        .post("/v1/features/online", { entityType: "user", entityIds: ["u1", "u2"], features: ["n", "seen"] });
      expect(r.status, r.text).toBe(200);
      const [u1, u2] = r.body.results;
      expect(u1.features.n).toBe(2);
      expect(u1.timestamps.n).toBe(t1);
      // Digits past the microsecond are dropped, never rounded into the next day.
      expect(u1.features.seen).toBe("2026-11-29T23:59:59.999999Z");
      expect(u1.timestamps.seen).toBe(t0);
      expect(u2.features.n).toBe(20);
      expect(u2.timestamps.n).toBe(t1);
    }
  });

  it("historical: compares and echoes microseconds, in JSON, NDJSON and CSV", async () => {
    const body = {
      entityType: "user",
      entityTimestampPairs: [
        { entityId: "u1", timestamp: "2026-11-30T10:00:00.123455Z" },
        { entityId: "u1", timestamp: t0 },
        { entityId: "u1", timestamp: t1 },
      ],
      features: ["n"],
    };
    const t = api.as(tenantId);
    const json = await t.post("/v1/features/historical", body);
    expect(json.status, json.text).toBe(200);
    expect(json.body.rows.map((r: any) => [r.timestamp, r.features.n, r.eventTimestamps.n])).toEqual([
      ["2026-11-30T10:00:00.123455Z", null, null],
      [t0, 1, t0],
      [t1, 2, t1],
    ]);
    const ndjson = await t.call("/v1/features/historical", {
      method: "POST",
      rawBody: JSON.stringify(body),
      headers: { "content-type": "application/json", accept: "application/x-ndjson" },
    });
    expect(ndjson.text).toContain(`"timestamp":"${t1}","features":{"n":2},"eventTimestamps":{"n":"${t1}"}`);
    const csv = await t.call("/v1/features/historical", {
      method: "POST",
      rawBody: JSON.stringify(body),
      headers: { "content-type": "application/json", accept: "text/csv" },
    });
    expect(csv.text.split("\n")[1]).toMatch(/^u1,2026-11-30T10:00:00\.123455Z,/);
  });

  it("online as of a time: one microsecond before the event sees the older value", async () => {
    const r = await api
      .as(tenantId)
      .post("/v1/features/online", { entityType: "user", entityId: "u1", features: ["n"], timestamp: t0 });
    expect(r.body.features.n).toBe(1);
    expect(r.body.timestamps.n).toBe(t0);
  });

  it("batch: pages split between two events one microsecond apart lose and repeat nothing", async () => {
    const t = api.as(tenantId);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: any = await t.post("/v1/features/batch", {
        entityType: "user",
        entityIds: ["u1"],
        features: ["n"],
        limit: 1,
        ...(cursor ? { cursor } : {}),
      });
      expect(r.status, r.text).toBe(200);
      seen.push(...r.body.rows.map((row: any) => `${row.eventTimestamp}=${row.features.n}`));
      cursor = r.body.metadata.nextCursor;
    } while (cursor);
    expect(seen).toEqual([`${t0}=1`, `${t1}=2`]);
  });
});
