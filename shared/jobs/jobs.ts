// Materialization jobs as tenants see them: create, list, get, cancel. The cron worker
// claims them and runs their units (or fans them out); cancel stops the units not started.
import type { z } from "@hono/zod-openapi";
import { type SQL, sql } from "drizzle-orm";
import { keysetPage } from "#shared/db/keyset-page.ts";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import { AppError } from "#shared/http/errors.ts";
import { ensureTenantRow, findGroup } from "#shared/registry/groups.ts";
import type { createJobBody, MaterializationJob } from "#shared/registry/schemas.ts";

const DAY_MS = 86_400_000;
/** The widest window one job may cover, and the earliest time it may start. */
export const jobLimits = { maxSpanDays: 3660, earliestStart: "2000-01-01T00:00:00Z", maxFutureMs: DAY_MS };

const jobJson = sql`materialization_job_json(j) AS json`;

interface JobRow {
  json: MaterializationJob;
}

function checkWindow(start: Date, end: Date): void {
  const problems: { path: string; message: string }[] = [];
  if (start >= end) problems.push({ path: "endTime", message: "must be after startTime" });
  if (start < new Date(jobLimits.earliestStart))
    problems.push({ path: "startTime", message: `must be after ${jobLimits.earliestStart}` });
  if (end.getTime() > Date.now() + jobLimits.maxFutureMs)
    problems.push({ path: "endTime", message: "must not be more than a day in the future" });
  if (end.getTime() - start.getTime() > jobLimits.maxSpanDays * DAY_MS) {
    problems.push({ path: "endTime", message: `the window may span at most ${jobLimits.maxSpanDays} days` });
  }
  if (problems.length) throw new AppError("VALIDATION_FAILED", "The job's window is not valid", problems);
}

export async function createJob(ctx: TenantContext, input: z.infer<typeof createJobBody>): Promise<MaterializationJob> {
  const start = new Date(input.startTime);
  const end = new Date(input.endTime);
  checkWindow(start, end);
  const group = await findGroup(ctx, input.featureGroupId);
  if (!group) throw new AppError("NOT_FOUND", `Feature group ${input.featureGroupId} not found`);
  if (group.status === "archived") throw new AppError("CONFLICT", `Feature group ${group.name} is archived`);
  const [, rows] = await tenantRows(ctx.db, ctx.tenantId, [
    ensureTenantRow(ctx.tenantId),
    sql`INSERT INTO ai_feature_materialization_jobs AS j
          (tenant_id, feature_group_id, job_type, start_time, end_time, feature_version, created_by)
        VALUES (${ctx.tenantId}, ${group.id}, ${input.jobType}, ${start.toISOString()}, ${end.toISOString()},
                ${input.featureVersion ?? null}, ${ctx.subject})
        RETURNING materialization_job_json(j) AS json`,
  ]);
  return (rows![0] as unknown as JobRow).json;
}

export async function getJob(ctx: TenantContext, jobId: string): Promise<MaterializationJob> {
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT ${jobJson} FROM ai_feature_materialization_jobs j WHERE j.id = ${jobId}`,
  ]);
  const row = rows![0] as unknown as JobRow | undefined;
  if (!row) throw new AppError("NOT_FOUND", `Job ${jobId} not found`);
  return row.json;
}

export interface ListJobsOptions {
  status?: string;
  featureGroupId?: string;
  jobType?: string;
  limit: number;
  cursor?: string;
}

export async function listJobs(ctx: TenantContext, options: ListJobsOptions) {
  const filters: SQL[] = [];
  if (options.status) filters.push(sql`j.status = ${options.status}`);
  if (options.featureGroupId) filters.push(sql`j.feature_group_id = ${options.featureGroupId}`);
  if (options.jobType) filters.push(sql`j.job_type = ${options.jobType}`);
  return keysetPage<MaterializationJob>(ctx, {
    from: sql`ai_feature_materialization_jobs j`,
    alias: "j",
    json: sql`materialization_job_json(j)`,
    filters,
    order: "newest first",
    limit: options.limit,
    cursor: options.cursor,
  });
}

/** pending or running → cancelled. A finished job answers 409 with its status. */
export async function cancelJob(ctx: TenantContext, jobId: string): Promise<MaterializationJob> {
  const [updated, current] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`UPDATE ai_feature_materialization_jobs AS j
        SET status = 'cancelled', completed_at = now(),
            duration_ms = CASE WHEN j.started_at IS NULL THEN NULL
                               ELSE (extract(epoch FROM now() - j.started_at) * 1000)::bigint END,
            lease_owner = NULL, lease_expires_at = NULL
        WHERE j.id = ${jobId} AND j.status IN ('pending', 'running')
        RETURNING materialization_job_json(j) AS json`,
    sql`SELECT j.status FROM ai_feature_materialization_jobs j WHERE j.id = ${jobId}`,
    // Units not started stop here; a unit running now notices when it next reads its state.
    sql`UPDATE ai_feature_materialization_units SET status = 'cancelled', updated_at = now()
        WHERE job_id = ${jobId} AND status = 'pending'
          AND EXISTS (SELECT 1 FROM ai_feature_materialization_jobs j WHERE j.id = ${jobId} AND j.status = 'cancelled')`,
  ]);
  const row = updated![0] as unknown as JobRow | undefined;
  if (row) return row.json;
  const status = current![0]?.status as string | undefined;
  if (!status) throw new AppError("NOT_FOUND", `Job ${jobId} not found`);
  throw new AppError("CONFLICT", `Job ${jobId} is already ${status}`);
}
