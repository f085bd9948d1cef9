// Admin worker: the feature registry (groups, versioned definitions, stats), the TIS TIS
// bootstrap and materialization jobs, all scoped to the token's tenant.
import { adminEnv } from "#shared/env.ts";
import { createWorkerApp, serveTenantApi } from "#shared/http/app.ts";
import { registerConsole } from "./console/routes.tsx";
import { registerBootstrapRoute } from "./routes/bootstrap.ts";
import { registerFeatureRoutes } from "./routes/features.ts";
import { registerGroupRoutes } from "./routes/groups.ts";
import { registerJobRoutes } from "./routes/jobs.ts";
import { registerRegistryRoutes, registryRoutePaths } from "./routes/registry.ts";

const app = createWorkerApp({ service: "admin", env: adminEnv });

serveTenantApi(app, {
  prefix: "/v1/admin",
  openApi: {
    path: "/v1/admin/openapi.json",
    title: "Feature store admin API",
    description: "Registry (groups, versioned features, stats), TIS TIS bootstrap and materialization jobs.",
  },
  /** Registry documents are small; anything larger is a mistake or an attack. */
  maxBodyBytes: 64 * 1024,
  // A declared registry (features as code) carries every feature's SQL: its routes allow more.
  ownBodyLimits: registryRoutePaths,
});

registerGroupRoutes(app);
registerFeatureRoutes(app);
registerBootstrapRoute(app);
registerJobRoutes(app);
registerRegistryRoutes(app);
// The admin console (/console): pages for people, over the same services as the API.
registerConsole(app);

export default app;
