// Materialization fanned out on Cloudflare Queues. The cron trigger cuts each claimed job
// into units and sends one message per unit; consumers (up to the queue's concurrency) run
// them in parallel, retry a unit that failed for a passing reason, and send a unit that
// keeps failing to the dead-letter queue, whose consumer fails its job with the reason.
// Why Queues rather than Workflows: see ARCHITECTURE.md, "Materialization at scale".

import { pgError } from "#shared/db/pg-errors.ts";
import { type TenantContext, tenantContextFor } from "#shared/db/tenant.ts";
import type { Env } from "#shared/env.ts";
import { AppError } from "#shared/http/errors.ts";
import { loadRegistryFeatures, type ServedFeature } from "#shared/registry/snapshot.ts";
import { errorText } from "./job-runner.ts";
import {
  type ClaimedJob,
  describeUnit,
  failJob,
  loadUnit,
  markUnit,
  openUnits,
  planUnits,
  recordUnitError,
  rollUpJob,
} from "./job-units.ts";
import { runUnit, type UnitOptions } from "./unit-runner.ts";

export interface UnitMessage {
  tenantId: string;
  jobId: string;
  unitIndex: number;
  /** The job's window, for the roll-up's stats (saves a read per message). */
  startTime: string;
  endTime: string;
}

export const materializeQueues = { units: "fs-materialize", deadLetters: "fs-materialize-dlq" } as const;

/** The queue binding's shape we use (Cloudflare's Queue, narrowed: tests pass a recorder). */
export interface UnitQueue {
  sendBatch(messages: Iterable<{ body: UnitMessage }>): Promise<unknown>;
  send(message: UnitMessage): Promise<unknown>;
}

/** A consumer invocation's subrequests, kept under the 1,000 a Worker may make, with room for its own reads. */
export const consumerBudget = { subrequests: 900, perUnit: 12, perPage: 3 };

const leaseSeconds = 15 * 60;
const unitsInParallel = 2;

/** Plans the job's units and sends every unfinished one; the job's lease covers a queue consumer's run. */
export async function dispatchJob(env: Env, queue: UnitQueue, job: ClaimedJob, stepSeconds: number): Promise<number> {
  const ctx = tenantContextFor(env, job.tenant_id, { subject: "cron" });
  await planUnits(ctx, job, stepSeconds);
  const units = await openUnits(ctx, job.id);
  // Queues take at most 100 messages per sendBatch.
  for (let i = 0; i < units.length; i += 100) {
    await queue.sendBatch(
      units.slice(i, i + 100).map((u) => ({
        body: {
          tenantId: job.tenant_id,
          jobId: job.id,
          unitIndex: u.unit_index,
          startTime: job.start_time,
          endTime: job.end_time,
        },
      })),
    );
  }
  // No unit at all: the job is done now.
  await rollUpJob(ctx, job, leaseSeconds);
  return units.length;
}

/**
 * Errors worth no retry: the tenant's SQL or data is wrong (syntax, permissions, a write in
 * the read-only sandbox, bad values) and will be as wrong next time. Anything else (a
 * connection lost, a timeout, a service answering 5xx) is retried by the queue.
 */
export function isPermanent(error: unknown): boolean {
  if (error instanceof AppError) return true; // the SQL refused before it ran (set_config, clock functions)
  const pg = pgError(error);
  if (!pg?.code) return false;
  return ["42", "22", "25", "0A", "2B", "23", "44"].includes(pg.code.slice(0, 2));
}

export interface ConsumeOptions {
  statementTimeoutMs?: number;
  pageBytes?: number;
  /** Tests only. */
  crashAt?: UnitOptions["crashAt"];
}

type Outcome = "done" | "continued" | "skipped" | "failed" | "retry";

/** The units queue's consumer: each message one unit. */
export async function consumeUnits(
  batch: MessageBatch<UnitMessage>,
  env: Env,
  queue: UnitQueue,
  options: ConsumeOptions = {},
): Promise<Record<string, Outcome>> {
  const outcomes: Record<string, Outcome> = {};
  const registries = new Map<string, Promise<Map<string, ServedFeature>>>();
  let budget = consumerBudget.subrequests;

  async function handle(message: Message<UnitMessage>): Promise<Outcome> {
    const body = message.body;
    const ctx = tenantContextFor(env, body.tenantId, { subject: "cron" });
    if (budget < consumerBudget.perUnit + consumerBudget.perPage) {
      // This invocation's subrequests are spent: the unit goes back on the queue as a new
      // message (a retry would count against its attempts).
      await queue.send(body);
      message.ack();
      return "continued";
    }
    budget -= consumerBudget.perUnit;
    try {
      const unit = await loadUnit(ctx, body.jobId, body.unitIndex);
      if (unit?.job_status !== "running") {
        if (unit) await markUnit(ctx, body.jobId, body.unitIndex, "cancelled");
        message.ack();
        return "skipped";
      }
      let registry = registries.get(body.tenantId);
      if (!registry) {
        registry = loadRegistryFeatures(ctx.db, ctx.tenantId).then((r) => new Map(r.map((f) => [f.field, f])));
        registries.set(body.tenantId, registry);
      }
      const feature = (await registry).get(unit.feature_field);
      if (!feature?.transformationSql) {
        await markUnit(ctx, body.jobId, body.unitIndex, "cancelled");
      } else {
        // Units running beside this one get their share of what is left.
        const maxPages = Math.max(1, Math.floor(budget / consumerBudget.perPage / unitsInParallel));
        const result = await runUnit(ctx, unit, feature, {
          statementTimeoutMs: options.statementTimeoutMs ?? 300_000,
          pageBytes: options.pageBytes,
          maxPages,
          crashAt: options.crashAt,
        });
        if (result.status !== "skipped") budget -= result.pages * consumerBudget.perPage;
        if (result.status === "more") {
          await queue.send(body);
          message.ack();
          return "continued";
        }
      }
      await rollUpJob(ctx, { id: body.jobId, start_time: body.startTime, end_time: body.endTime }, leaseSeconds);
      message.ack();
      return "done";
    } catch (error) {
      return handleFailure(ctx, body, error, message, options);
    }
  }

  // Two units at a time: one's Redis refresh overlaps the other's Postgres write (each unit
  // holds one WebSocket and at most one HTTP request at a time: 4 of the 6 connections).
  const waiting = [...batch.messages];
  const lanes = await Promise.allSettled(
    Array.from({ length: Math.min(unitsInParallel, waiting.length) }, async () => {
      for (let message = waiting.shift(); message; message = waiting.shift()) {
        outcomes[`${message.body.jobId}#${message.body.unitIndex}`] = await handle(message);
      }
    }),
  );
  // Only a consumer that dies mid-unit gets here (tests): the invocation fails as a whole.
  const crashed = lanes.find((l) => l.status === "rejected");
  if (crashed) throw (crashed as PromiseRejectedResult).reason;
  return outcomes;
}

async function handleFailure(
  ctx: TenantContext,
  body: UnitMessage,
  error: unknown,
  message: Message<UnitMessage>,
  options: ConsumeOptions,
): Promise<Outcome> {
  if (options.crashAt) throw error; // a killed consumer acknowledges nothing
  const text = errorText(error);
  const unit = await loadUnit(ctx, body.jobId, body.unitIndex).catch(() => undefined);
  const name = unit ? describeUnit(unit) : `unit ${body.unitIndex}`;
  if (isPermanent(error)) {
    await markUnit(ctx, body.jobId, body.unitIndex, "failed").catch(() => {});
    await failJob(ctx, body.jobId, `${name}: ${text}`).catch(() => {});
    message.ack();
    return "failed";
  }
  await recordUnitError(ctx, body.jobId, body.unitIndex, text).catch(() => {});
  console.warn(`${name} of job ${body.jobId} failed (attempt ${message.attempts}), retried: ${text}`);
  message.retry();
  return "retry";
}

/** The dead-letter queue's consumer: a unit out of retries fails its job with its last error. */
export async function consumeDeadLetters(batch: MessageBatch<UnitMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const body = message.body;
    const ctx = tenantContextFor(env, body.tenantId, { subject: "cron" });
    const unit = await loadUnit(ctx, body.jobId, body.unitIndex);
    if (unit && (unit.status === "pending" || unit.status === "written")) {
      await markUnit(ctx, body.jobId, body.unitIndex, "failed");
      await failJob(
        ctx,
        body.jobId,
        `${describeUnit(unit)} failed after ${unit.attempts} attempts: ${unit.last_error ?? "unknown error"}`,
      );
    }
    message.ack();
  }
}
