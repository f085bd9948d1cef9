// Cron worker: materialization, partition upkeep and TTL expiry on the cron triggers of
// workers/cron/wrangler.toml; GET /healthz for monitoring.
import { cronEnv, parseEnv } from "#shared/env.ts";
import { createWorkerApp } from "#shared/http/app.ts";
import { runMaterialization } from "./materialize.ts";
import { cronTriggers } from "./triggers.ts";
import { runPartitionUpkeep, runTtlExpiry } from "./upkeep.ts";

const app = createWorkerApp({ service: "cron", env: cronEnv });

export default {
  fetch: app.fetch,
  async scheduled(controller, bindings, _ctx) {
    const env = parseEnv(bindings, cronEnv);
    const started = Date.now();
    let result: unknown;
    switch (controller.cron) {
      case cronTriggers.materialize:
        result = await runMaterialization(env, { tenants: env.MATERIALIZE_TENANTS });
        break;
      case cronTriggers.partitionUpkeep:
        result = await runPartitionUpkeep(env, { retentionMonths: env.RETENTION_MONTHS });
        break;
      case cronTriggers.ttlExpiry:
        result = await runTtlExpiry(env);
        break;
      default:
        throw new Error(`no task for cron "${controller.cron}"`);
    }
    console.log(JSON.stringify({ cron: controller.cron, ms: Date.now() - started, result }));
  },
} satisfies ExportedHandler<Record<string, unknown>>;
