// Materialization throughput: a job turning an N-row source into N feature values (offline
// history + online latest, Postgres and Redis), against the floor: the same rows written
// by a plain INSERT ... SELECT (offline, then online upsert) inside Postgres.
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { ownerSql } from "#harness/stack.ts";
import { createJob } from "#shared/jobs/jobs.ts";
import { findGroup } from "#shared/registry/groups.ts";
import { runMaterialization } from "../workers/cron/src/materialize.ts";
import { report } from "./stats.ts";

const quick = Boolean(env.BENCH_QUICK);
const sourceRows = quick ? 50_000 : 1_000_000;
const tenantId = quick ? "00000000-0000-4000-8000-0000000b0102" : "00000000-0000-4000-8000-0000000b0106";
const windowStart = new Date(Date.UTC(2026, 0, 1));
const windowEnd = new Date(Date.UTC(2026, 1, 1));
const transformationSql = `SELECT id AS entity_id, EXTRACT(EPOCH FROM (updated_at - created_at))::int AS value
  FROM ai_conversations WHERE created_at >= :start_time AND created_at < :end_time`;

it("materialization throughput against INSERT ... SELECT", async () => {
  const ctx = testTenantContext(tenantId);
  const owner = ownerSql();
  await owner`INSERT INTO tenants (id, name) VALUES (${tenantId}, 'bench') ON CONFLICT DO NOTHING`;
  if (!(await findGroup(ctx, "bench_conv"))) {
    await defineFeatures(ctx, [
      {
        name: "bench_conv",
        entityType: "conversation",
        features: [
          { name: "duration", dataType: "int64", sourceType: "batch", transformationSql },
          { name: "duration_floor", dataType: "int64", sourceType: "batch" },
        ],
      },
    ]);
  }
  const group = (await findGroup(ctx, "bench_conv"))!;
  const [source] = await owner`SELECT count(*)::int AS n FROM ai_conversations WHERE tenant_id = ${tenantId}`;
  if (source!.n < sourceRows) {
    await owner.query(
      `INSERT INTO ai_conversations (tenant_id, channel, created_at, updated_at)
       SELECT $1, 'web', $2::timestamptz + (i % 2600000) * interval '1 second',
              $2::timestamptz + (i % 2600000) * interval '1 second' + (i % 3600) * interval '1 second'
       FROM generate_series(1, $3::int) AS i`,
      [tenantId, windowStart.toISOString(), sourceRows - source!.n],
    );
  }
  const all = await owner`SELECT id, name FROM ai_feature_definitions WHERE group_id = ${group.id}`;
  const productFeature = all.find((f) => f.name === "duration")!.id as string;
  const floorFeatureId = all.find((f) => f.name === "duration_floor")!.id as string;
  // Start clean: a previous run's values would make the writes no-ops.
  for (const id of [productFeature, floorFeatureId]) {
    await owner`DELETE FROM ai_feature_values WHERE tenant_id = ${tenantId} AND feature_id = ${id}`;
    await owner`DELETE FROM ai_feature_online WHERE tenant_id = ${tenantId} AND feature_id = ${id}`;
  }
  await owner`SELECT create_feature_partition(0, ${windowEnd.toISOString()})`;

  // A run interrupted earlier must not compete with this one.
  await owner`UPDATE ai_feature_materialization_jobs SET status = 'cancelled' WHERE tenant_id = ${tenantId} AND status IN ('pending', 'running')`;
  const job = await createJob(ctx, {
    featureGroupId: group.id,
    jobType: "full",
    startTime: windowStart.toISOString(),
    endTime: windowEnd.toISOString(),
  });
  const started = performance.now();
  const run = await runMaterialization(ctx.env, {
    tenants: [tenantId],
    budgetMs: 1_800_000,
    statementTimeoutMs: 600_000,
  });
  const productMs = performance.now() - started;
  expect(run.outcomes).toEqual({ [job.id]: "completed" });
  const [written] =
    await owner`SELECT count(*)::int AS n FROM ai_feature_values WHERE tenant_id = ${tenantId} AND feature_id = ${productFeature}`;
  expect(written!.n).toBe(sourceRows);

  const floorStarted = performance.now();
  await owner.transaction([
    owner.query(
      `INSERT INTO ai_feature_values (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp)
       SELECT tenant_id, $2, 'conversation', id::text, to_jsonb(EXTRACT(EPOCH FROM (updated_at - created_at))::int), 'scalar', $4
       FROM ai_conversations WHERE tenant_id = $1 AND created_at >= $3 AND created_at < $4`,
      [tenantId, floorFeatureId, windowStart.toISOString(), windowEnd.toISOString()],
    ),
    owner.query(
      `INSERT INTO ai_feature_online AS o (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp)
       SELECT tenant_id, $2, 'conversation', id::text, to_jsonb(EXTRACT(EPOCH FROM (updated_at - created_at))::int), 'scalar', $4
       FROM ai_conversations WHERE tenant_id = $1 AND created_at >= $3 AND created_at < $4
       ON CONFLICT (tenant_id, feature_id, feature_version, entity_type, entity_id) DO UPDATE SET value = excluded.value, event_timestamp = excluded.event_timestamp
       WHERE excluded.event_timestamp > o.event_timestamp`,
      [tenantId, floorFeatureId, windowStart.toISOString(), windowEnd.toISOString()],
    ),
  ]);
  const floorMs = performance.now() - floorStarted;

  const rate = (ms: number) => Math.round(sourceRows / (ms / 1000));
  report({
    name: "materialization_rows_per_second",
    params: { sourceRows },
    value: rate(productMs),
    unit: "rows/s",
    floor: rate(floorMs),
    floorName: "plain INSERT ... SELECT of the same rows into the offline and online tables, inside Postgres",
    extra: {
      productMs: Math.round(productMs),
      floorMs: Math.round(floorMs),
      slowdown: Math.round((productMs / floorMs) * 10) / 10,
    },
  });
});
