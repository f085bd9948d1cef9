// Cron worker: materialization, partition upkeep and TTL expiry on cron triggers.
import { createApp } from "../../../shared/app.ts";
import { registerHealthRoute } from "../../../shared/health.ts";

const app = createApp();
registerHealthRoute(app, "cron");

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Record<string, unknown>>;
