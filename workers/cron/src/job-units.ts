// A job as the sum of its units: cutting it into (window, feature version) units, and
// rolling the units' counts and progress up into the job, which completes when its last
// unit does and fails with the reason of a unit that cannot succeed.

import { sql } from "drizzle-orm";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import { isOnDemand } from "#shared/features/on-demand.ts";
import { loadRegistryFeatures, type ServedFeature } from "#shared/registry/snapshot.ts";
import { computeFeatureStats } from "#shared/registry/stats.ts";

export interface ClaimedJob {
  id: string;
  tenant_id: string;
  feature_group_id: string;
  job_type: "full" | "incremental" | "point_in_time";
  start_time: string;
  end_time: string;
  started_at: string;
  feature_version: number | null;
}

/** A unit as runners read it. */
export interface UnitRow {
  job_id: string;
  unit_index: number;
  feature_field: string;
  window_start: string;
  window_end: string;
  status: "pending" | "written" | "done" | "failed" | "cancelled";
  attempts: number;
  seq_low: string | null;
  seq_high: string | null;
  redis_after: string | null;
}

const unitColumns = sql`u.job_id, u.unit_index, u.feature_field, u.window_start, u.window_end, u.status, u.attempts,
  u.seq_low::text, u.seq_high::text, u.redis_after::text`;

export type JobOutcome = "completed" | "failed" | "cancelled" | "paused" | "dispatched" | "lost";

const maxFailureSamples = 20;

/**
 * The feature versions a job over a group writes: each feature's current version and its
 * staged one, or only version `only` of the features that have it; those with SQL, less
 * on-demand ones.
 */
function versionsToWrite(registry: ServedFeature[], inGroup: Set<string>, only: number | null): string[] {
  return (
    registry
      // On-demand features are computed when read: jobs leave them alone.
      .filter((f) => inGroup.has(f.id) && f.transformationSql && !isOnDemand(f))
      .filter((f) =>
        only === null ? f.version === f.currentVersion || f.version === f.stagedVersion : f.version === only,
      )
      .map((f) => f.field)
  );
}

/**
 * The job's units, created once (a job re-claimed later keeps its units and their state):
 * one window for full/incremental, one per step for point_in_time, times each feature
 * version written. Returns the registry the units refer to.
 */
export async function planUnits(
  ctx: TenantContext,
  job: ClaimedJob,
  stepSeconds: number,
): Promise<Map<string, ServedFeature>> {
  const registry = await loadRegistryFeatures(ctx.db, ctx.tenantId);
  const [definitions] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT id FROM ai_feature_definitions WHERE group_id = ${job.feature_group_id} AND status = 'active' ORDER BY name`,
  ]);
  const fields = versionsToWrite(registry, new Set(definitions!.map((d) => d.id as string)), job.feature_version);
  const step = job.job_type === "point_in_time" ? stepSeconds : null;
  // Windows are computed in SQL: a ten-year daily backfill is 3,650 windows per feature.
  await tenantRows(ctx.db, ctx.tenantId, [
    sql`INSERT INTO ai_feature_materialization_units
          (tenant_id, job_id, unit_index, feature_field, window_start, window_end)
        SELECT ${ctx.tenantId}, ${job.id}, (w.i * ${fields.length} + f.n - 1)::int, f.field,
               w.start, w.finish
        FROM (
          SELECT i, j.start_time + i * step AS start, LEAST(j.end_time, j.start_time + (i + 1) * step) AS finish
          FROM ai_feature_materialization_jobs j,
               LATERAL (SELECT COALESCE(make_interval(secs => ${step}), j.end_time - j.start_time) AS step) s,
               LATERAL generate_series(0, CEIL(extract(epoch FROM j.end_time - j.start_time) / extract(epoch FROM s.step))::int - 1) AS i
          WHERE j.id = ${job.id}
        ) w, jsonb_array_elements_text(${JSON.stringify(fields)}::jsonb) WITH ORDINALITY AS f(field, n)
        ON CONFLICT (job_id, unit_index) DO NOTHING`,
  ]);
  return new Map(registry.map((f) => [f.field, f]));
}

/** Units not finished yet, in order. */
export async function openUnits(ctx: TenantContext, jobId: string, limit = 100_000): Promise<UnitRow[]> {
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT ${unitColumns} FROM ai_feature_materialization_units u
        WHERE u.job_id = ${jobId} AND u.status IN ('pending', 'written')
        ORDER BY u.unit_index LIMIT ${limit}`,
  ]);
  return rows as unknown as UnitRow[];
}

export async function loadUnit(ctx: TenantContext, jobId: string, unitIndex: number) {
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT ${unitColumns}, u.last_error, j.status AS job_status
        FROM ai_feature_materialization_units u JOIN ai_feature_materialization_jobs j ON j.id = u.job_id
        WHERE u.job_id = ${jobId} AND u.unit_index = ${unitIndex}`,
  ]);
  return rows![0] as unknown as (UnitRow & { job_status: string; last_error: string | null }) | undefined;
}

/**
 * The job's counts and progress from its units, and a longer lease (it is making
 * progress). Completes the job when no unit is left and computes its stats; answers the
 * job's status afterwards.
 */
export async function rollUpJob(
  ctx: TenantContext,
  job: Pick<ClaimedJob, "id" | "start_time" | "end_time">,
  leaseSeconds: number,
): Promise<string | null> {
  const [, completed] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`UPDATE ai_feature_materialization_jobs j SET
          rows_processed = u.written, rows_unchanged = u.unchanged, rows_failed = u.failed,
          progress = CASE WHEN u.total = 0 THEN 100 ELSE round(100.0 * u.finished / u.total, 2) END,
          failure_samples = u.samples,
          lease_expires_at = now() + make_interval(secs => ${leaseSeconds})
        FROM (
          SELECT COALESCE(sum(rows_written), 0) AS written, COALESCE(sum(rows_unchanged), 0) AS unchanged,
                 COALESCE(sum(rows_failed), 0) AS failed, count(*) AS total,
                 count(*) FILTER (WHERE status IN ('done', 'failed', 'cancelled')) AS finished,
                 COALESCE((SELECT jsonb_agg(s) FROM (
                   SELECT s FROM ai_feature_materialization_units x, jsonb_array_elements(x.failure_samples) AS s
                   WHERE x.job_id = ${job.id} ORDER BY x.unit_index LIMIT ${maxFailureSamples}) AS kept), '[]') AS samples
          FROM ai_feature_materialization_units WHERE job_id = ${job.id}
        ) u
        WHERE j.id = ${job.id} AND j.status = 'running'`,
    sql`UPDATE ai_feature_materialization_jobs j
        SET status = 'completed', completed_at = now(), lease_expires_at = NULL, progress = 100,
            duration_ms = (extract(epoch FROM now() - j.started_at) * 1000)::bigint
        WHERE j.id = ${job.id} AND j.status = 'running'
          AND NOT EXISTS (SELECT 1 FROM ai_feature_materialization_units u
                          WHERE u.job_id = j.id AND u.status IN ('pending', 'written'))
        RETURNING j.id`,
  ]);
  if (completed!.length) {
    // Only the caller that completed the job computes its stats.
    await computeJobStats(ctx, job);
    return "completed";
  }
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT status FROM ai_feature_materialization_jobs WHERE id = ${job.id}`,
  ]);
  return (rows![0]?.status as string | undefined) ?? null;
}

async function computeJobStats(ctx: TenantContext, job: Pick<ClaimedJob, "id" | "start_time" | "end_time">) {
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT DISTINCT feature_field, min(window_end) OVER (PARTITION BY feature_field) AS first_end
        FROM ai_feature_materialization_units WHERE job_id = ${job.id}`,
  ]);
  for (const row of rows!) {
    const [id, version] = String(row.feature_field).split("@");
    await computeFeatureStats(
      ctx,
      { id: id!, version: Number(version) },
      new Date(row.first_end as string),
      new Date(job.end_time),
    );
  }
}

/** The job fails with `message`; its units not started are cancelled. */
export async function failJob(ctx: TenantContext, jobId: string, message: string): Promise<void> {
  await tenantRows(ctx.db, ctx.tenantId, [
    sql`UPDATE ai_feature_materialization_jobs j
        SET status = 'failed', error_message = ${message.slice(0, 2000)}, completed_at = now(), lease_expires_at = NULL,
            duration_ms = (extract(epoch FROM now() - j.started_at) * 1000)::bigint
        WHERE j.id = ${jobId} AND j.status = 'running'`,
    sql`UPDATE ai_feature_materialization_units SET status = 'cancelled', updated_at = now()
        WHERE job_id = ${jobId} AND status = 'pending'`,
  ]);
}

/** A unit's failed attempt, kept for the dead-letter queue's report. */
export async function recordUnitError(ctx: TenantContext, jobId: string, unitIndex: number, message: string) {
  await tenantRows(ctx.db, ctx.tenantId, [
    sql`UPDATE ai_feature_materialization_units
        SET attempts = attempts + 1, last_error = ${message.slice(0, 2000)}, updated_at = now()
        WHERE job_id = ${jobId} AND unit_index = ${unitIndex}`,
  ]);
}

export async function markUnit(ctx: TenantContext, jobId: string, unitIndex: number, status: "failed" | "cancelled") {
  await tenantRows(ctx.db, ctx.tenantId, [
    sql`UPDATE ai_feature_materialization_units SET status = ${status}, updated_at = now()
        WHERE job_id = ${jobId} AND unit_index = ${unitIndex} AND status IN ('pending', 'written')`,
  ]);
}

/** A unit's name in a job's error: which feature, which window. */
export function describeUnit(
  unit: Pick<UnitRow, "unit_index" | "feature_field" | "window_start" | "window_end">,
  feature?: ServedFeature,
) {
  const name = feature ? `${feature.qualifiedName}@v${feature.version}` : unit.feature_field;
  return `unit ${unit.unit_index} (${name}, window ${new Date(unit.window_start).toISOString()} to ${new Date(unit.window_end).toISOString()})`;
}
