// Benchmarks run inside workerd like the product, against the same local stack as the
// tests. Not part of `npm test`: `npm run bench` runs them and records the results.
import path from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { optimizedDeps, workerBindings } from "#harness/worker-bindings.ts";

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: path.resolve(import.meta.dirname, "../wrangler.toml") },
      miniflare: {
        bindings: {
          ...workerBindings(inject),
          BENCH_QUICK: process.env.BENCH_QUICK ?? "",
          BENCH_LARGE: process.env.BENCH_LARGE ?? "",
          // Building the data (an HNSW index over 100,000 vectors) takes minutes over HTTP.
          POSTGRES_TIMEOUT_MS: "900000",
        },
      },
    })),
  ],
  test: {
    root: path.resolve(import.meta.dirname, ".."),
    include: [process.env.BENCH_FILE ?? "bench/**/*.bench.ts"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    deps: optimizedDeps,
  },
});
