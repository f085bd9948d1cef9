// The vitest project of one worker: its tests run inside workerd with its wrangler config
// and the local stack's bindings (started by global-setup.ts).
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { optimizedDeps, workerBindings } from "#harness/worker-bindings.ts";

export function workerProject(name: string, wranglerConfig: string, include = ["src/**/*.test.ts"]) {
  return defineProject({
    plugins: [
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: wranglerConfig },
        miniflare: { bindings: workerBindings(inject) },
      })),
    ],
    test: { name, include, testTimeout: 20_000, hookTimeout: 20_000, deps: optimizedDeps },
  });
}
