import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import worker from "../index.ts";

const api = apiClient(worker);

describe("GET /v1/admin/openapi.json", () => {
  it("serves the generated document without a token", async () => {
    const response = await api.call("/v1/admin/openapi.json");
    expect(response.status).toBe(200);
    expect(response.body.openapi).toBe("3.1.0");
    const paths = Object.keys(response.body.paths);
    for (const path of [
      "/v1/admin/groups",
      "/v1/admin/groups/{id}",
      "/v1/admin/groups/{id}/archive",
      "/v1/admin/groups/{group}/features",
      "/v1/admin/features",
      "/v1/admin/features/{ref}",
      "/v1/admin/features/{ref}/versions",
      "/v1/admin/features/{ref}/versions/{version}",
      "/v1/admin/features/{ref}/diff",
      "/v1/admin/features/{ref}/stats",
      "/v1/admin/bootstrap",
      "/v1/admin/jobs",
      "/v1/admin/jobs/{id}",
      "/v1/admin/jobs/{id}/cancel",
    ]) {
      expect(paths).toContain(path);
    }
    expect(response.body.components.securitySchemes.bearerAuth.scheme).toBe("bearer");
    expect(response.body.components.schemas.FeatureDefinition.properties.dataType.enum).toContain("embedding");
  });

  it("does not accept writes", async () => {
    const response = await api.call("/v1/admin/openapi.json", { method: "POST", body: {} });
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe("NOT_FOUND");
  });
});
