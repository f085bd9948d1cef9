// The serving worker's HTTP API: online reads, push ingestion, training sets and embedding
// search for the token's tenant.
import { servingEnv } from "#shared/env.ts";
import { createWorkerApp, serveTenantApi } from "#shared/http/app.ts";
import { servingMetrics } from "#shared/metrics/serving-metrics.ts";
import { registerBatchRoute } from "./routes/batch.ts";
import { registerHistoricalRoute } from "./routes/historical.ts";
import { registerOnlineRoute } from "./routes/online.ts";
import { registerPushRoute } from "./routes/push.ts";
import { registerSearchRoute } from "./routes/search.ts";

const app = createWorkerApp({ service: "serving", env: servingEnv });

serveTenantApi(app, {
  prefix: "/v1",
  openApi: { path: "/v1/openapi.json", title: "Feature store serving API" },
  /** 1 MB: a push of 1,000 rows, or 1,000 entity ids, fits comfortably. */
  maxBodyBytes: 1024 * 1024,
  // Training sets are asked for in bulk (up to 1,000,000 pairs): the route limits its body.
  ownBodyLimits: ["/v1/features/historical"],
});

// Counted after the answer, so the counting never delays it (serving health).
app.use("/v1/*", servingMetrics());
registerOnlineRoute(app);
registerPushRoute(app);
registerSearchRoute(app);
registerHistoricalRoute(app);
registerBatchRoute(app);

export default app;
