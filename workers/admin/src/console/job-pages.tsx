/** @jsxImportSource hono/jsx */
// Console pages of jobs: the list with a backfill form, one job (its status as JSON for the
// page's live progress), cancelling.
import type { TenantContext } from "#shared/db/tenant.ts";
import type { WorkerApp } from "#shared/http/app.ts";
import type { AuthContext } from "#shared/http/bindings.ts";
import { AppError } from "#shared/http/errors.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { cancelJob, createJob, getJob, listJobs } from "#shared/jobs/jobs.ts";
import { getGroup } from "#shared/registry/groups.ts";
import { createJobBody } from "#shared/registry/schemas.ts";
import { type FormValues, formValues, type Problem } from "./form-values.ts";
import { JobPage, JobsPage } from "./jobs.tsx";
import { allGroups, type C, need, page, param, saveForm, uuid } from "./page.tsx";

/** `datetime-local` gives no zone and maybe no seconds: the console means UTC. */
const utc = (local: string | undefined) => (local ? `${local.length === 16 ? `${local}:00` : local}Z` : "");

async function jobsView(
  c: C,
  ctx: TenantContext,
  auth: AuthContext,
  values: FormValues = {},
  problems: Problem[] = [],
) {
  const [jobs, groups] = await Promise.all([listJobs(ctx, { limit: 50 }), allGroups(ctx)]);
  return c.html(
    <JobsPage auth={auth} jobs={jobs.items} groups={groups} values={values} problems={problems} />,
    (problems.length ? 400 : 200) as 200,
  );
}

function jobOf(c: C, ctx: TenantContext) {
  const id = param(c, "id");
  if (!uuid.test(id)) throw new AppError("NOT_FOUND", `Job ${id} not found`);
  return getJob(ctx, id);
}

export function registerJobPages(app: WorkerApp): void {
  app.get(
    "/console/jobs",
    page((c, ctx, auth) => jobsView(c, ctx, auth)),
  );
  app.post(
    "/console/jobs",
    page(async (c, ctx, auth) => {
      need(auth, "jobs:write");
      const values = formValues(await c.req.parseBody());
      return saveForm(c, {
        schema: createJobBody,
        body: {
          featureGroupId: values.featureGroupId,
          jobType: values.jobType,
          startTime: utc(values.startTime),
          endTime: utc(values.endTime),
        },
        render: (failure) => jobsView(c, ctx, auth, values, failure.problems),
        save: async (input) => `/console/jobs/${(await createJob(ctx, input)).id}`,
      });
    }),
  );
  app.get(
    "/console/jobs/:id",
    page(async (c, ctx, auth) => {
      const job = await jobOf(c, ctx);
      const group = await getGroup(ctx, job.featureGroupId).catch(() => null);
      return c.html(<JobPage auth={auth} job={job} groupName={group?.name ?? job.featureGroupId} />);
    }),
  );
  app.get("/console/jobs/:id/status", async (c) => {
    const { status, progress, rowsProcessed, rowsFailed, errorMessage } = await jobOf(c, tenantContext(c));
    return c.json({ status, progress, rowsProcessed, rowsFailed, errorMessage });
  });
  app.post(
    "/console/jobs/:id/cancel",
    page(async (c, ctx, auth) => {
      need(auth, "jobs:write");
      const job = await jobOf(c, ctx);
      await cancelJob(ctx, job.id);
      return c.redirect(`/console/jobs/${job.id}`, 303);
    }),
  );
}
