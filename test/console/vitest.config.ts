// The admin console in a real browser: Debian's chromium driven by playwright-core, against
// the serving, admin and cron workers served over HTTP. Screenshots go to docs/console/.
import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "console",
    environment: "node",
    include: ["**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
