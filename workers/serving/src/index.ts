// Serving worker: online reads, push ingestion, historical training sets, embedding search.
import { createApp } from "../../../shared/app.ts";
import { registerHealthRoute } from "../../../shared/health.ts";

const app = createApp();
registerHealthRoute(app, "serving");

export default app;
