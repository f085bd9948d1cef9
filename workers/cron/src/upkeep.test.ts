import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { ownerSql } from "#harness/stack.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import serving from "../../serving/src/index.ts";
import worker from "./index.ts";
import { cronTriggers } from "./triggers.ts";

async function runScheduled(cron: string) {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron }), env, ctx);
  await waitOnExecutionContext(ctx);
}

async function partitions() {
  const rows = await ownerSql()`
    SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound, c.relrowsecurity, c.relforcerowsecurity
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'ai_feature_values'::regclass ORDER BY 1`;
  return rows;
}

describe("partition upkeep", () => {
  it("keeps the current month and three ahead, with RLS, and running it twice changes nothing", async () => {
    await runScheduled(cronTriggers.partitionUpkeep);
    const once = await partitions();
    await Promise.all([runScheduled(cronTriggers.partitionUpkeep), runScheduled(cronTriggers.partitionUpkeep)]);
    expect(await partitions()).toEqual(once);
    const now = new Date();
    for (let i = 0; i <= 3; i++) {
      const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
      const name = `ai_feature_values_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
      const partition = once.find((p) => p.relname === name);
      expect(partition, name).toBeDefined();
      expect([partition!.relrowsecurity, partition!.relforcerowsecurity]).toEqual([true, true]);
    }
    expect(once.some((p) => p.bound === "DEFAULT")).toBe(true);
  });
});

describe("TTL expiry", () => {
  it("deletes expired online rows in batches, keeps live ones, and a second run changes nothing", async () => {
    const ctx = testTenantContext();
    await defineFeatures(ctx, [
      { name: "message", entityType: "message", ttlSeconds: 60, features: [{ name: "length", dataType: "int64" }] },
    ]);
    const t = apiClient(serving).as(ctx.tenantId);
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    const push = await t.post("/v1/features/push", {
      entityType: "message",
      rows: [
        ...Array.from({ length: 30 }, (_, i) => ({
          entityId: `old-${i}`,
          eventTimestamp: old,
          features: { length: i },
        })),
        { entityId: "live", eventTimestamp: new Date().toISOString(), features: { length: 1 } },
      ],
    });
    expect(push.body.accepted).toBe(31);
    const count = async () => {
      const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
        sql`SELECT entity_id FROM ai_feature_online ORDER BY 1`,
      ]);
      return rows!.map((r) => r.entity_id);
    };
    expect(await count()).toHaveLength(31);
    await runScheduled(cronTriggers.ttlExpiry);
    expect(await count()).toEqual(["live"]);
    await runScheduled(cronTriggers.ttlExpiry);
    expect(await count()).toEqual(["live"]);
    // The offline history keeps every row.
    const [history] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql`SELECT count(*)::int AS n FROM ai_feature_values`,
    ]);
    expect(history![0]!.n).toBe(31);
  });
});

describe("scheduled()", () => {
  it("refuses a cron it has no task for", async () => {
    const ctx = createExecutionContext();
    await expect(
      worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "0 0 1 1 *" }), env, ctx),
    ).rejects.toThrow(/no task for cron/);
  });
});
