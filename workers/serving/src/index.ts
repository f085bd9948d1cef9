// Serving worker: the HTTP API (app.ts) as the default export, and the same routes as
// Workers RPC methods (FeatureStore) for a tenant's own Worker bound to this one.
import app from "./app.ts";

export { FeatureStore } from "./rpc.ts";
export default app;
