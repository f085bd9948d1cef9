// Runs one claimed materialization job for its tenant, in units of (window, feature
// version), and stops early (keeping a checkpoint) when the invocation's budget is spent, the
// job is cancelled, or its lease was taken over. A job writes each feature's current version
// and, when it has one, its staged version (or only the version `feature_version` names).
// Resuming writes nothing twice: a value written again as stored is a no-op (counted as
// unchanged), a different one a restatement, and online writes are newest-wins.
import { sql } from "drizzle-orm";
import { pgError } from "#shared/db/pg-errors.ts";
import { type TenantContext, tenantContextFor, tenantRows } from "#shared/db/tenant.ts";
import type { Env } from "#shared/env.ts";
import { runTransformation } from "#shared/features/transformation.ts";
import { checkValue, fromTransformation } from "#shared/features/values.ts";
import { type FeatureWrite, writeFeatureValues } from "#shared/features/writes.ts";
import { loadRegistryFeatures, type ServedFeature } from "#shared/registry/snapshot.ts";
import { computeFeatureStats } from "#shared/registry/stats.ts";

export interface ClaimedJob {
  id: string;
  tenant_id: string;
  feature_group_id: string;
  job_type: "full" | "incremental" | "point_in_time";
  start_time: string;
  end_time: string;
  checkpoint: Checkpoint | null;
  started_at: string;
  rows_processed: string | number;
  rows_unchanged: string | number;
  rows_failed: string | number;
  feature_version: number | null;
}

interface Checkpoint {
  /** The feature versions the job writes (`<id>@<version>`), fixed when it starts. */
  fields: string[];
  nextUnit: number;
}

export interface RunLimits {
  workerId: string;
  leaseSeconds: number;
  /** Wall-clock budget for this invocation; the job resumes in the next one. */
  deadline: number;
  statementTimeoutMs: number;
  /** Step of a point_in_time backfill: one window per step. */
  backfillStepSeconds: number;
  /** Units to run in this invocation at most. */
  maxUnits: number;
}

// Values per write statement: planning one costs ~15 ms (the restatement check probes a
// partitioned table), so larger statements amortise it (2,000 → 5,000: see the note of issue 15).
const writeChunk = 5000;
const maxFailureSamples = 20;

export type JobOutcome = "completed" | "failed" | "cancelled" | "paused" | "lost";

/** The windows a job covers: one for full/incremental, a series ending at each step for point_in_time. */
export function jobWindows(job: Pick<ClaimedJob, "job_type" | "start_time" | "end_time">, stepSeconds: number) {
  const start = new Date(job.start_time).getTime();
  const end = new Date(job.end_time).getTime();
  if (job.job_type !== "point_in_time") return [{ start: new Date(start), end: new Date(end) }];
  const windows: { start: Date; end: Date }[] = [];
  for (let from = start; from < end; from += stepSeconds * 1000) {
    windows.push({ start: new Date(from), end: new Date(Math.min(end, from + stepSeconds * 1000)) });
  }
  return windows;
}

export async function runJob(env: Env, job: ClaimedJob, limits: RunLimits): Promise<JobOutcome> {
  const ctx = tenantContextFor(env, job.tenant_id, { subject: "cron" });
  const started = Date.now();
  const registry = await loadRegistryFeatures(ctx.db, ctx.tenantId);
  const [definitions] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT id FROM ai_feature_definitions
        WHERE group_id = ${job.feature_group_id} AND status = 'active'
        ORDER BY name`,
  ]);
  const inGroup = new Set(definitions!.map((d) => d.id as string));
  const byField = new Map(registry.map((f) => [f.field, f]));
  const checkpoint: Checkpoint = job.checkpoint?.fields
    ? job.checkpoint
    : { fields: versionsToWrite(registry, inGroup, job.feature_version), nextUnit: job.checkpoint?.nextUnit ?? 0 };
  const features = checkpoint.fields
    .map((field) => byField.get(field))
    .filter((f): f is ServedFeature => f?.transformationSql != null);
  const windows = jobWindows(job, limits.backfillStepSeconds);
  const totalUnits = windows.length * checkpoint.fields.length;
  let processed = Number(job.rows_processed);
  let unchanged = Number(job.rows_unchanged);
  let failed = Number(job.rows_failed);
  const samples: { feature: string; entityId: string; reason: string }[] = [];

  /** Saves progress; false when the job is no longer ours (cancelled, or lease taken over). */
  async function saveProgress(fields: { status?: string; error?: string | null; done?: boolean }) {
    const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
      sql`UPDATE ai_feature_materialization_jobs SET
            checkpoint = ${JSON.stringify(checkpoint)}::jsonb,
            progress = ${totalUnits === 0 ? 100 : Math.min(100, Math.round((checkpoint.nextUnit / totalUnits) * 10000) / 100)},
            rows_processed = ${processed}, rows_unchanged = ${unchanged}, rows_failed = ${failed},
            failure_samples = COALESCE((SELECT jsonb_agg(s) FROM (
              SELECT s FROM jsonb_array_elements(failure_samples || ${JSON.stringify(samples)}::jsonb) AS s LIMIT ${maxFailureSamples}) AS kept), '[]'),
            lease_expires_at = ${fields.done ? null : sql`now() + make_interval(secs => ${limits.leaseSeconds})`},
            status = COALESCE(${fields.status ?? null}, status),
            error_message = COALESCE(${fields.error ?? null}, error_message),
            completed_at = CASE WHEN ${Boolean(fields.done)} THEN now() ELSE completed_at END,
            duration_ms = CASE WHEN ${Boolean(fields.done)} THEN (extract(epoch FROM now() - started_at) * 1000)::bigint ELSE duration_ms END
          WHERE id = ${job.id} AND lease_owner = ${limits.workerId} AND status = 'running'
          RETURNING status`,
    ]);
    samples.length = 0;
    return rows!.length > 0;
  }

  let unitsRun = 0;
  try {
    while (checkpoint.nextUnit < totalUnits) {
      if (Date.now() > limits.deadline || unitsRun >= limits.maxUnits) {
        // Out of budget: hand the job back (lease ends now) so the next invocation resumes it.
        const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
          sql`UPDATE ai_feature_materialization_jobs SET checkpoint = ${JSON.stringify(checkpoint)}::jsonb,
                rows_processed = ${processed}, rows_unchanged = ${unchanged}, rows_failed = ${failed},
                lease_expires_at = now()
              WHERE id = ${job.id} AND lease_owner = ${limits.workerId} AND status = 'running' RETURNING id`,
        ]);
        return rows!.length ? "paused" : "lost";
      }
      const window = windows[Math.floor(checkpoint.nextUnit / checkpoint.fields.length)]!;
      const field = checkpoint.fields[checkpoint.nextUnit % checkpoint.fields.length]!;
      const feature = features.find((f) => f.field === field);
      if (feature) {
        const outcome = await materializeUnit(ctx, feature, window, limits.statementTimeoutMs);
        processed += outcome.written;
        unchanged += outcome.unchanged;
        failed += outcome.failures.length;
        for (const f of outcome.failures) if (samples.length < maxFailureSamples) samples.push(f);
      }
      checkpoint.nextUnit++;
      unitsRun++;
      if (!(await saveProgress({}))) {
        return (await currentStatus(ctx, job.id)) === "cancelled" ? "cancelled" : "lost";
      }
    }
    for (const feature of features) {
      await computeFeatureStats(ctx, feature, windows[0]!.end, windows.at(-1)!.end);
    }
    return (await saveProgress({ status: "completed", done: true })) ? "completed" : "lost";
  } catch (error) {
    const pg = pgError(error);
    const message = pg ? `${pg.message} (SQLSTATE ${pg.code})` : (error as Error).message;
    await saveProgress({ status: "failed", error: message.slice(0, 2000), done: true }).catch(() => {});
    console.error(`job ${job.id} failed after ${Date.now() - started} ms: ${message}`);
    return "failed";
  }
}

async function currentStatus(ctx: TenantContext, jobId: string): Promise<string | null> {
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT status FROM ai_feature_materialization_jobs WHERE id = ${jobId}`,
  ]);
  return (rows![0]?.status as string | undefined) ?? null;
}

/**
 * The feature versions a job over a group writes: each feature's current version and its
 * staged one, or only version `only` of the features that have it; those with SQL.
 */
function versionsToWrite(registry: ServedFeature[], inGroup: Set<string>, only: number | null): string[] {
  return registry
    .filter((f) => inGroup.has(f.id) && f.transformationSql)
    .filter((f) =>
      only === null ? f.version === f.currentVersion || f.version === f.stagedVersion : f.version === only,
    )
    .map((f) => f.field);
}

/** One feature version for one window: run its SQL in the sandbox, check each value, write the valid ones. */
async function materializeUnit(
  ctx: TenantContext,
  feature: ServedFeature,
  window: { start: Date; end: Date },
  statementTimeoutMs: number,
) {
  const rows = await runTransformation(ctx.db, ctx.tenantId, feature.transformationSql!, window, statementTimeoutMs);
  const writes: FeatureWrite[] = [];
  const failures: { feature: string; entityId: string; reason: string }[] = [];
  for (const row of rows) {
    const entityId = row.entity_id === null || row.entity_id === undefined ? "" : String(row.entity_id);
    if (!entityId) {
      failures.push({ feature: feature.qualifiedName, entityId, reason: "entity_id is null" });
      continue;
    }
    const checked = checkValue(feature, fromTransformation(feature.dataType, row.value));
    if (!checked.ok) failures.push({ feature: feature.qualifiedName, entityId, reason: checked.reason });
    else {
      writes.push({
        feature,
        entityType: feature.entityType,
        entityId,
        value: checked.value,
        valueType: checked.valueType,
        eventTime: window.end,
      });
    }
  }
  let written = 0;
  let unchanged = 0;
  for (let i = 0; i < writes.length; i += writeChunk) {
    const chunk = writes.slice(i, i + writeChunk);
    const stored = await writeFeatureValues(ctx, chunk);
    // Without an offline store there is no history to compare with: every value is written.
    written += feature.offlineEnabled || feature.dataType === "embedding" ? stored.offlineInserted : chunk.length;
    unchanged += stored.unchanged;
  }
  return { written, unchanged, failures };
}
