// /v1/admin/groups: create, list, get, update, archive.
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppBindings } from "#shared/http/bindings.ts";
import { jsonBody, jsonResponse, pageSchema } from "#shared/http/openapi.ts";
import { paginationQuery } from "#shared/http/pagination.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { archiveGroup, createGroup, getGroup, listGroups, updateGroup } from "#shared/registry/groups.ts";
import { createGroupBody, entityType, groupSchema, groupStatus, updateGroupBody } from "#shared/registry/schemas.ts";

const idParams = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

export const listGroupsQuery = z.strictObject({
  status: groupStatus.optional(),
  entityType: entityType.optional(),
  ...paginationQuery,
});

export function registerGroupRoutes(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/admin/groups",
      summary: "Create a feature group",
      tags: ["groups"],
      scope: "registry:write",
      request: { body: jsonBody(createGroupBody) },
      errors: [409, 413],
      responses: { 201: jsonResponse(groupSchema, "Created") },
    }),
    async (c) => c.json(await createGroup(tenantContext(c), c.req.valid("json")), 201),
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/groups",
      summary: "List feature groups, newest first",
      tags: ["groups"],
      scope: "registry:read",
      request: {
        query: listGroupsQuery,
      },
      responses: {
        200: jsonResponse(pageSchema(groupSchema, "FeatureGroupPage"), "A page of groups"),
      },
    }),
    async (c) => c.json(await listGroups(tenantContext(c), c.req.valid("query")), 200),
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/groups/{id}",
      summary: "Get a feature group",
      tags: ["groups"],
      scope: "registry:read",
      request: { params: idParams },
      errors: [404],
      responses: { 200: jsonResponse(groupSchema, "The group") },
    }),
    async (c) => c.json(await getGroup(tenantContext(c), c.req.valid("param").id), 200),
  );

  app.openapi(
    tenantRoute({
      method: "patch",
      path: "/v1/admin/groups/{id}",
      summary: "Update a feature group",
      tags: ["groups"],
      scope: "registry:write",
      request: { params: idParams, body: jsonBody(updateGroupBody) },
      errors: [404, 413],
      responses: { 200: jsonResponse(groupSchema, "Updated") },
    }),
    async (c) => c.json(await updateGroup(tenantContext(c), c.req.valid("param").id, c.req.valid("json")), 200),
  );

  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/admin/groups/{id}/archive",
      summary: "Archive a feature group",
      tags: ["groups"],
      scope: "registry:write",
      request: { params: idParams },
      errors: [404],
      responses: { 200: jsonResponse(groupSchema, "Archived") },
    }),
    async (c) => c.json(await archiveGroup(tenantContext(c), c.req.valid("param").id), 200),
  );
}
