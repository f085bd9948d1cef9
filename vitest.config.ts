import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["./test/global-setup.ts"],
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      "./workers/*/vitest.config.ts",
      "./shared/vitest.config.ts",
      "./test/vitest.config.ts",
      "./test/node/vitest.config.ts",
      "./test/rpc/vitest.config.ts",
      "./client/vitest.config.ts",
      "./test/console/vitest.config.ts",
    ],
  },
});
