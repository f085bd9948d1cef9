// /v1/admin/jobs: create (202), list, get, cancel materialization jobs.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppBindings } from "#shared/http/app.ts";
import { requireScope } from "#shared/http/auth.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse, pageSchema } from "#shared/http/openapi.ts";
import { paginationQuery } from "#shared/http/pagination.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { cancelJob, createJob, getJob, listJobs } from "#shared/jobs/jobs.ts";
import { createJobBody, jobSchema, jobStatus, jobType } from "#shared/registry/schemas.ts";

const idParams = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

export function registerJobRoutes(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/jobs",
      summary: "Queue a materialization job",
      tags: ["jobs"],
      security: bearerSecurity,
      middleware: [requireScope("jobs:write")] as const,
      request: { body: jsonBody(createJobBody) },
      responses: { 202: jsonResponse(jobSchema, "Queued"), ...errorResponses(404, 409, 413) },
    }),
    async (c) => c.json(await createJob(tenantContext(c), c.req.valid("json")), 202),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/jobs",
      summary: "List jobs, newest first",
      tags: ["jobs"],
      security: bearerSecurity,
      middleware: [requireScope("registry:read")] as const,
      request: {
        query: z.strictObject({
          status: jobStatus.optional(),
          featureGroupId: z.uuid().optional(),
          jobType: jobType.optional(),
          ...paginationQuery,
        }),
      },
      responses: {
        200: jsonResponse(pageSchema(jobSchema, "MaterializationJobPage"), "A page of jobs"),
        ...errorResponses(),
      },
    }),
    async (c) => c.json(await listJobs(tenantContext(c), c.req.valid("query")), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/jobs/{id}",
      summary: "A job with its status, progress, row counts and duration",
      tags: ["jobs"],
      security: bearerSecurity,
      middleware: [requireScope("registry:read")] as const,
      request: { params: idParams },
      responses: { 200: jsonResponse(jobSchema, "The job"), ...errorResponses(404) },
    }),
    async (c) => c.json(await getJob(tenantContext(c), c.req.valid("param").id), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/jobs/{id}/cancel",
      summary: "Cancel a pending or running job",
      tags: ["jobs"],
      security: bearerSecurity,
      middleware: [requireScope("jobs:write")] as const,
      request: { params: idParams },
      responses: { 200: jsonResponse(jobSchema, "Cancelled"), ...errorResponses(404, 409) },
    }),
    async (c) => c.json(await cancelJob(tenantContext(c), c.req.valid("param").id), 200),
  );
}
