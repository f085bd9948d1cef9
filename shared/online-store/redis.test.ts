// The Redis online store's two Lua scripts against the real Redis (through the local Upstash
// endpoint): one round-trip reads with the registry revision, newest-event-wins writes.
import { describe, expect, it } from "vitest";
import { testEnv } from "#harness/stack.ts";
import { connectOnlineStore } from "./connect.ts";
import { disabledOnlineStore } from "./disabled.ts";
import { valueKey } from "./keys.ts";
import { connectRedis } from "./redis-client.ts";
import { type CellWrite, cacheTtlMs } from "./store.ts";

const store = () => connectOnlineStore(testEnv());
const cell = (over: Partial<CellWrite>): CellWrite => ({
  groupId: "g1",
  entityId: "e1",
  field: "f1",
  eventMs: 1_000,
  seq: 1,
  value: 1,
  expiresAtMs: null,
  ...over,
});

describe("Redis online store", () => {
  it("reads every (entity, group) hash and the registry revision in one call, null where nothing is stored", async () => {
    const tenantId = crypto.randomUUID();
    await store().write(
      tenantId,
      [
        cell({ field: "f1", value: "a" }),
        cell({ groupId: "g2", field: "f3", value: [1, 2] }),
        cell({ entityId: "e2", field: "f2", value: { nested: true }, eventMs: 2_000 }),
      ],
      2000,
    );
    await store().bumpRegistryRevision(tenantId, 1000);
    const read = await store().read({
      tenantId,
      entityIds: ["e1", "e2"],
      groups: [
        { groupId: "g1", fields: ["f1", "f2"] },
        { groupId: "g2", fields: ["f3"] },
      ],
    });
    expect(read.revision).toBe("1");
    expect(read.cells).toEqual([
      [{ eventMs: 1_000, value: "a" }, null],
      [{ eventMs: 1_000, value: [1, 2] }],
      [null, { eventMs: 2_000, value: { nested: true } }],
      [null],
    ]);
  });

  it("keeps the newest (event time, ingestion): a late event or an earlier ingestion never replaces it", async () => {
    const tenantId = crypto.randomUUID();
    const request = { tenantId, entityIds: ["e1"], groups: [{ groupId: "g1", fields: ["f1"] }] };
    expect(await store().write(tenantId, [cell({ eventMs: 5_000, seq: 10, value: "new" })], 2000)).toBe(1);
    expect(await store().write(tenantId, [cell({ eventMs: 4_000, seq: 11, value: "late" })], 2000)).toBe(0);
    expect(await store().write(tenantId, [cell({ eventMs: 5_000, seq: 9, value: "older ingestion" })], 2000)).toBe(0);
    expect((await store().read(request)).cells[0]![0]).toEqual({ eventMs: 5_000, value: "new" });
    // A restatement: the same event time, ingested later.
    expect(await store().write(tenantId, [cell({ eventMs: 5_000, seq: 12, value: "restated" })], 2000)).toBe(1);
    expect((await store().read(request)).cells[0]![0]).toEqual({ eventMs: 5_000, value: "restated" });
    expect(await store().write(tenantId, [cell({ eventMs: 6_000, seq: 1, value: "newer" })], 2000)).toBe(1);
    expect((await store().read(request)).cells[0]![0]).toEqual({ eventMs: 6_000, value: "newer" });
  });

  it("expires a hash at its newest TTL, and within the cache's own bound at most", async () => {
    const tenantId = crypto.randomUUID();
    const now = Date.now();
    await store().write(
      tenantId,
      [cell({ entityId: "ttl", eventMs: now, expiresAtMs: now + 60_000 }), cell({ entityId: "none", eventMs: now })],
      2000,
    );
    const redis = connectRedis(testEnv())!;
    const ttl = await redis.pttl(await valueKey(tenantId, "g1", "ttl"));
    const bounded = await redis.pttl(await valueKey(tenantId, "g1", "none"));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(bounded).toBeGreaterThan(cacheTtlMs - 10_000);
    expect(bounded).toBeLessThanOrEqual(cacheTtlMs);
  });

  it("splits a write larger than one request into several scripts and writes every cell", async () => {
    const tenantId = crypto.randomUUID();
    const entityIds = Array.from({ length: 1_500 }, (_, i) => `e${i}`);
    const big = "x".repeat(1_000); // 1.5 MB in all: three scripts at least
    const written = await store().write(
      tenantId,
      entityIds.map((entityId, i) => cell({ entityId, value: `${i}${big}` })),
      10_000,
    );
    expect(written).toBe(entityIds.length);
    const read = await store().read({ tenantId, entityIds, groups: [{ groupId: "g1", fields: ["f1"] }] });
    expect(read.cells.map((c) => String(c[0]?.value).slice(0, -big.length))).toEqual(
      entityIds.map((_, i) => String(i)),
    );
  });

  it("without Redis, the disabled store reads nothing and writes nothing", async () => {
    expect(disabledOnlineStore.enabled).toBe(false);
    await expect(
      disabledOnlineStore.read({ tenantId: "t", entityIds: ["e"], groups: [{ groupId: "g", fields: ["f"] }] }),
    ).rejects.toThrow(/no online store/);
    expect(await disabledOnlineStore.write("t", [cell({})], 1000)).toBe(0);
    expect(connectOnlineStore({ ...testEnv(), UPSTASH_REDIS_REST_URL: undefined })).toBe(disabledOnlineStore);
  });
});
