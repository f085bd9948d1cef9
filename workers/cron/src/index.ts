// Cron worker: materialization, partition upkeep and TTL expiry on the cron triggers of
// workers/cron/wrangler.toml; the consumer of the materialization queue and of its
// dead-letter queue; GET /healthz for monitoring.
import { cronEnv, parseEnv } from "#shared/env.ts";
import { createWorkerApp } from "#shared/http/app.ts";
import { runCacheRepair } from "#shared/online-store/cache-repair.ts";
import { runMaterialization } from "./materialize.ts";
import {
  consumeDeadLetters,
  consumeUnits,
  materializeQueues,
  type UnitMessage,
  type UnitQueue,
} from "./queue-consumer.ts";
import { cronTriggers } from "./triggers.ts";
import { runPartitionUpkeep, runSearchIndexUpkeep, runTtlExpiry } from "./upkeep.ts";

const app = createWorkerApp({ service: "cron", env: cronEnv });

export default {
  fetch: app.fetch,
  async scheduled(controller, bindings, _ctx) {
    const env = parseEnv(bindings, cronEnv);
    const started = Date.now();
    let result: unknown;
    switch (controller.cron) {
      case cronTriggers.materialize:
        result = {
          materialization: await runMaterialization(env, {
            tenants: env.MATERIALIZE_TENANTS,
            queue: unitQueue(bindings),
            statementTimeoutMs: env.MATERIALIZE_STATEMENT_TIMEOUT_MS,
          }),
          // Every minute too: online values a failed Redis write left stale.
          cacheRepair: await runCacheRepair(env),
        };
        break;
      case cronTriggers.partitionUpkeep:
        result = await runPartitionUpkeep(env, { retentionMonths: env.RETENTION_MONTHS });
        break;
      case cronTriggers.ttlExpiry:
        result = {
          ttlExpiry: await runTtlExpiry(env),
          // Every five minutes too: a feature that outgrew exact search gets its own index.
          searchIndexes: await runSearchIndexUpkeep(env, { minRows: env.EXACT_SEARCH_MAX_ROWS }),
        };
        break;
      default:
        throw new Error(`no task for cron "${controller.cron}"`);
    }
    console.log(JSON.stringify({ cron: controller.cron, ms: Date.now() - started, result }));
  },
  async queue(batch, bindings, _ctx) {
    const env = parseEnv(bindings, cronEnv);
    if (batch.queue === materializeQueues.deadLetters)
      return consumeDeadLetters(batch as MessageBatch<UnitMessage>, env);
    const queue = unitQueue(bindings);
    if (!queue) throw new Error("the materialization queue has no producer binding (MATERIALIZE_QUEUE)");
    await consumeUnits(batch as MessageBatch<UnitMessage>, env, queue, {
      statementTimeoutMs: env.MATERIALIZE_STATEMENT_TIMEOUT_MS,
    });
  },
} satisfies ExportedHandler<Record<string, unknown>, UnitMessage>;

/** The units queue's producer, when this worker has one (without it, units run in the cron invocation). */
function unitQueue(bindings: Record<string, unknown>): UnitQueue | undefined {
  return (bindings.MATERIALIZE_QUEUE as UnitQueue | undefined) ?? undefined;
}
