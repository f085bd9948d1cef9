// Workers RPC as a tenant's Worker sees it: these tests run in a Worker whose FEATURES
// binding points at the serving worker's FeatureStore entrypoint. The serving worker is an
// auxiliary worker, so it is the plain JS bundle `wrangler deploy` would upload.
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { optimizedDeps, workerBindings } from "#harness/worker-bindings.ts";
import { bundleWorker } from "../../scripts/lib/bundle-worker.ts";

export default defineProject({
  plugins: [
    cloudflareTest(({ inject }) => {
      const serving = bundleWorker("wrangler.toml", "dist/rpc-serving");
      const bindings = workerBindings(inject);
      return {
        miniflare: {
          compatibilityDate: serving.compatibilityDate,
          bindings,
          serviceBindings: { FEATURES: { name: "fs-serving", entrypoint: "FeatureStore" } },
          workers: [
            {
              name: "fs-serving",
              modules: true,
              scriptPath: serving.scriptPath,
              compatibilityDate: serving.compatibilityDate,
              bindings,
            },
          ],
        },
      };
    }),
  ],
  test: { name: "rpc", include: ["**/*.test.ts"], testTimeout: 20_000, hookTimeout: 60_000, deps: optimizedDeps },
});
