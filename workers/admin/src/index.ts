// Admin worker: the feature registry (groups, versioned definitions, stats), the TIS TIS
// bootstrap and materialization jobs, all scoped to the token's tenant.
import { bodyLimit } from "hono/body-limit";
import { createApp } from "../../../shared/app.ts";
import { authenticate } from "../../../shared/auth.ts";
import { AppError } from "../../../shared/errors.ts";
import { registerHealthRoute } from "../../../shared/health.ts";
import { registerBearerScheme } from "../../../shared/openapi.ts";
import { registerBootstrapRoute } from "./routes/bootstrap.ts";
import { registerFeatureRoutes } from "./routes/features.ts";
import { registerGroupRoutes } from "./routes/groups.ts";
import { registerJobRoutes } from "./routes/jobs.ts";

/** Registry documents are small; anything larger is a mistake or an attack. */
export const maxBodyBytes = 64 * 1024;

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

app.use("/v1/admin/*", async (c, next) => {
  if (c.req.path === "/v1/admin/openapi.json") return next();
  return authenticate()(c, next);
});
app.use(
  "/v1/admin/*",
  bodyLimit({
    maxSize: maxBodyBytes,
    onError: () => {
      throw new AppError("PAYLOAD_TOO_LARGE", `The body is larger than ${maxBodyBytes} bytes`);
    },
  }),
);

registerGroupRoutes(app);
registerFeatureRoutes(app);
registerBootstrapRoute(app);
registerJobRoutes(app);

export default app;
