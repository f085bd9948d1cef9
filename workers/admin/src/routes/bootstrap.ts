// POST /v1/admin/bootstrap: the TIS TIS groups and features for the token's tenant.
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppBindings } from "#shared/http/bindings.ts";
import { jsonResponse } from "#shared/http/openapi.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { bootstrapTenant } from "#shared/registry/bootstrap.ts";

const names = z.array(z.string());
export const bootstrapReport = z
  .object({
    groups: z.object({ created: names, existing: names }),
    features: z.object({ created: names, existing: names }),
  })
  .openapi("BootstrapReport");

export function registerBootstrapRoute(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/admin/bootstrap",
      summary: "Create the TIS TIS feature groups and features (idempotent)",
      tags: ["registry"],
      scope: "registry:write",
      responses: {
        200: jsonResponse(bootstrapReport, "What was created and what already existed"),
      },
    }),
    async (c) => c.json(await bootstrapTenant(tenantContext(c)), 200),
  );
}
