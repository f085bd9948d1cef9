// Cron worker: materialization, partition upkeep and TTL expiry on the cron triggers of
// workers/cron/wrangler.toml; GET /healthz for monitoring.

import { parseEnv } from "#shared/env.ts";
import { createApp } from "#shared/http/app.ts";
import { registerHealthRoute } from "#shared/http/health.ts";
import { runMaterialization } from "./materialize.ts";
import { cronTriggers } from "./triggers.ts";
import { runPartitionUpkeep, runTtlExpiry } from "./upkeep.ts";

const app = createApp();
registerHealthRoute(app, "cron");

export default {
  fetch: app.fetch,
  async scheduled(controller, bindings, _ctx) {
    const env = parseEnv(bindings);
    const started = Date.now();
    let result: unknown;
    switch (controller.cron) {
      case cronTriggers.materialize:
        result = await runMaterialization(env, {
          tenants: String(bindings.MATERIALIZE_TENANTS ?? "")
            .split(",")
            .filter(Boolean),
        });
        break;
      case cronTriggers.partitionUpkeep:
        result = await runPartitionUpkeep(env, { retentionMonths: Number(bindings.RETENTION_MONTHS ?? 24) });
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
