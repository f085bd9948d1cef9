// Faults on the wire (scripts/local/fault-proxy.ts on each hop: worker → Neon endpoint →
// PostgreSQL, worker → Upstash endpoint → Redis) and what each must give (issue: "Hold
// under hostile input and faults"):
//   1. Redis stalls or resets under load: reads answer from Postgres and say so, 0 errors;
//      once Redis is back the cache refills and reads take one Redis round trip again.
//   2. Postgres down: warm reads still answer from Redis; pushes answer 503
//      SERVICE_UNAVAILABLE with Retry-After and leave nothing half-written; a push answered
//      2xx is in Postgres; a push whose Redis write failed is repaired into Redis; a push whose
//      answer was lost after its commit leaves no older value in Redis.
//   3. Postgres reset in the middle of a streamed training set: an explicit error marker, then
//      an aborted body, never a file that looks complete.
// (4, a materialization unit killed mid-way, is in workers/cron/src/materialize.test.ts.)
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { ownerSql } from "#harness/stack.ts";
import type { TenantContext } from "#shared/db/tenant.ts";
import { repairTenantCache } from "#shared/online-store/cache-repair.ts";
import { valueKey } from "#shared/online-store/keys.ts";
import serving from "../workers/serving/src/index.ts";

type Fault =
  | { kind: "none" | "stall" | "reset" | "refuse" }
  | { kind: "latency"; ms: number }
  | { kind: "cut"; afterBytes: number };

const bindings = { ...inject("faultBindings"), REDIS_TIMEOUT_MS: "150", POSTGRES_TIMEOUT_MS: "3000" };
const api = apiClient(serving, bindings);

async function fault(proxy: "neon" | "postgres" | "upstash" | "redis", f: Fault) {
  const r = await fetch(`${inject("faultControlUrl")}/faults/${proxy}`, { method: "PUT", body: JSON.stringify(f) });
  expect(r.status, await r.text()).toBe(200);
}
const clearFaults = () => fetch(`${inject("faultControlUrl")}/faults`, { method: "DELETE" });

/** A Redis that lost its data: the tenant's cached cells for `entityId`, deleted. */
async function forgetCached(tenantId: string, groupId: string, entityId: string) {
  const key = await valueKey(tenantId, groupId, entityId);
  const r = await fetch(inject("upstashUrl"), {
    method: "POST",
    headers: { authorization: `Bearer ${inject("upstashToken")}` },
    body: JSON.stringify(["DEL", key]),
  });
  expect(r.status).toBe(200);
}

let ctx: TenantContext;
let groupId: string;
const recent = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString();

beforeAll(async () => {
  ctx = testTenantContext();
  const { groups } = await defineFeatures(ctx, [
    {
      name: "user",
      entityType: "user",
      features: [
        { name: "n", dataType: "int64" },
        { name: "events", dataType: "int64", aggregationType: "count", windowSizeSeconds: 3600 },
      ],
    },
  ]);
  groupId = groups.get("user")!.id;
});

/**
 * After a fault, connections pooled by workerd may be dead: their first use fails (503 to a
 * client, which retries after Retry-After). Waits until three calls in a row get through.
 */
async function settle() {
  let streak = 0;
  for (let attempt = 0; attempt < 30 && streak < 3; attempt++) {
    const health = await api.call("/healthz");
    const owner = await ownerSql()`SELECT 1 AS ok`.then(
      () => true,
      () => false,
    );
    streak = health.status === 200 && health.body?.checks?.redis?.ok !== false && owner ? streak + 1 : 0;
  }
  expect(streak, "the stack did not recover from the fault").toBe(3);
}

afterEach(async () => {
  await clearFaults();
  await settle();
});

const read = (entityId: string) =>
  api.as(ctx.tenantId).post("/v1/features/online", { entityType: "user", entityId, features: ["n"] });
const push = (entityId: string, n: number, secondsAgo = 30) =>
  api.as(ctx.tenantId).post("/v1/features/push", {
    entityType: "user",
    rows: [{ entityId, eventTimestamp: recent(secondsAgo), features: { n } }],
  });

describe("1. Redis stalls or resets under load", () => {
  it.each([
    ["stalls (worker → Upstash)", "upstash", { kind: "stall" }],
    ["resets (Upstash → Redis)", "redis", { kind: "reset" }],
    ["refuses (worker → Upstash)", "upstash", { kind: "refuse" }],
  ] as const)("%s: reads answer from Postgres with 0 errors, then Redis refills", async (_label, proxy, f) => {
    const entity = `r-${proxy}-${f.kind}`;
    expect((await push(entity, 7)).status).toBe(200);
    expect((await read(entity)).body.metadata.servedFrom).toBe("redis");

    await fault(proxy, f);
    const answers = await Promise.all(Array.from({ length: 24 }, () => read(entity)));
    for (const r of answers) {
      expect(r.status, r.text).toBe(200);
      expect(r.body.features.n).toBe(7);
      expect(r.body.metadata.servedFrom).toBe("postgres");
    }

    await clearFaults();
    await settle();
    await forgetCached(ctx.tenantId, groupId, entity); // as if Redis came back empty
    const refill = await read(entity);
    expect(refill.body.metadata.servedFrom).toBe("postgres");
    const back = await read(entity);
    expect(back.body.metadata.servedFrom).toBe("redis");
    expect(back.headers.get("X-Redis-Round-Trips")).toBe("1");
    expect(back.headers.get("X-Postgres-Round-Trips")).toBe("0");
    expect(back.body.features.n).toBe(7);
  });
});

describe("2. Postgres down", () => {
  it.each([
    ["refused (Neon endpoint → PostgreSQL)", "postgres", { kind: "refuse" }],
    ["reset (worker → Neon endpoint)", "neon", { kind: "reset" }],
    ["stalled past the deadline (worker → Neon endpoint)", "neon", { kind: "stall" }],
  ] as const)(
    "%s: warm reads from Redis, pushes 503 with Retry-After and nothing half-written",
    async (_l, proxy, f) => {
      const entity = `p-${proxy}-${f.kind}`;
      const bystander = `${entity}-warm`;
      for (const e of [entity, bystander]) {
        expect((await push(e, 1, 60)).status).toBe(200);
        expect((await read(e)).body.metadata.servedFrom).toBe("redis");
      }

      await fault(proxy, f);
      const warm = await read(entity);
      expect(warm.status, warm.text).toBe(200);
      expect(warm.body).toMatchObject({ features: { n: 1 }, metadata: { servedFrom: "redis" } });

      const refused = await push(entity, 2, 10);
      expect(refused.status, refused.text).toBe(503);
      expect(refused.body.error.code).toBe("SERVICE_UNAVAILABLE");
      expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
      // Never a newer value in Postgres than Redis answers. A refused connection never ran the
      // write: the key stays warm. After a reset or a timeout the write may have committed:
      // the key is dropped from Redis, so it answers from Postgres (503 while Postgres is away).
      const after = await read(entity);
      if (proxy === "postgres")
        expect(after.body).toMatchObject({ features: { n: 1 }, metadata: { servedFrom: "redis" } });
      else expect(after.status, after.text).toBe(503);
      expect((await read(bystander)).body).toMatchObject({ features: { n: 1 }, metadata: { servedFrom: "redis" } });

      await clearFaults();
      await settle();
      const rows = await ownerSql()`SELECT value FROM ai_feature_values
      WHERE tenant_id = ${ctx.tenantId} AND entity_id = ${entity} ORDER BY event_timestamp`;
      expect(rows.map((r) => r.value)).toEqual([1]);
    },
  );

  it("a push answered 2xx while Redis is down is durable in Postgres, and the cache repair brings Redis up to it", async () => {
    const entity = "acked-without-redis";
    expect((await push(entity, 1, 60)).status).toBe(200);
    await fault("upstash", { kind: "refuse" });
    const acked = await push(entity, 2, 10);
    expect(acked.status, acked.text).toBe(200);
    expect(acked.body.cache).toBe("unavailable");
    const rows = await ownerSql()`SELECT value FROM ai_feature_values
      WHERE tenant_id = ${ctx.tenantId} AND entity_id = ${entity} ORDER BY event_timestamp`;
    expect(rows.map((r) => r.value)).toEqual([1, 2]);

    await clearFaults();
    await settle();
    // Redis is back with the older value: the repair, not the cache's TTL, brings it up to date.
    expect((await read(entity)).body.features.n).toBe(1);
    const repaired = await repairTenantCache(ctx);
    expect(repaired).toBeGreaterThanOrEqual(1);
    const after = await read(entity);
    expect(after.body).toMatchObject({ features: { n: 2 }, metadata: { servedFrom: "redis" } });
    expect(await repairTenantCache(ctx)).toBe(0);
  });
});

describe("2c. Aggregated events pushed while Redis is down", () => {
  it("are counted in Postgres at once, and the cache repair drops the stale tiles Redis kept", async () => {
    const entity = "events-without-redis";
    const pushEvent = (eventId: string) =>
      api.as(ctx.tenantId).post("/v1/features/push", {
        entityType: "user",
        rows: [{ entityId: entity, eventId, eventTimestamp: recent(90), features: { events: 1 } }],
      });
    const count = async () =>
      (
        await api
          .as(ctx.tenantId)
          .post("/v1/features/online", { entityType: "user", entityId: entity, features: ["events"] })
      ).body;
    expect((await pushEvent("a")).status).toBe(200);
    await count(); // fills the tiles
    expect(await count()).toMatchObject({ features: { events: 1 }, metadata: { servedFrom: "redis" } });

    await fault("upstash", { kind: "refuse" });
    const acked = await pushEvent("b");
    expect(acked.status, acked.text).toBe(200);
    expect(acked.body.cache).toBe("unavailable");
    // Redis down: the count comes from the tiles in Postgres, already right.
    expect(await count()).toMatchObject({ features: { events: 2 }, metadata: { servedFrom: "postgres" } });

    await clearFaults();
    await settle();
    // Redis is back with the tiles it had: the repair, not the cache's TTL, drops them.
    expect((await count()).features.events).toBe(1);
    expect(await repairTenantCache(ctx)).toBeGreaterThanOrEqual(1);
    expect((await count()).features.events).toBe(2);
    expect(await repairTenantCache(ctx)).toBe(0);
  });
});

describe("2b. A push whose answer is lost after Postgres committed it", () => {
  it("answers 503, and Redis drops the key so reads refill from what Postgres holds", async () => {
    const entity = "committed-unanswered";
    expect((await push(entity, 1, 60)).status).toBe(200);
    expect((await read(entity)).body).toMatchObject({ features: { n: 1 }, metadata: { servedFrom: "redis" } });
    // The request reaches PostgreSQL and commits; the first byte of the answer resets the connection.
    await fault("neon", { kind: "cut", afterBytes: 0 });
    const lost = await push(entity, 2, 10);
    expect(lost.status, lost.text).toBe(503);
    await clearFaults();
    await settle();
    const rows =
      await ownerSql()`SELECT value FROM ai_feature_online WHERE tenant_id = ${ctx.tenantId} AND entity_id = ${entity}`;
    expect(rows.map((r) => r.value)).toEqual([2]);
    const refill = await read(entity);
    expect(refill.body).toMatchObject({ features: { n: 2 }, metadata: { servedFrom: "postgres" } });
    expect((await read(entity)).body).toMatchObject({ features: { n: 2 }, metadata: { servedFrom: "redis" } });
  });
});

describe("3. Postgres reset in the middle of a streamed training set", () => {
  it.each([
    ["application/x-ndjson", (last: string) => JSON.parse(last).error.code],
    ["text/csv", (last: string) => last.split(",")[1]],
  ] as const)("%s: ends with an error marker and an aborted body", async (accept, codeOf) => {
    const entities = Array.from({ length: 400 }, (_, i) => `s${i}`);
    for (let i = 0; i < entities.length; i += 200) {
      const r = await api.as(ctx.tenantId).post("/v1/features/push", {
        entityType: "user",
        rows: entities
          .slice(i, i + 200)
          .map((entityId, j) => ({ entityId, eventTimestamp: recent(600), features: { n: i + j } })),
      });
      expect(r.status).toBe(200);
    }
    const pairs = Array.from({ length: 20_000 }, (_, i) => ({
      entityId: entities[i % entities.length]!,
      timestamp: recent(i % 500),
    }));
    // Each connection to PostgreSQL is reset after 64 KB from the server: the registry and
    // the staging fit, the rows do not.
    await fault("postgres", { kind: "cut", afterBytes: 64 * 1024 });
    const token = await import("#harness/tokens.ts").then((m) =>
      m.signToken({ tenantId: ctx.tenantId, scopes: ["features:read"] }),
    );
    const response = await serving.fetch(
      new Request("http://worker/v1/features/historical", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept },
        body: JSON.stringify({ entityType: "user", entityTimestampPairs: pairs, features: ["n"] }),
      }),
      { ...(await import("cloudflare:workers")).env, ...bindings },
      { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext,
    );
    expect(response.status).toBe(200);
    let text = "";
    let aborted = false;
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      aborted = true;
    }
    const lines = text.trimEnd().split("\n");
    expect(aborted, `the body ended normally after ${lines.length} lines`).toBe(true);
    expect(codeOf(lines.at(-1)!)).toBe("SERVICE_UNAVAILABLE");
    expect(lines.length).toBeLessThan(pairs.length);
  });
});
