import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { appDatabase, createTenant, ownerSql } from "#harness/stack.ts";
import { type TenantContext, withTenantSql } from "#shared/db/tenant.ts";
import { runTransformation } from "#shared/features/transformation.ts";
import { checkValue, fromTransformation } from "#shared/features/values.ts";
import { createJob } from "#shared/jobs/jobs.ts";
import { bootstrapTenant } from "#shared/registry/bootstrap.ts";
import { getFeature, updateFeature } from "#shared/registry/features.ts";
import { findGroup } from "#shared/registry/groups.ts";
import { TISTIS_GROUPS } from "#shared/registry/tistis-features.ts";
import { generateConversations, insertConversations } from "../../../test/helpers/conversations.ts";
import serving from "../../serving/src/index.ts";
import worker from "./index.ts";
import { runMaterialization } from "./materialize.ts";
import { cronTriggers } from "./triggers.ts";

const DAY = 86_400_000;

/**
 * The cron trigger as Cloudflare fires it: units go to the queue, whose consumer (this
 * worker, run by Miniflare) materializes them; resolves when every job of the tenants ended.
 */
async function runScheduled(cron: string, tenants: string[]) {
  const controller = createScheduledController({ scheduledTime: Date.now(), cron });
  const ctx = createExecutionContext();
  await worker.scheduled(controller, { ...env, MATERIALIZE_TENANTS: tenants.join(",") }, ctx);
  await waitOnExecutionContext(ctx);
  await waitForJobs(tenants);
}

async function waitForJobs(tenants: string[], timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = (await Promise.all(tenants.map((t) => jobs(testTenantContext(t))))).flat();
    if (states.every((j) => ["completed", "failed", "cancelled"].includes(j.status as string))) return states;
    if (Date.now() > deadline) throw new Error(`jobs still open after ${timeoutMs} ms: ${JSON.stringify(states)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function jobs(ctx: TenantContext) {
  const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
    sql`SELECT id, status, error_message, rows_processed::int AS rows_processed, rows_failed::int AS rows_failed, attempts, progress
        FROM ai_feature_materialization_jobs ORDER BY created_at`,
  ]);
  return rows!;
}

async function offlineValues(ctx: TenantContext, featureId: string) {
  const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
    sql`SELECT entity_id, value, event_timestamp FROM ai_feature_values WHERE feature_id = ${featureId} ORDER BY entity_id, event_timestamp`,
  ]);
  return rows!;
}

/** The transformation run directly, in the same sandbox, for one window: entity → checked value. */
async function computeDirectly(ctx: TenantContext, sqlText: string, dataType: string, start: Date, end: Date) {
  const rows = await runTransformation(ctx.db, ctx.tenantId, sqlText, { start, end }, 10_000);
  const expected = new Map<string, unknown>();
  for (const row of rows) {
    const checked = checkValue(
      { dataType, embeddingDimension: null, validationRules: null },
      fromTransformation(dataType, row.value),
    );
    if (checked.ok && row.entity_id !== null) expected.set(String(row.entity_id), checked.value);
  }
  return expected;
}

async function tistisTenant(seed: number) {
  const tenantId = await createTenant(`tistis-${seed}`);
  const ctx = testTenantContext(tenantId);
  await bootstrapTenant(ctx);
  const now = Date.now();
  const conversations = generateConversations(seed, 80, 12, new Date(now - 20 * DAY), new Date(now - 60_000));
  const userIds = await insertConversations(tenantId, 12, conversations);
  return { ctx, userIds };
}

describe("materialization of the TIS TIS features", () => {
  it("computes every feature with SQL for its tenant only, and serves it online", async () => {
    const [a, b] = [await tistisTenant(1), await tistisTenant(2)];
    const start = new Date(Date.now() - 30 * DAY);
    const end = new Date();
    for (const t of [a, b]) {
      for (const g of TISTIS_GROUPS) {
        const group = await findGroup(t.ctx, g.name);
        await createJob(t.ctx, {
          featureGroupId: group!.id,
          jobType: "full",
          startTime: start.toISOString(),
          endTime: end.toISOString(),
        });
      }
    }
    await runScheduled(cronTriggers.materialize, [a.ctx.tenantId, b.ctx.tenantId]);

    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const states = await jobs(self.ctx);
      expect(states.map((j) => j.status)).toEqual(["completed", "completed", "completed", "completed"]);
      expect(states.every((j) => Number(j.progress) === 100)).toBe(true);
      const [features] = await withTenantSql(self.ctx.db, self.ctx.tenantId, (sql) => [
        sql`SELECT d.id, d.name, g.name AS group_name, d.data_type, d.transformation_sql FROM ai_feature_definitions d
            JOIN ai_feature_groups g ON g.id = d.group_id
            WHERE d.transformation_sql IS NOT NULL AND d.source_type <> 'on_demand' ORDER BY 3, 2`,
      ]);
      // 12 with SQL, less the two on-demand ones (computed when read: jobs leave them alone).
      expect(features).toHaveLength(10);
      let total = 0;
      for (const f of features!) {
        const expected = await computeDirectly(
          self.ctx,
          f.transformation_sql as string,
          f.data_type as string,
          start,
          end,
        );
        const stored = await offlineValues(self.ctx, f.id as string);
        const actual = new Map(stored.map((r) => [r.entity_id as string, r.value]));
        expect(actual, `${f.group_name}.${f.name}`).toEqual(expected);
        for (const r of stored) expect(new Date(r.event_timestamp as string).getTime()).toBe(end.getTime());
        total += stored.length;
        // Tenant B's users, conversations and tenant id never appear among A's entities.
        for (const entityId of actual.keys()) {
          expect(other.userIds).not.toContain(entityId);
          expect(entityId).not.toBe(other.ctx.tenantId);
        }
      }
      expect(total).toBeGreaterThan(100);
      const versions = await withTenantSql(self.ctx.db, self.ctx.tenantId, (sql) => [
        sql`SELECT v.stats FROM ai_feature_versions v JOIN ai_feature_definitions d ON d.id = v.feature_id
            WHERE d.name = 'conversation_count'`,
      ]);
      expect(versions[0]![0]!.stats).toMatchObject({ count: 12, nullRate: 0 });
    }

    // The online route returns the materialized value.
    const direct = await computeDirectly(a.ctx, TISTIS_GROUPS[1]!.features[0]!.transformationSql!, "int64", start, end);
    const [userId, count] = [...direct.entries()][0]!;
    const read = await apiClient(serving)
      .as(a.ctx.tenantId, ["features:read"])
      .post("/v1/features/online", { entityType: "user", entityId: userId, features: ["user.conversation_count"] });
    expect(read.body.features["user.conversation_count"]).toBe(count);
    expect(read.body.timestamps["user.conversation_count"]).toBe(end.toISOString());
  });
});

describe("backfills", () => {
  it("computes NOW()-based features as of each window's end", async () => {
    const tenantId = await createTenant("backfill");
    const ctx = testTenantContext(tenantId);
    const { groups, features } = await defineFeatures(ctx, [
      {
        name: "tenant",
        entityType: "tenant",
        features: [
          {
            name: "conversations_last_day",
            dataType: "int64",
            sourceType: "batch",
            transformationSql: `SELECT tenant_id AS entity_id, COUNT(*) AS value FROM ai_conversations
              WHERE created_at >= NOW() - INTERVAL '1 day' AND created_at < NOW() GROUP BY tenant_id`,
          },
        ],
      },
    ]);
    const day0 = Date.UTC(2026, 9, 1);
    const at = (day: number, hour: number) => new Date(day0 + day * DAY + hour * 3_600_000);
    const perDay = [2, 5, 1];
    const conversations = perDay.flatMap((n, day) =>
      Array.from({ length: n }, (_, i) => ({
        userIndex: 0,
        channel: "web",
        createdAt: at(day, 1 + i),
        durationSeconds: 60,
        messages: [],
        ratings: [],
      })),
    );
    await insertConversations(tenantId, 1, conversations);
    await createJob(ctx, {
      featureGroupId: groups.get("tenant")!.id,
      jobType: "point_in_time",
      startTime: at(0, 0).toISOString(),
      endTime: at(3, 0).toISOString(),
    });
    const run = await runMaterialization(ctx.env, { tenants: [tenantId] });
    expect(Object.values(run.outcomes)).toEqual(["completed"]);
    const stored = await offlineValues(ctx, features.get("tenant.conversations_last_day")!.id);
    expect(stored.map((r) => [new Date(r.event_timestamp as string).toISOString(), r.value])).toEqual([
      [at(1, 0).toISOString(), 2],
      [at(2, 0).toISOString(), 5],
      [at(3, 0).toISOString(), 1],
    ]);
  });
});

describe("hostile transformation SQL", () => {
  it.each([
    ["a write", "DELETE FROM ai_conversations RETURNING id AS entity_id, 1 AS value", /read-only transaction/],
    [
      "pg_sleep beyond the timeout",
      "SELECT id AS entity_id, 1 AS value FROM tenants, pg_sleep(5)",
      /statement timeout/,
    ],
    ["reading feature-store tables", "SELECT entity_id, value FROM ai_feature_online", /permission denied/],
    [
      "set_config to another tenant",
      "SELECT set_config('app.tenant_id', '00000000-0000-0000-0000-000000000000', true) AS entity_id, 1 AS value",
      /set_config/,
    ],
    [
      "multiple statements",
      "SELECT id AS entity_id, 1 AS value FROM tenants; DELETE FROM ai_conversations",
      /multiple commands|syntax/,
    ],
  ])("fails the job cleanly on %s and writes nothing", async (_label, transformationSql, message) => {
    const tenantId = await createTenant("hostile");
    const ctx = testTenantContext(tenantId);
    await insertConversations(tenantId, 1, generateConversations(3, 3, 1, new Date(Date.now() - DAY), new Date()));
    const { groups } = await defineFeatures(ctx, [{ name: "tenant", entityType: "tenant", features: [] }]);
    // Stored directly: the admin API would refuse this SQL when saved.
    const [inserted] = await withTenantSql(appDatabase(), tenantId, (sql) => [
      sql`INSERT INTO ai_feature_definitions (tenant_id, group_id, name, display_name, data_type, source_type, transformation_sql)
          VALUES (${tenantId}, ${groups.get("tenant")!.id}, 'evil', 'Evil', 'int64', 'batch', ${transformationSql}) RETURNING id`,
    ]);
    await createJob(ctx, {
      featureGroupId: groups.get("tenant")!.id,
      jobType: "full",
      startTime: new Date(Date.now() - DAY).toISOString(),
      endTime: new Date().toISOString(),
    });
    const [conversationsBefore] = await withTenantSql(appDatabase(), tenantId, (sql) => [
      sql`SET LOCAL ROLE fs_transform`,
      sql`SELECT count(*)::int AS n FROM ai_conversations`,
    ]).then((r) => [r[1]]);
    const run = await runMaterialization(ctx.env, { tenants: [tenantId], statementTimeoutMs: 1000 });
    expect(Object.values(run.outcomes)).toEqual(["failed"]);
    const [job] = await jobs(ctx);
    expect(job!.status).toBe("failed");
    expect(job!.error_message).toMatch(message);
    expect(await offlineValues(ctx, inserted![0]!.id as string)).toEqual([]);
    const [conversationsAfter] = await withTenantSql(appDatabase(), tenantId, (sql) => [
      sql`SET LOCAL ROLE fs_transform`,
      sql`SELECT count(*)::int AS n FROM ai_conversations`,
    ]).then((r) => [r[1]]);
    expect(conversationsAfter).toEqual(conversationsBefore);
  });
});

describe("claims and leases", () => {
  async function tenantWithJobs(count: number) {
    const tenantId = await createTenant("claims");
    const ctx = testTenantContext(tenantId);
    await insertConversations(
      tenantId,
      5,
      generateConversations(9, 30, 5, new Date(Date.now() - 10 * DAY), new Date()),
    );
    const { groups, features } = await defineFeatures(ctx, [
      {
        name: "user",
        entityType: "user",
        features: [
          {
            name: "conversations",
            dataType: "int64",
            sourceType: "batch",
            transformationSql: `SELECT user_id AS entity_id, COUNT(*) AS value FROM ai_conversations
              WHERE created_at >= :start_time AND created_at < :end_time GROUP BY user_id`,
          },
        ],
      },
    ]);
    for (let i = 0; i < count; i++) {
      await createJob(ctx, {
        featureGroupId: groups.get("user")!.id,
        jobType: "point_in_time",
        startTime: new Date(Date.now() - (10 - i) * DAY).toISOString(),
        endTime: new Date(Date.now() - (7 - i) * DAY).toISOString(),
      });
    }
    return { ctx, featureId: features.get("user.conversations")!.id };
  }

  it("runs each job once when two invocations overlap", async () => {
    const { ctx, featureId } = await tenantWithJobs(4);
    const [first, second] = await Promise.all([
      runMaterialization(ctx.env, { tenants: [ctx.tenantId], workerId: "worker-a" }),
      runMaterialization(ctx.env, { tenants: [ctx.tenantId], workerId: "worker-b" }),
    ]);
    const ran = [...Object.keys(first.outcomes), ...Object.keys(second.outcomes)];
    expect(ran).toHaveLength(4);
    expect(new Set(ran).size).toBe(4);
    const states = await jobs(ctx);
    expect(states.map((j) => [j.status, j.attempts])).toEqual(Array(4).fill(["completed", 1]));
    const stored = await offlineValues(ctx, featureId);
    const keys = stored.map((r) => `${r.entity_id}@${r.event_timestamp}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(states.reduce((n, j) => n + Number(j.rows_processed), 0)).toBeGreaterThanOrEqual(keys.length);
  });

  /** The 3 windows' values stored once each, and every one counted once though a unit ran twice. */
  async function expectEachValueOnce(ctx: TenantContext, featureId: string, job: Record<string, unknown>) {
    const stored = await offlineValues(ctx, featureId);
    const keys = stored.map((r) => `${r.entity_id}@${r.event_timestamp}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(stored.map((r) => r.event_timestamp)).size).toBe(3);
    expect(job.rows_processed).toBe(stored.length);
    expect(job.rows_failed).toBe(0);
  }

  it.each([
    ["after staging its rows", "after-stage"],
    ["after writing Postgres", "after-write"],
    ["after the first Redis page", "after-first-page"],
  ] as const)(
    "finishes a job whose worker was killed %s: retried, no duplicate rows, exact counts",
    async (_label, crashAt) => {
      const { ctx, featureId } = await tenantWithJobs(1);
      // The first worker dies inside its first unit; its lease runs out.
      await expect(
        runMaterialization(ctx.env, { tenants: [ctx.tenantId], workerId: "doomed", crashAt }),
      ).rejects.toThrow(/killed/);
      await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
        sql`UPDATE ai_feature_materialization_jobs SET lease_expires_at = now() - interval '1 second'`,
      ]);
      const rescue = await runMaterialization(ctx.env, { tenants: [ctx.tenantId], workerId: "rescuer" });
      expect(Object.values(rescue.outcomes)).toEqual(["completed"]);
      const [job] = await jobs(ctx);
      expect(job!.attempts).toBe(2);
      await expectEachValueOnce(ctx, featureId, job!);
    },
  );

  it("finishes a job whose unit's connection PostgreSQL killed (pg_terminate_backend): handed back, retried, exact counts", async () => {
    const { ctx, featureId } = await tenantWithJobs(1);
    const first = await runMaterialization(ctx.env, {
      tenants: [ctx.tenantId],
      workerId: "terminated",
      crashAt: "terminate-backend",
    });
    expect(Object.values(first.outcomes)).toEqual(["paused"]);
    const [units] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql`SELECT status, attempts, last_error FROM ai_feature_materialization_units WHERE attempts > 0`,
    ]);
    expect(units!.map((u) => u.status)).toEqual(["pending"]);
    expect(String(units![0]!.last_error)).toMatch(/terminat|connection/i);
    const rescue = await runMaterialization(ctx.env, { tenants: [ctx.tenantId], workerId: "rescuer" });
    expect(Object.values(rescue.outcomes)).toEqual(["completed"]);
    const [job] = await jobs(ctx);
    await expectEachValueOnce(ctx, featureId, job!);
  });

  it("stops a job cancelled while it runs", async () => {
    const { ctx } = await tenantWithJobs(1);
    await runMaterialization(ctx.env, { tenants: [ctx.tenantId], maxUnitsPerJob: 1 });
    const [job] = await jobs(ctx);
    const { cancelJob } = await import("#shared/jobs/jobs.ts");
    expect((await cancelJob(ctx, job!.id as string)).status).toBe("cancelled");
    const again = await runMaterialization(ctx.env, { tenants: [ctx.tenantId] });
    expect(again.outcomes).toEqual({});
    expect((await jobs(ctx))[0]!.status).toBe("cancelled");
  });
});

describe("restatements and versions in jobs", () => {
  /** Each feature version's latest value per entity (of restatements, the last ingested). */
  async function latestValues(ctx: TenantContext, featureId: string, version: number) {
    const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql`SELECT DISTINCT ON (entity_id) entity_id, value FROM ai_feature_values
          WHERE feature_id = ${featureId} AND feature_version = ${version}
          ORDER BY entity_id, event_timestamp DESC, ingest_seq DESC`,
    ]);
    return new Map(rows!.map((r) => [r.entity_id as string, r.value]));
  }

  async function runJob(ctx: TenantContext, groupId: string, start: Date, end: Date, featureVersion?: number) {
    const job = await createJob(ctx, {
      featureGroupId: groupId,
      jobType: "full",
      startTime: start.toISOString(),
      endTime: end.toISOString(),
      ...(featureVersion ? { featureVersion } : {}),
    });
    await runScheduled(cronTriggers.materialize, [ctx.tenantId]);
    const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql`SELECT status, rows_processed::int AS processed, rows_unchanged::int AS unchanged, rows_failed::int AS failed
          FROM ai_feature_materialization_jobs WHERE id = ${job.id}`,
    ]);
    return rows![0]!;
  }

  it("re-runs a backfill: unchanged values are counted apart, changed sources restate, a fixed transformation writes a new version", async () => {
    const { ctx } = await tistisTenant(3);
    const group = (await findGroup(ctx, "user"))!;
    const start = new Date(Date.now() - 30 * DAY);
    const end = new Date();
    const countFeature = (await getFeature(ctx, "user.conversation_count")).id;

    const first = await runJob(ctx, group.id, start, end);
    expect(first.status).toBe("completed");
    expect(first.unchanged).toBe(0);
    const v1 = await latestValues(ctx, countFeature, 1);
    expect(v1.size).toBeGreaterThan(0);

    // The same window again: every value is computed as stored; nothing is written, nothing dropped.
    const again = await runJob(ctx, group.id, start, end);
    expect(again).toMatchObject({ status: "completed", processed: 0, unchanged: first.processed, failed: 0 });

    // The sources change (a conversation of the busiest user goes): that user's values are restated.
    const [userId] = [...v1.entries()].sort((a, b) => Number(b[1]) - Number(a[1]))[0]!;
    await ownerSql()`DELETE FROM ai_conversations WHERE id = (
      SELECT id FROM ai_conversations WHERE tenant_id = ${ctx.tenantId} AND user_id = ${userId}::uuid
      AND created_at >= ${start.toISOString()} ORDER BY created_at LIMIT 1)`;
    const restated = await runJob(ctx, group.id, start, end);
    expect(restated.status).toBe("completed");
    expect(restated.processed).toBeGreaterThanOrEqual(1);
    expect((restated.processed as number) + (restated.unchanged as number)).toBe(first.processed);
    const computed = first.processed as number;
    const afterRestatement = await latestValues(ctx, countFeature, 1);
    expect(afterRestatement.get(userId!)).toBe(Number(v1.get(userId!)) - 1);

    // A fixed transformation is version 2: the backfill writes it; `@v1` keeps answering the old values.
    const fixed = await updateFeature(ctx, "user.conversation_count", {
      transformationSql: TISTIS_GROUPS[1]!.features[0]!.transformationSql!.replace(
        "COUNT(*) AS value",
        "COUNT(*) * 10 AS value",
      ),
    });
    expect(fixed.currentVersion).toBe(2);
    const backfill = await runJob(ctx, group.id, start, end);
    expect(backfill).toMatchObject({ status: "completed", processed: afterRestatement.size, failed: 0 });
    expect((backfill.processed as number) + (backfill.unchanged as number)).toBe(computed);
    const v2 = await latestValues(ctx, countFeature, 2);
    expect([...v2.entries()]).toEqual([...afterRestatement.entries()].map(([e, n]) => [e, Number(n) * 10]));

    const read = await apiClient(serving)
      .as(ctx.tenantId, ["features:read"])
      .post("/v1/features/online", {
        entityType: "user",
        entityId: userId,
        features: ["user.conversation_count", "user.conversation_count@v1"],
      });
    expect(read.body.features).toEqual({
      "user.conversation_count": Number(afterRestatement.get(userId!)) * 10,
      "user.conversation_count@v1": afterRestatement.get(userId!),
    });

    // featureVersion narrows a job to that version: only version 1 is computed again.
    const onlyV1 = await runJob(ctx, group.id, start, end, 1);
    expect(onlyV1).toMatchObject({ status: "completed", processed: 0, unchanged: computed });
  });
});
