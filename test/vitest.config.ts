// Cross-cutting tests (tenant isolation, auth, Redis, partitions, schema drift), run in
// workerd with the serving worker's configuration.
import path from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { optimizedDeps, workerBindings } from "./worker-bindings.ts";

export default defineProject({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: path.resolve(import.meta.dirname, "../wrangler.toml") },
      miniflare: { bindings: workerBindings(inject) },
    })),
  ],
  test: {
    name: "foundation",
    include: ["*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    deps: optimizedDeps,
  },
});
