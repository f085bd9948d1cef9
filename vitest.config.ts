import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["./test/global-setup.ts"],
    projects: ["./workers/*/vitest.config.ts", "./test/vitest.config.ts"],
  },
});
