// Admin worker: the feature registry (groups, versioned definitions, stats) and jobs.
import { createApp } from "../../../shared/app.ts";
import { registerHealthRoute } from "../../../shared/health.ts";

const app = createApp();
registerHealthRoute(app, "admin");

export default app;
