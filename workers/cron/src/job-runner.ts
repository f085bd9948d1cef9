// Runs a claimed job's units in this invocation, one after the other, until its budget is
// spent (the job is then handed back and resumed by the next invocation). This is the path
// of a worker without a queue binding; with one, units fan out to queue consumers
// (queue-consumer.ts) and the same unit runner does the work there.

import { sql } from "drizzle-orm";
import { isServiceUnavailable, pgError } from "#shared/db/pg-errors.ts";
import { type TenantContext, tenantContextFor, tenantRows } from "#shared/db/tenant.ts";
import type { Env } from "#shared/env.ts";
import {
  type ClaimedJob,
  describeUnit,
  failJob,
  type JobOutcome,
  openUnits,
  planUnits,
  recordUnitError,
  rollUpJob,
} from "./job-units.ts";
import { runUnit, UnitCrash, type UnitOptions } from "./unit-runner.ts";

export type { ClaimedJob, JobOutcome } from "./job-units.ts";

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
  /** Tests only: fault points of the unit runner. */
  crashAt?: UnitOptions["crashAt"];
}

/** An error's text for a job: Postgres' message with its SQLSTATE, or the error's own. */
export function errorText(error: unknown): string {
  const pg = pgError(error);
  return pg ? `${pg.message} (SQLSTATE ${pg.code})` : (error as Error).message;
}

/** Ends this invocation's lease now, so the next invocation resumes the job. */
async function handBack(ctx: TenantContext, jobId: string): Promise<JobOutcome> {
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`UPDATE ai_feature_materialization_jobs SET lease_expires_at = now()
        WHERE id = ${jobId} AND status = 'running' RETURNING id`,
  ]);
  return rows!.length ? "paused" : "lost";
}

export async function runJob(env: Env, job: ClaimedJob, limits: RunLimits): Promise<JobOutcome> {
  const ctx = tenantContextFor(env, job.tenant_id, { subject: "cron" });
  const started = Date.now();
  const registry = await planUnits(ctx, job, limits.backfillStepSeconds);
  let unitsRun = 0;
  for (const unit of await openUnits(ctx, job.id)) {
    if (Date.now() > limits.deadline || unitsRun >= limits.maxUnits) {
      // Out of budget: hand the job back so the next invocation resumes it.
      return handBack(ctx, job.id);
    }
    const feature = registry.get(unit.feature_field);
    try {
      if (feature?.transformationSql) {
        await runUnit(ctx, unit, feature, { statementTimeoutMs: limits.statementTimeoutMs, crashAt: limits.crashAt });
      } else {
        // The feature version lost its SQL or was archived since the job was planned.
        await tenantRows(ctx.db, ctx.tenantId, [
          sql`UPDATE ai_feature_materialization_units SET status = 'done', updated_at = now()
              WHERE job_id = ${job.id} AND unit_index = ${unit.unit_index}`,
        ]);
      }
    } catch (error) {
      const message = `${describeUnit(unit, feature)}: ${errorText(error)}`;
      if (error instanceof UnitCrash) throw error;
      if (isServiceUnavailable(error)) {
        // A dropped connection or an unreachable database says nothing about the job: the
        // unit's transactions rolled back, so hand the job back and run the unit again later.
        console.warn(`job ${job.id}: ${message}; handed back to retry`);
        await recordUnitError(ctx, job.id, unit.unit_index, message).catch(() => {});
        // Unreachable still: the lease runs out by itself and another invocation claims it.
        return handBack(ctx, job.id).catch(() => "paused" as const);
      }
      await failJob(ctx, job.id, message).catch(() => {});
      console.error(`job ${job.id} failed after ${Date.now() - started} ms: ${message}`);
      return "failed";
    }
    unitsRun++;
    const status = await rollUpJob(ctx, job, limits.leaseSeconds);
    if (status === "cancelled") return "cancelled";
    if (status !== "running" && status !== "completed") return "lost";
  }
  const status = await rollUpJob(ctx, job, limits.leaseSeconds);
  if (status === "completed") return "completed";
  return status === "cancelled" ? "cancelled" : status === "failed" ? "failed" : "lost";
}
