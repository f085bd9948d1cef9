// Jobs and source types (DESIGN.md, "Source types mean what they say"): a job leaves on-demand
// features alone (computed when read), and an aggregated stream feature with SQL stores each
// window's rows as events, whose tiles the unit drops from Redis so the next read refolds
// them from Postgres by the same rule as pushes.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { createTenant, ownerSql } from "#harness/stack.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { createJob } from "#shared/jobs/jobs.ts";
import { generateConversations, insertConversations } from "../../../test/helpers/conversations.ts";
import serving from "../../serving/src/index.ts";
import worker from "./index.ts";
import { cronTriggers } from "./triggers.ts";

const DAY = 86_400_000;
const api = apiClient(serving);

async function runJobs(tenantId: string) {
  const controller = createScheduledController({ scheduledTime: Date.now(), cron: cronTriggers.materialize });
  const ctx = createExecutionContext();
  await worker.scheduled(controller, { ...env, MATERIALIZE_TENANTS: tenantId }, ctx);
  await waitOnExecutionContext(ctx);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [rows] = await withTenantSql(testTenantContext(tenantId).db, tenantId, (sql) => [
      sql`SELECT status, error_message FROM ai_feature_materialization_jobs`,
    ]);
    if (rows!.every((j) => ["completed", "failed", "cancelled"].includes(j.status as string))) return rows!;
    if (Date.now() > deadline) throw new Error(`jobs still open: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Each daily window's count is one event; the feature sums the last 3 days' events. */
const conversations3d = {
  name: "conversations_3d",
  dataType: "int64" as const,
  sourceType: "stream" as const,
  aggregationType: "sum" as const,
  windowSizeSeconds: 3 * 86_400,
  aggregationIntervalSeconds: 86_400,
  transformationSql: `SELECT user_id AS entity_id, COUNT(*) AS value FROM ai_conversations
    WHERE created_at >= :start_time AND created_at < :end_time GROUP BY user_id`,
};

describe("jobs by source type", () => {
  it("skip on-demand features, and store an aggregated feature's windows as events whose tiles reads refold", async () => {
    const tenantId = await createTenant("source-types");
    const ctx = testTenantContext(tenantId);
    const today = Math.floor(Date.now() / DAY) * DAY;
    await insertConversations(tenantId, 4, generateConversations(5, 40, 4, new Date(today - 6 * DAY), new Date(today)));
    const { groups, features } = await defineFeatures(ctx, [
      {
        name: "user",
        entityType: "user",
        features: [
          conversations3d,
          {
            name: "conversations_now",
            dataType: "int64",
            sourceType: "on_demand",
            transformationSql: "SELECT user_id AS entity_id, COUNT(*) AS value FROM ai_conversations GROUP BY user_id",
          },
        ],
      },
    ]);
    const users = await ownerSql()`SELECT user_id::text AS id,
        count(*) FILTER (WHERE created_at >= ${new Date(today - 3 * DAY).toISOString()})::int AS last3
      FROM ai_conversations WHERE tenant_id = ${tenantId} AND user_id IS NOT NULL GROUP BY user_id ORDER BY user_id`;
    const ids = users!.map((u) => u.id as string);
    const read = () =>
      api.as(tenantId).post("/v1/features/online", {
        entityType: "user",
        entityIds: ids,
        features: ["user.conversations_3d", "user.conversations_now"],
      });
    // A read before the job leaves complete (empty) tile sets in Redis.
    const before = await read();
    expect(before.body.results.map((r: any) => r.features["user.conversations_3d"])).toEqual(ids.map(() => 0));

    await createJob(ctx, {
      featureGroupId: groups.get("user")!.id,
      jobType: "point_in_time",
      startTime: new Date(today - 6 * DAY).toISOString(),
      endTime: new Date(today).toISOString(),
    });
    const jobs = await runJobs(tenantId);
    expect(jobs.map((j) => j.status)).toEqual(["completed"]);

    const [stored] = await withTenantSql(ctx.db, tenantId, (sql) => [
      sql`SELECT d.name, count(v.*)::int AS n FROM ai_feature_definitions d
          LEFT JOIN ai_feature_values v ON v.feature_id = d.id GROUP BY d.name ORDER BY d.name`,
    ]);
    // The on-demand feature's only rows are the values the read before logged, one per user.
    expect(stored).toEqual([
      { name: "conversations_3d", n: expect.any(Number) },
      { name: "conversations_now", n: ids.length },
    ]);
    expect(stored![0]!.n).toBeGreaterThan(0);

    // The windows ending today-2d, today-1d and today: conversations of the last 3 days.
    const after = await read();
    expect(after.body.metadata.servedFrom).not.toBe("redis");
    expect(after.body.results.map((r: any) => r.features["user.conversations_3d"])).toEqual(users!.map((u) => u.last3));
    const again = await read();
    expect(again.body.results.map((r: any) => r.features["user.conversations_3d"])).toEqual(users!.map((u) => u.last3));
    expect(features.get("user.conversations_now")!.sourceType).toBe("on_demand");
  });

  it("keeps tiles equal to their events when pushes land in the tiles a unit refolds", async () => {
    const tenantId = await createTenant("source-types-race");
    const ctx = testTenantContext(tenantId);
    const today = Math.floor(Date.now() / DAY) * DAY;
    await insertConversations(tenantId, 3, generateConversations(8, 30, 3, new Date(today - 6 * DAY), new Date(today)));
    const { groups } = await defineFeatures(ctx, [
      {
        name: "user",
        entityType: "user",
        features: [conversations3d],
      },
    ]);
    const users = await ownerSql()`SELECT DISTINCT user_id::text AS id FROM ai_conversations
      WHERE tenant_id = ${tenantId} AND user_id IS NOT NULL ORDER BY 1`;
    const ids = users.map((u) => u.id as string);
    await createJob(ctx, {
      featureGroupId: groups.get("user")!.id,
      jobType: "point_in_time",
      startTime: new Date(today - 6 * DAY).toISOString(),
      endTime: new Date(today).toISOString(),
    });
    // Pushed events at the windows' ends: the very tiles the units refold.
    let pushes = 0;
    let running = true;
    const pushing = (async () => {
      while (running || pushes < 5) {
        const n = pushes++;
        const push = await api.as(tenantId).post("/v1/features/push", {
          entityType: "user",
          rows: ids.map((entityId, e) => ({
            entityId,
            eventId: `p${n}`,
            eventTimestamp: new Date(today - ((n + e) % 3) * DAY).toISOString(),
            features: { "user.conversations_3d": 1 },
          })),
        });
        expect(push.body.rejected).toBe(0);
      }
    })();
    const jobs = await runJobs(tenantId).finally(() => {
      running = false;
    });
    await pushing;
    expect(jobs.map((j) => j.status)).toEqual(["completed"]);

    // The tiles (what reads and training sets fold) against the events themselves.
    const at = new Date().toISOString();
    const ask = (asOfIngestion: boolean) =>
      api.as(tenantId).post("/v1/features/historical", {
        entityType: "user",
        entityTimestampPairs: ids.map((entityId) => ({ entityId, timestamp: at })),
        features: ["user.conversations_3d"],
        asOfIngestion,
      });
    const fromTiles = (await ask(false)).body.rows.map((r: any) => r.features["user.conversations_3d"]);
    const fromEvents = (await ask(true)).body.rows.map((r: any) => r.features["user.conversations_3d"]);
    expect(fromTiles).toEqual(fromEvents);
    expect(fromEvents.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThanOrEqual(pushes);
  });
});
