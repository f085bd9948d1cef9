// The client package, tested from Node against the workers served over HTTP (as an app
// outside the Workers runtime uses it), and its CLI.
import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "client",
    environment: "node",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 90_000,
  },
});
