// Admin worker: the feature registry (groups, versioned definitions, stats), the TIS TIS
// bootstrap and materialization jobs, all scoped to the token's tenant.
import { createApp, protectApi } from "#shared/http/app.ts";
import { registerHealthRoute } from "#shared/http/health.ts";
import { registerBearerScheme } from "#shared/http/openapi.ts";
import { registerBootstrapRoute } from "./routes/bootstrap.ts";
import { registerFeatureRoutes } from "./routes/features.ts";
import { registerGroupRoutes } from "./routes/groups.ts";
import { registerJobRoutes } from "./routes/jobs.ts";

/** Registry documents are small; anything larger is a mistake or an attack. */
const maxBodyBytes = 64 * 1024;

const app = createApp();
registerHealthRoute(app, "admin");
registerBearerScheme(app);

app.doc31("/v1/admin/openapi.json", {
  openapi: "3.1.0",
  info: {
    title: "Feature store admin API",
    version: "1.0.0",
    description: "Registry (groups, versioned features, stats), TIS TIS bootstrap and materialization jobs.",
  },
});

protectApi(app, { prefix: "/v1/admin", openApiPath: "/v1/admin/openapi.json", maxBodyBytes });

registerGroupRoutes(app);
registerFeatureRoutes(app);
registerBootstrapRoute(app);
registerJobRoutes(app);

export default app;
