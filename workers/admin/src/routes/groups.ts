// /v1/admin/groups: create, list, get, update, archive.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppBindings } from "#shared/http/app.ts";
import { requireScope } from "#shared/http/auth.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse, pageSchema } from "#shared/http/openapi.ts";
import { paginationQuery } from "#shared/http/pagination.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { archiveGroup, createGroup, getGroup, listGroups, updateGroup } from "#shared/registry/groups.ts";
import { createGroupBody, entityType, groupSchema, groupStatus, updateGroupBody } from "#shared/registry/schemas.ts";

const idParams = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

export function registerGroupRoutes(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/groups",
      summary: "Create a feature group",
      tags: ["groups"],
      security: bearerSecurity,
      middleware: [requireScope("registry:write")] as const,
      request: { body: jsonBody(createGroupBody) },
      responses: { 201: jsonResponse(groupSchema, "Created"), ...errorResponses(409, 413) },
    }),
    async (c) => c.json(await createGroup(tenantContext(c), c.req.valid("json")), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/groups",
      summary: "List feature groups, newest first",
      tags: ["groups"],
      security: bearerSecurity,
      middleware: [requireScope("registry:read")] as const,
      request: {
        query: z.strictObject({
          status: groupStatus.optional(),
          entityType: entityType.optional(),
          ...paginationQuery,
        }),
      },
      responses: {
        200: jsonResponse(pageSchema(groupSchema, "FeatureGroupPage"), "A page of groups"),
        ...errorResponses(),
      },
    }),
    async (c) => c.json(await listGroups(tenantContext(c), c.req.valid("query")), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/groups/{id}",
      summary: "Get a feature group",
      tags: ["groups"],
      security: bearerSecurity,
      middleware: [requireScope("registry:read")] as const,
      request: { params: idParams },
      responses: { 200: jsonResponse(groupSchema, "The group"), ...errorResponses(404) },
    }),
    async (c) => c.json(await getGroup(tenantContext(c), c.req.valid("param").id), 200),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/admin/groups/{id}",
      summary: "Update a feature group",
      tags: ["groups"],
      security: bearerSecurity,
      middleware: [requireScope("registry:write")] as const,
      request: { params: idParams, body: jsonBody(updateGroupBody) },
      responses: { 200: jsonResponse(groupSchema, "Updated"), ...errorResponses(404, 413) },
    }),
    async (c) => c.json(await updateGroup(tenantContext(c), c.req.valid("param").id, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/groups/{id}/archive",
      summary: "Archive a feature group",
      tags: ["groups"],
      security: bearerSecurity,
      middleware: [requireScope("registry:write")] as const,
      request: { params: idParams },
      responses: { 200: jsonResponse(groupSchema, "Archived"), ...errorResponses(404) },
    }),
    async (c) => c.json(await archiveGroup(tenantContext(c), c.req.valid("param").id), 200),
  );
}
