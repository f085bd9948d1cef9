// Materialization fanned out on the queue: units as messages, retries with no duplicates,
// the dead-letter queue, cancel, a unit larger than Neon's 10 MB answer, and the
// invocation's subrequest and connection budgets.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { createTenant } from "#harness/stack.ts";
import { type TenantContext, withTenantSql } from "#shared/db/tenant.ts";
import { runTransformation } from "#shared/features/transformation.ts";
import { cancelJob, createJob, getJob } from "#shared/jobs/jobs.ts";
import { generateConversations, insertConversations } from "../../../test/helpers/conversations.ts";
import serving from "../../serving/src/index.ts";
import worker from "./index.ts";
import { runMaterialization } from "./materialize.ts";
import { consumeUnits, materializeQueues, type UnitMessage, type UnitQueue } from "./queue-consumer.ts";

const DAY = 86_400_000;

/** A queue that keeps what is sent to it, for consumers called directly. */
function recordingQueue() {
  const sent: UnitMessage[] = [];
  const queue: UnitQueue = {
    sendBatch: async (messages) => {
      for (const m of messages) sent.push(m.body);
    },
    send: async (body) => {
      sent.push(body);
    },
  };
  return { sent, queue };
}

function batchOf(queueName: string, bodies: UnitMessage[], attempts = 1) {
  return createMessageBatch<UnitMessage>(
    queueName,
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts, body })),
  );
}

async function unitRows(ctx: TenantContext) {
  const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
    sql`SELECT unit_index, status, attempts, rows_written::int AS written, last_error
        FROM ai_feature_materialization_units ORDER BY unit_index`,
  ]);
  return rows!;
}

async function storedValues(ctx: TenantContext, featureId: string) {
  const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
    sql`SELECT entity_id, value, event_timestamp FROM ai_feature_values WHERE feature_id = ${featureId}
        ORDER BY entity_id, event_timestamp`,
  ]);
  return rows!;
}

/** A tenant with conversations over 3 days, a per-user count feature and a 3-window backfill job, dispatched. */
async function dispatchedBackfill(transformationSql?: string) {
  const tenantId = await createTenant("queue");
  const ctx = testTenantContext(tenantId);
  await insertConversations(tenantId, 6, generateConversations(11, 40, 6, new Date(Date.now() - 4 * DAY), new Date()));
  const { groups, features } = await defineFeatures(ctx, [
    {
      name: "user",
      entityType: "user",
      features: [
        {
          name: "conversations",
          dataType: "int64",
          sourceType: "batch",
          transformationSql:
            transformationSql ??
            `SELECT user_id AS entity_id, COUNT(*) AS value FROM ai_conversations
             WHERE created_at >= :start_time AND created_at < :end_time GROUP BY user_id`,
        },
      ],
    },
  ]);
  // One clock reading: a window of 3 days and a millisecond would be 4 units.
  const now = Date.now();
  const job = await createJob(ctx, {
    featureGroupId: groups.get("user")!.id,
    jobType: "point_in_time",
    startTime: new Date(now - 3 * DAY).toISOString(),
    endTime: new Date(now).toISOString(),
  });
  const { sent, queue } = recordingQueue();
  const run = await runMaterialization(ctx.env, { tenants: [tenantId], queue });
  expect(run.outcomes).toEqual({ [job.id]: "dispatched" });
  return { ctx, job, sent, queue, featureId: features.get("user.conversations")!.id };
}

describe("units on the queue", () => {
  it("sends one message per unit, and the consumer completes the job with counts summed over units", async () => {
    const { ctx, job, sent, queue, featureId } = await dispatchedBackfill();
    expect(sent.map((m) => m.unitIndex)).toEqual([0, 1, 2]);
    expect((await getJob(ctx, job.id)).status).toBe("running");
    const batch = batchOf(materializeQueues.units, sent.splice(0));
    const execution = createExecutionContext();
    await worker.queue(batch, { ...env }, execution);
    const result = await getQueueResult(batch, execution);
    expect(result.explicitAcks.sort()).toEqual(["m0", "m1", "m2"]);
    const done = await getJob(ctx, job.id);
    expect(done.status).toBe("completed");
    expect(done.progress).toBe(100);
    const stored = await storedValues(ctx, featureId);
    expect(stored.length).toBeGreaterThan(0);
    expect(done.rowsProcessed).toBe(stored.length);
    expect(sent).toEqual([]); // nothing sent back: each unit fit in one invocation
    expect(queue).toBeDefined();
  });

  it("retries a consumer killed mid-unit with no duplicate and exact counts", async () => {
    for (const crashAt of ["after-stage", "after-write", "after-first-page"] as const) {
      const { ctx, job, sent, queue, featureId } = await dispatchedBackfill();
      const messages = sent.splice(0);
      // The consumer dies inside its first unit: nothing is acknowledged, the batch is redelivered.
      await expect(
        consumeUnits(batchOf(materializeQueues.units, messages), ctx.env, queue, { crashAt }),
      ).rejects.toThrow(/killed/);
      const outcomes = await consumeUnits(batchOf(materializeQueues.units, messages, 2), ctx.env, queue);
      expect(Object.values(outcomes), crashAt).toEqual(["done", "done", "done"]);
      const stored = await storedValues(ctx, featureId);
      const keys = stored.map((r) => `${r.entity_id}@${r.event_timestamp}`);
      expect(new Set(keys).size, crashAt).toBe(keys.length);
      const finished = await getJob(ctx, job.id);
      expect(finished.status).toBe("completed");
      expect(finished.rowsProcessed, crashAt).toBe(stored.length);
      expect(finished.rowsUnchanged, crashAt).toBe(0);
      // A third delivery of the same messages changes nothing.
      await consumeUnits(batchOf(materializeQueues.units, messages, 3), ctx.env, queue);
      expect((await getJob(ctx, job.id)).rowsProcessed).toBe(stored.length);
      expect(await storedValues(ctx, featureId)).toEqual(stored);
    }
  });

  it("sends a unit that keeps failing to the dead-letter queue, which fails its job with the error", async () => {
    const { ctx, job, sent } = await dispatchedBackfill(
      "SELECT user_id AS entity_id, 1 AS value FROM ai_conversations, pg_sleep(0.5) WHERE created_at < :end_time",
    );
    const poison = sent.filter((m) => m.unitIndex === 0);
    const bindings = { ...env, MATERIALIZE_STATEMENT_TIMEOUT_MS: "100" };
    for (let attempt = 1; attempt <= 4; attempt++) {
      const batch = batchOf(materializeQueues.units, poison, attempt);
      const execution = createExecutionContext();
      await worker.queue(batch, bindings, execution);
      const result = await getQueueResult(batch, execution);
      // A timeout may pass: the queue retries it (up to max_retries, then the dead-letter queue).
      expect(result.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["m0"]);
    }
    expect((await unitRows(ctx))[0]).toMatchObject({ status: "pending", attempts: 4 });
    const dead = batchOf(materializeQueues.deadLetters, poison, 4);
    const execution = createExecutionContext();
    await worker.queue(dead, bindings, execution);
    expect((await getQueueResult(dead, execution)).explicitAcks).toEqual(["m0"]);
    const failed = await getJob(ctx, job.id);
    expect(failed.status).toBe("failed");
    expect(failed.errorMessage).toMatch(
      /unit 0 .* failed after 4 attempts: canceling statement due to statement timeout/,
    );
    // The job's other units will not run.
    expect((await unitRows(ctx)).map((u) => u.status)).toEqual(["failed", "cancelled", "cancelled"]);
  });

  it("fails the job at once, without retries, on an error the tenant's SQL will repeat", async () => {
    const { ctx, job, sent, queue } = await dispatchedBackfill(
      "SELECT user_id AS entity_id, 1 / (created_at IS NULL)::int AS value FROM ai_conversations WHERE created_at < :end_time",
    );
    const outcomes = Object.values(
      await consumeUnits(batchOf(materializeQueues.units, sent.splice(0)), ctx.env, queue),
    );
    // Units already running beside the first failure fail too; none is retried.
    expect(outcomes[0]).toBe("failed");
    expect(outcomes.every((o) => o === "failed" || o === "skipped")).toBe(true);
    const failed = await getJob(ctx, job.id);
    expect(failed.status).toBe("failed");
    expect(failed.errorMessage).toMatch(/division by zero/);
  });

  it("stops the remaining units of a job cancelled while it runs", async () => {
    const { ctx, job, sent, queue, featureId } = await dispatchedBackfill();
    const [first, ...rest] = sent.splice(0);
    await consumeUnits(batchOf(materializeQueues.units, [first!]), ctx.env, queue);
    const partial = await storedValues(ctx, featureId);
    expect(partial.length).toBeGreaterThan(0);
    expect((await cancelJob(ctx, job.id)).status).toBe("cancelled");
    const outcomes = await consumeUnits(batchOf(materializeQueues.units, rest), ctx.env, queue);
    expect(Object.values(outcomes)).toEqual(["skipped", "skipped"]);
    expect(await storedValues(ctx, featureId)).toEqual(partial);
    expect((await unitRows(ctx)).map((u) => u.status)).toEqual(["done", "cancelled", "cancelled"]);
    expect((await getJob(ctx, job.id)).status).toBe("cancelled");
  });
});

describe("a transformation that gives an entity more than once", () => {
  it("stores the later rows as restatements, serves the last one, and counts each", async () => {
    const tenantId = await createTenant("repeats");
    const ctx = testTenantContext(tenantId);
    const { groups, features } = await defineFeatures(ctx, [
      {
        name: "doc",
        entityType: "message",
        features: [
          {
            name: "score",
            dataType: "int64",
            sourceType: "batch",
            transformationSql: `SELECT CASE WHEN g <= 3 THEN 'a' ELSE 'b' || g END AS entity_id, g AS value
              FROM generate_series(1, 5) AS g WHERE :end_time::timestamptz IS NOT NULL`,
          },
        ],
      },
    ]);
    const job = await createJob(ctx, {
      featureGroupId: groups.get("doc")!.id,
      jobType: "full",
      startTime: new Date(Date.now() - DAY).toISOString(),
      endTime: new Date().toISOString(),
    });
    const { sent, queue } = recordingQueue();
    await runMaterialization(ctx.env, { tenants: [tenantId], queue });
    await consumeUnits(batchOf(materializeQueues.units, sent.splice(0)), ctx.env, queue);
    const stored = await storedValues(ctx, features.get("doc.score")!.id);
    expect(stored.map((r) => [r.entity_id, r.value]).sort()).toEqual([
      ["a", 1],
      ["a", 2],
      ["a", 3],
      ["b4", 4],
      ["b5", 5],
    ]);
    expect(await getJob(ctx, job.id)).toMatchObject({ status: "completed", rowsProcessed: 5 });
    const read = await apiClient(serving)
      .as(tenantId, ["features:read"])
      .post("/v1/features/online", { entityType: "message", entityId: "a", features: ["doc.score"] });
    expect(read.body.features["doc.score"]).toBe(3);
  });
});

describe("a unit larger than the services' limits", () => {
  // 6,000 rows of ~2 KB: 12 MB, more than one Neon HTTP answer may carry (10 MB).
  const bigSql = `SELECT 'e' || g AS entity_id, repeat('x', 2000) || g AS value
    FROM generate_series(1, 6000) AS g WHERE :end_time::timestamptz IS NOT NULL`;

  async function bigUnit() {
    const tenantId = await createTenant("big");
    const ctx = testTenantContext(tenantId);
    const { groups } = await defineFeatures(ctx, [
      {
        name: "doc",
        entityType: "message",
        features: [{ name: "body", dataType: "string", sourceType: "batch", transformationSql: bigSql }],
      },
    ]);
    const job = await createJob(ctx, {
      featureGroupId: groups.get("doc")!.id,
      jobType: "full",
      startTime: new Date(Date.now() - DAY).toISOString(),
      endTime: new Date().toISOString(),
    });
    return { ctx, job };
  }

  it("cannot be read whole over Neon's HTTP API (the local endpoint enforces its limit)", async () => {
    const { ctx } = await bigUnit();
    await expect(
      runTransformation(ctx.db, ctx.tenantId, bigSql, { start: new Date(Date.now() - DAY), end: new Date() }, 10_000),
    ).rejects.toThrow(/response is too large/);
  });

  it("materializes into Postgres and Redis within 1,000 subrequests and 6 simultaneous connections", async () => {
    const { ctx, job } = await bigUnit();
    const { sent, queue } = recordingQueue();
    await runMaterialization(ctx.env, { tenants: [ctx.tenantId], queue });
    // Every connection the consumer opens, counted where it leaves the isolate.
    const counts = { subrequests: 0, open: 0, maxOpen: 0 };
    const opened = () => {
      counts.subrequests++;
      counts.open++;
      counts.maxOpen = Math.max(counts.maxOpen, counts.open);
    };
    const realFetch = globalThis.fetch;
    const RealWebSocket = globalThis.WebSocket;
    globalThis.fetch = (async (...args: Parameters<typeof fetch>) => {
      opened();
      try {
        const response = await realFetch(...args);
        // The connection is busy until its body has been read.
        return new Response(await response.arrayBuffer(), response);
      } finally {
        counts.open--;
      }
    }) as typeof fetch;
    globalThis.WebSocket = class extends RealWebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        opened();
        this.addEventListener("close", () => counts.open--);
      }
    } as typeof WebSocket;
    let outcomes: Record<string, string>;
    try {
      // Small pages: the refresh takes many round trips, as a 10-million-row unit would.
      outcomes = await consumeUnits(batchOf(materializeQueues.units, sent.splice(0)), ctx.env, queue, {
        pageBytes: 256 * 1024,
      });
    } finally {
      globalThis.fetch = realFetch;
      globalThis.WebSocket = RealWebSocket;
    }
    expect(Object.values(outcomes)).toEqual(["done"]);
    console.log(`12 MB unit: ${counts.subrequests} subrequests, at most ${counts.maxOpen} open at once`);
    expect(counts.subrequests).toBeGreaterThan(50);
    expect(counts.subrequests).toBeLessThanOrEqual(1000);
    expect(counts.maxOpen).toBeLessThanOrEqual(6);
    const finished = await getJob(ctx, job.id);
    expect(finished).toMatchObject({ status: "completed", rowsProcessed: 6000, rowsFailed: 0 });
    // Served from Redis, exactly as written.
    const read = await apiClient(serving)
      .as(ctx.tenantId, ["features:read"])
      .post("/v1/features/online", { entityType: "message", entityIds: ["e1", "e6000"], features: ["doc.body"] });
    expect(read.status).toBe(200);
    expect(read.body.results.map((r: { features: Record<string, string> }) => r.features["doc.body"])).toEqual([
      `${"x".repeat(2000)}1`,
      `${"x".repeat(2000)}6000`,
    ]);
    expect(read.body.metadata.servedFrom).toBe("redis");
  });
});
