// The admin OpenAPI document validates against the OpenAPI 3.1 schema (a maintained
// validator) and lists every route the worker serves.
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import admin from "../../workers/admin/src/index.ts";

const document = admin.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "admin", version: "1" } });

describe("admin OpenAPI document", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(JSON.stringify(document)));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("lists every route the worker registers", () => {
    const served = admin.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    const documented = Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
      Object.keys(item ?? {}).map((method) => `${method} ${path}`),
    );
    // The console's pages (/console) are HTML for people, not part of the API.
    const expected = new Set(served.filter((r) => !r.endsWith("/openapi.json") && !r.includes(" /console")));
    expect(new Set(documented)).toEqual(expected);
    expect(documented.length).toBeGreaterThanOrEqual(18);
  });
});
