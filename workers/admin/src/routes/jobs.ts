// /v1/admin/jobs: create (202), list, get, cancel materialization jobs.
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppBindings } from "#shared/http/bindings.ts";
import { jsonBody, jsonResponse, pageSchema } from "#shared/http/openapi.ts";
import { paginationQuery } from "#shared/http/pagination.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { cancelJob, createJob, getJob, listJobs } from "#shared/jobs/jobs.ts";
import { createJobBody, jobSchema, jobStatus, jobType } from "#shared/registry/schemas.ts";

const idParams = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

export const listJobsQuery = z.strictObject({
  status: jobStatus.optional(),
  featureGroupId: z.uuid().optional(),
  jobType: jobType.optional(),
  ...paginationQuery,
});

export function registerJobRoutes(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/admin/jobs",
      summary: "Queue a materialization job",
      tags: ["jobs"],
      scope: "jobs:write",
      request: { body: jsonBody(createJobBody) },
      errors: [404, 409, 413],
      responses: { 202: jsonResponse(jobSchema, "Queued") },
    }),
    async (c) => c.json(await createJob(tenantContext(c), c.req.valid("json")), 202),
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/jobs",
      summary: "List jobs, newest first",
      tags: ["jobs"],
      scope: "registry:read",
      request: {
        query: listJobsQuery,
      },
      responses: {
        200: jsonResponse(pageSchema(jobSchema, "MaterializationJobPage"), "A page of jobs"),
      },
    }),
    async (c) => c.json(await listJobs(tenantContext(c), c.req.valid("query")), 200),
  );

  app.openapi(
    tenantRoute({
      method: "get",
      path: "/v1/admin/jobs/{id}",
      summary: "A job with its status, progress, row counts and duration",
      tags: ["jobs"],
      scope: "registry:read",
      request: { params: idParams },
      errors: [404],
      responses: { 200: jsonResponse(jobSchema, "The job") },
    }),
    async (c) => c.json(await getJob(tenantContext(c), c.req.valid("param").id), 200),
  );

  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/admin/jobs/{id}/cancel",
      summary: "Cancel a pending or running job",
      tags: ["jobs"],
      scope: "jobs:write",
      request: { params: idParams },
      errors: [404, 409],
      responses: { 200: jsonResponse(jobSchema, "Cancelled") },
    }),
    async (c) => c.json(await cancelJob(tenantContext(c), c.req.valid("param").id), 200),
  );
}
