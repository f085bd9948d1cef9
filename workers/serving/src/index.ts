// Serving worker: online reads, push ingestion and embedding search for the token's tenant.
import { createApp, protectApi } from "#shared/http/app.ts";
import { registerHealthRoute } from "#shared/http/health.ts";
import { registerBearerScheme } from "#shared/http/openapi.ts";
import { registerBatchRoute } from "./routes/batch.ts";
import { registerHistoricalRoute } from "./routes/historical.ts";
import { registerOnlineRoute } from "./routes/online.ts";
import { registerPushRoute } from "./routes/push.ts";
import { registerSearchRoute } from "./routes/search.ts";

/** 1 MB: a push of 1,000 rows, or 1,000 entity ids, fits comfortably. */
const maxBodyBytes = 1024 * 1024;

const app = createApp();
registerHealthRoute(app, "serving");
registerBearerScheme(app);

app.doc31("/v1/openapi.json", {
  openapi: "3.1.0",
  info: { title: "Feature store serving API", version: "1.0.0" },
});

protectApi(app, {
  prefix: "/v1",
  openApiPath: "/v1/openapi.json",
  maxBodyBytes,
  // Training sets are asked for in bulk (up to 1,000,000 pairs): the route limits its body.
  ownBodyLimits: ["/v1/features/historical"],
});

registerOnlineRoute(app);
registerPushRoute(app);
registerSearchRoute(app);
registerHistoricalRoute(app);
registerBatchRoute(app);

export default app;
