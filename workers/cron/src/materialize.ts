// The materialization trigger: queue due incremental jobs, claim runnable ones (pending, or
// running with an expired lease) and either send their units to the queue (when the worker
// has one: consumers run them in parallel) or run them here until the invocation's budget
// is spent.
import { sql } from "drizzle-orm";
import { connectDatabase } from "#shared/db/client.ts";
import type { Env } from "#shared/env.ts";
import { type ClaimedJob, type JobOutcome, type RunLimits, runJob } from "./job-runner.ts";
import { dispatchJob, type UnitQueue } from "./queue-consumer.ts";

export interface MaterializeOptions {
  /** Identifies this invocation as the lease holder. */
  workerId?: string;
  budgetMs?: number;
  maxJobs?: number;
  leaseSeconds?: number;
  statementTimeoutMs?: number;
  backfillStepSeconds?: number;
  /** Stop each job after this many units (it resumes in the next invocation). */
  maxUnitsPerJob?: number;
  /** Only these tenants' jobs (sharding across cron workers); all when unset. */
  tenants?: string[];
  /** Fan units out on this queue instead of running them here. */
  queue?: UnitQueue;
  /** Tests only: fault points of the unit runner (inline runs). */
  crashAt?: RunLimits["crashAt"];
}

export async function runMaterialization(env: Env, options: MaterializeOptions = {}) {
  const db = connectDatabase(env);
  const limits: RunLimits = {
    workerId: options.workerId ?? `cron-${crypto.randomUUID()}`,
    leaseSeconds: options.leaseSeconds ?? 120,
    deadline: Date.now() + (options.budgetMs ?? 25_000),
    statementTimeoutMs: options.statementTimeoutMs ?? 30_000,
    backfillStepSeconds: options.backfillStepSeconds ?? 86_400,
    maxUnits: options.maxUnitsPerJob ?? Number.POSITIVE_INFINITY,
    crashAt: options.crashAt,
  };
  const tenants = options.tenants?.length ? JSON.stringify(options.tenants) : null;
  const tenantList = sql`(SELECT array_agg(t.id::uuid) FROM jsonb_array_elements_text(${tenants}::jsonb) AS t(id))`;
  const enqueued = await db.db.execute(sql`SELECT id FROM enqueue_due_incremental_jobs(now(), ${tenantList})`);
  const outcomes: Record<string, JobOutcome> = {};
  let units = 0;
  const maxJobs = options.maxJobs ?? (options.queue ? 100 : 10);
  while (Object.keys(outcomes).length < maxJobs && Date.now() < limits.deadline) {
    // One at a time: a job claimed now but run only later could outlive its lease.
    const claimed = await db.db.execute(
      sql`SELECT * FROM claim_materialization_jobs(${limits.workerId}, ${limits.leaseSeconds}, 1, ${tenantList})`,
    );
    const job = claimed.rows[0] as unknown as ClaimedJob | undefined;
    if (!job) break;
    if (options.queue) {
      units += await dispatchJob(env, options.queue, job, limits.backfillStepSeconds);
      outcomes[job.id] = "dispatched";
      continue;
    }
    outcomes[job.id] = await runJob(env, job, limits);
    // A paused job ran out of this invocation's budget: so has the invocation.
    if (outcomes[job.id] === "paused") break;
  }
  return { enqueued: enqueued.rows.length, outcomes, ...(options.queue ? { unitsSent: units } : {}) };
}
