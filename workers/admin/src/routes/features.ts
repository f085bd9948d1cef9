// /v1/admin/features: create (in a group), list, get by id or "group.feature", update,
// version history, one version, diff between versions, stats.
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppBindings } from "#shared/http/bindings.ts";
import { jsonBody, jsonResponse, pageSchema } from "#shared/http/openapi.ts";
import { paginationQuery } from "#shared/http/pagination.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import {
  createFeature,
  diffVersions,
  getFeature,
  getStats,
  getVersion,
  listFeatures,
  listVersions,
  promoteVersion,
  updateFeature,
} from "#shared/registry/features.ts";
import {
  createFeatureBody,
  dataType,
  featureSchema,
  featureStatsSchema,
  featureStatus,
  featureVersionSchema,
  updateFeatureBody,
  versionDiffSchema,
} from "#shared/registry/schemas.ts";

const refParam = z
  .string()
  .min(1)
  .max(260)
  .openapi({
    param: { name: "ref", in: "path" },
    description: "Feature id, or 'group.feature'",
    example: "user.conversation_count",
  });
const versionNumber = z.coerce.number().int().min(1).max(1_000_000);

export const listFeaturesQuery = z.strictObject({
  group: z.string().min(1).max(128).optional().openapi({ description: "Group id or name" }),
  status: featureStatus.optional(),
  dataType: dataType.optional(),
  ...paginationQuery,
});
export const diffQuery = z.strictObject({ from: versionNumber, to: versionNumber });
export const statsQuery = z.strictObject({ version: versionNumber.optional() });
export const featureVersionStats = z
  .object({ featureId: z.uuid(), version: z.number().int(), stats: featureStatsSchema.nullable() })
  .openapi("FeatureVersionStats");

export function registerFeatureRoutes(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/admin/groups/{group}/features",
      summary: "Create a feature (version 1) in a group",
      tags: ["features"],
      scope: "registry:write",
      request: {
        params: z.object({
          group: z
            .string()
            .min(1)
            .max(128)
            .openapi({ param: { name: "group", in: "path" }, description: "Group id or name" }),
        }),
        body: jsonBody(createFeatureBody),
      },
      errors: [404, 409, 413, 422],
      responses: { 201: jsonResponse(featureSchema, "Created") },
    }),
    async (c) => c.json(await createFeature(tenantContext(c), c.req.valid("param").group, c.req.valid("json")), 201),
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/features",
      summary: "List features, oldest first",
      tags: ["features"],
      scope: "registry:read",
      request: {
        query: listFeaturesQuery,
      },
      responses: {
        200: jsonResponse(pageSchema(featureSchema, "FeaturePage"), "A page of features"),
      },
    }),
    async (c) => c.json(await listFeatures(tenantContext(c), c.req.valid("query")), 200),
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/features/{ref}",
      summary: "Get a feature by id or 'group.feature'",
      tags: ["features"],
      scope: "registry:read",
      request: { params: z.object({ ref: refParam }) },
      errors: [404],
      responses: { 200: jsonResponse(featureSchema, "The feature") },
    }),
    async (c) => c.json(await getFeature(tenantContext(c), c.req.valid("param").ref), 200),
  );

  app.openapi(
    tenantRoute({
      method: "patch",
      path: "/v1/admin/features/{ref}",
      summary: "Update a feature; a change to what values mean makes a new version",
      tags: ["features"],
      scope: "registry:write",
      request: { params: z.object({ ref: refParam }), body: jsonBody(updateFeatureBody) },
      errors: [404, 409, 413, 422],
      responses: { 200: jsonResponse(featureSchema, "Updated") },
    }),
    async (c) => c.json(await updateFeature(tenantContext(c), c.req.valid("param").ref, c.req.valid("json")), 200),
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/features/{ref}/versions",
      summary: "Version history, newest first",
      tags: ["features"],
      scope: "registry:read",
      request: { params: z.object({ ref: refParam }) },
      errors: [404],
      responses: {
        200: jsonResponse(z.object({ items: z.array(featureVersionSchema) }), "Versions"),
      },
    }),
    async (c) => c.json({ items: await listVersions(tenantContext(c), c.req.valid("param").ref) }, 200),
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/features/{ref}/versions/{version}",
      summary: "One version with its snapshot and stats",
      tags: ["features"],
      scope: "registry:read",
      request: {
        params: z.object({ ref: refParam, version: versionNumber.openapi({ param: { name: "version", in: "path" } }) }),
      },
      errors: [404],
      responses: { 200: jsonResponse(featureVersionSchema, "The version") },
    }),
    async (c) => {
      const { ref, version } = c.req.valid("param");
      return c.json(await getVersion(tenantContext(c), ref, version), 200);
    },
  );

  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/admin/features/{ref}/versions/{version}/promote",
      summary: "Make a version the one reads answer (every read switches at once)",
      tags: ["features"],
      scope: "registry:write",
      request: {
        params: z.object({ ref: refParam, version: versionNumber.openapi({ param: { name: "version", in: "path" } }) }),
      },
      errors: [404, 409],
      responses: { 200: jsonResponse(featureSchema, "The feature, answering the promoted version") },
    }),
    async (c) => {
      const { ref, version } = c.req.valid("param");
      return c.json(await promoteVersion(tenantContext(c), ref, version), 200);
    },
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/features/{ref}/diff",
      summary: "Field-by-field diff between two versions",
      tags: ["features"],
      scope: "registry:read",
      request: {
        params: z.object({ ref: refParam }),
        query: diffQuery,
      },
      errors: [404],
      responses: { 200: jsonResponse(versionDiffSchema, "The diff") },
    }),
    async (c) => {
      const { from, to } = c.req.valid("query");
      return c.json(await diffVersions(tenantContext(c), c.req.valid("param").ref, from, to), 200);
    },
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/features/{ref}/stats",
      summary: "Stats of the current version, or of ?version=N",
      tags: ["features"],
      scope: "registry:read",
      request: { params: z.object({ ref: refParam }), query: statsQuery },
      errors: [404],
      responses: {
        200: jsonResponse(featureVersionStats, "Stats (null until a materialization computed them)"),
      },
    }),
    async (c) => c.json(await getStats(tenantContext(c), c.req.valid("param").ref, c.req.valid("query").version), 200),
  );
}
