// Features as code: POST /v1/admin/registry/plan compares a declared registry with the live
// one; POST /v1/admin/registry/apply makes the live one equal to it, all or nothing.
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { bodyLimiter } from "#shared/http/app.ts";
import type { AppBindings } from "#shared/http/bindings.ts";
import { jsonBody, jsonResponse } from "#shared/http/openapi.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { applyDeclaration, planDeclaration } from "#shared/registry/apply.ts";
import { applyRequest, applyResult, registryDeclaration, registryPlan } from "#shared/registry/declaration.ts";

/** A whole registry with its SQL: larger than the one-feature documents of the other routes. */
export const declarationBodyBytes = 1024 * 1024;
export const registryRoutePaths = ["/v1/admin/registry/plan", "/v1/admin/registry/apply"];

export function registerRegistryRoutes(app: OpenAPIHono<AppBindings>): void {
  const limit = bodyLimiter(declarationBodyBytes);
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/admin/registry/plan",
      summary:
        "What applying a declared registry would change: creates, updates (with the versions they make), archives",
      tags: ["features as code"],
      scope: "registry:read",
      middleware: [limit],
      request: { body: jsonBody(z.strictObject({ declaration: registryDeclaration }).openapi("RegistryPlanRequest")) },
      errors: [413, 422],
      responses: { 200: jsonResponse(registryPlan, "The plan (no change is made)") },
    }),
    async (c) => c.json((await planDeclaration(tenantContext(c), c.req.valid("json").declaration)).plan, 200),
  );

  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/admin/registry/apply",
      summary: "Make the registry what the declaration says, in one transaction; idempotent",
      tags: ["features as code"],
      scope: "registry:write",
      middleware: [limit],
      request: { body: jsonBody(applyRequest) },
      errors: [409, 413, 422],
      responses: { 200: jsonResponse(applyResult, "What was applied (applied: false when nothing changed)") },
    }),
    async (c) => {
      const { declaration, allowBreaking } = c.req.valid("json");
      return c.json(await applyDeclaration(tenantContext(c), declaration, { allowBreaking }), 200);
    },
  );
}
