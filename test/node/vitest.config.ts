// Checks that need Node rather than workerd (tools that generate code at run time, such as
// the OpenAPI schema validator built on ajv).
import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "node",
    environment: "node",
    include: ["**/*.test.ts"],
    testTimeout: 20_000,
  },
});
