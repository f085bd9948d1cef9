/** @jsxImportSource hono/jsx */
// The admin console at /console, served by the admin worker itself: server-rendered pages
// (hono/jsx) over the same service functions as the admin API, under the signed-in token's
// tenant and scopes. Controls a token's scopes do not allow are not shown, and the actions
// refuse anyway (403); another tenant's ids are "not found" (RLS), as in the API.
import type { Context } from "hono";
import { csrf } from "hono/csrf";
import type { FC } from "hono/jsx";
import type { TenantContext } from "#shared/db/tenant.ts";
import type { WorkerApp } from "#shared/http/app.ts";
import type { AppBindings, AuthContext } from "#shared/http/bindings.ts";
import { AppError, issuesToDetails } from "#shared/http/errors.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { cancelJob, createJob, getJob, listJobs } from "#shared/jobs/jobs.ts";
import { readServingHealth } from "#shared/metrics/serving-health.ts";
import {
  createFeature,
  getFeature,
  listFeatures,
  listVersions,
  promoteVersion,
  updateFeature,
} from "#shared/registry/features.ts";
import { groupFreshness } from "#shared/registry/freshness.ts";
import { archiveGroup, createGroup, getGroup, listGroups, updateGroup } from "#shared/registry/groups.ts";
import {
  createFeatureBody,
  createGroupBody,
  createJobBody,
  type FeatureDefinition,
  type FeatureGroup,
  updateFeatureBody,
  updateGroupBody,
} from "#shared/registry/schemas.ts";
import { FeaturePage } from "./feature.tsx";
import { FeaturesPage } from "./features.tsx";
import { type FormValues, featureBody, formValues, groupBody, type Problem, problemsByField } from "./form-values.ts";
import { FeatureForm, GroupForm } from "./forms.tsx";
import { HealthPage } from "./health.tsx";
import { JobPage, JobsPage } from "./jobs.tsx";
import { Layout } from "./layout.tsx";
import { OverviewPage } from "./overview.tsx";
import { consoleSession, signIn, signOut } from "./session.ts";
import { SignInPage } from "./sign-in.tsx";

type C = Context<AppBindings>;
const param = (c: C, name: string) => c.req.param(name) ?? "";
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const ErrorPage: FC<{ auth?: AuthContext; status: number; message: string }> = (p) => (
  <Layout title={p.status === 404 ? "Not found" : "Error"} auth={p.auth}>
    <h1>{p.status === 404 ? "Not found" : p.status === 403 ? "Not allowed" : "Something went wrong"}</h1>
    <p role="alert">{p.message}</p>
    <p>
      <a href="/console">Back to the overview</a>
    </p>
  </Layout>
);

/** A page handler whose AppErrors render as a page with their status (404 for another tenant's ids). */
function page(handler: (c: C, ctx: TenantContext, auth: AuthContext) => Promise<Response>) {
  return async (c: C) => {
    const auth = c.get("auth");
    try {
      return await handler(c, tenantContext(c), auth);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      return c.html(<ErrorPage auth={auth} status={error.status} message={error.message} />, error.status);
    }
  };
}

function need(auth: AuthContext, scope: string) {
  if (!auth.scopes.has(scope))
    throw new AppError("FORBIDDEN", `This needs the scope '${scope}', which your token lacks.`);
}

async function allGroups(ctx: TenantContext): Promise<FeatureGroup[]> {
  const groups: FeatureGroup[] = [];
  let cursor: string | undefined;
  do {
    const pageOf = await listGroups(ctx, { limit: 200, cursor });
    groups.push(...pageOf.items);
    cursor = pageOf.nextCursor ?? undefined;
  } while (cursor && groups.length < 2000);
  return groups.sort((a, b) => a.name.localeCompare(b.name));
}

async function allFeatures(ctx: TenantContext): Promise<FeatureDefinition[]> {
  const features: FeatureDefinition[] = [];
  let cursor: string | undefined;
  do {
    const pageOf = await listFeatures(ctx, { limit: 200, cursor });
    features.push(...pageOf.items);
    cursor = pageOf.nextCursor ?? undefined;
  } while (cursor && features.length < 5000);
  return features;
}

function appErrorProblems(error: unknown): { status: number; problems: Problem[]; message: string } {
  if (!(error instanceof AppError) || error.status >= 500 || error.status === 404) throw error;
  const details = Array.isArray(error.details) ? (error.details as Problem[]) : [];
  return {
    status: error.status,
    message: error.message,
    problems: details.length ? details : [{ path: "(root)", message: error.message }],
  };
}

function featureFormValues(f: FeatureDefinition): FormValues {
  const text = (v: unknown) => (v === null || v === undefined ? "" : String(v));
  return {
    displayName: f.displayName,
    description: text(f.description),
    dataType: f.dataType,
    embeddingDimension: text(f.embeddingDimension),
    sourceType: f.sourceType,
    aggregationType: text(f.aggregationType),
    windowSizeSeconds: text(f.windowSizeSeconds),
    aggregationIntervalSeconds: text(f.aggregationIntervalSeconds),
    transformationSql: text(f.transformationSql),
    validationRules: f.validationRules ? JSON.stringify(f.validationRules) : "",
    tags: f.tags.join(", "),
    status: f.status,
    promote: "on",
  };
}

function groupFormValues(g: FeatureGroup): FormValues {
  return {
    displayName: g.displayName,
    description: g.description ?? "",
    ttlSeconds: g.ttlSeconds === null ? "" : String(g.ttlSeconds),
    onlineEnabled: g.onlineEnabled ? "on" : "",
    offlineEnabled: g.offlineEnabled ? "on" : "",
    tags: g.tags.join(", "),
    status: g.status,
  };
}

/** `datetime-local` gives no zone and maybe no seconds: the console means UTC. */
const utc = (local: string | undefined) => (local ? `${local.length === 16 ? `${local}:00` : local}Z` : "");

export function registerConsole(app: WorkerApp): void {
  app.use("/console/*", csrf());
  app.get("/console/sign-in", (c) => c.html(<SignInPage expired={c.req.query("expired") === "1"} />));
  app.post("/console/sign-in", async (c) => {
    const token = String((await c.req.parseBody()).token ?? "").trim();
    try {
      await signIn(c, token);
    } catch (error) {
      const message =
        error instanceof AppError ? `That token was refused: ${error.message}.` : "That token was refused.";
      return c.html(<SignInPage error={message} />, 401);
    }
    return c.redirect("/console", 303);
  });
  app.post("/console/sign-out", (c) => {
    signOut(c);
    return c.redirect("/console/sign-in", 303);
  });
  const session = consoleSession();
  app.use("/console", session);
  app.use("/console/*", (c, next) => (c.req.path === "/console/sign-in" ? next() : session(c, next)));

  app.get(
    "/console",
    page(async (c, ctx, auth) => {
      const dayAgo = Date.now() - 86_400_000;
      const [groups, features, freshness, jobs] = await Promise.all([
        allGroups(ctx),
        allFeatures(ctx),
        groupFreshness(ctx),
        listJobs(ctx, { limit: 200 }),
      ]);
      const recent = jobs.items.filter((j) => Date.parse(j.createdAt) >= dayAgo);
      return c.html(
        <OverviewPage auth={auth} groups={groups} features={features} freshness={freshness} jobs={recent} />,
      );
    }),
  );

  app.get(
    "/console/features",
    page(async (c, ctx, auth) => {
      const [groups, features] = await Promise.all([allGroups(ctx), allFeatures(ctx)]);
      const q = c.req.query();
      const filters = {
        q: q.q,
        group: q.group,
        tag: q.tag,
        status: q.status,
        sourceType: q.sourceType,
        dataType: q.dataType,
      };
      return c.html(<FeaturesPage auth={auth} groups={groups} features={features} filters={filters} />);
    }),
  );

  const featureView = async (c: C, ctx: TenantContext, auth: AuthContext, ref: string, notice?: string) => {
    const feature = await getFeature(ctx, ref);
    const [group, versions] = await Promise.all([getGroup(ctx, feature.groupId), listVersions(ctx, ref)]);
    const from = versions.find((v) => String(v.version) === c.req.query("from"));
    const to = versions.find((v) => String(v.version) === c.req.query("to"));
    const saved = c.req.query("saved")
      ? "Saved."
      : c.req.query("promoted")
        ? `Promoted v${c.req.query("promoted")}.`
        : undefined;
    return c.html(
      <FeaturePage
        auth={auth}
        feature={feature}
        groupName={group.name}
        versions={versions}
        diff={from && to ? { from, to } : undefined}
        notice={notice ?? saved}
      />,
    );
  };
  app.get(
    "/console/features/:ref",
    page((c, ctx, auth) => featureView(c, ctx, auth, param(c, "ref"))),
  );

  const renderFeatureForm = (
    c: C,
    auth: AuthContext,
    props: { mode: "create" | "edit"; title: string; action: string; values: FormValues },
    failure?: { status: number; problems: Problem[]; message: string },
  ) =>
    c.html(
      <FeatureForm
        auth={auth}
        {...props}
        problems={problemsByField(failure?.problems ?? [])}
        error={failure ? `Not saved: ${failure.message}` : undefined}
      />,
      (failure?.status ?? 200) as 200,
    );

  app.get(
    "/console/features/:ref/edit",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const ref = param(c, "ref");
      const feature = await getFeature(ctx, ref);
      return renderFeatureForm(c, auth, {
        mode: "edit",
        title: `Edit ${ref}`,
        action: `/console/features/${ref}/edit`,
        values: featureFormValues(feature),
      });
    }),
  );
  app.post(
    "/console/features/:ref/edit",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const ref = param(c, "ref");
      await getFeature(ctx, ref);
      const values = formValues(await c.req.parseBody());
      const props = { mode: "edit" as const, title: `Edit ${ref}`, action: `/console/features/${ref}/edit`, values };
      const { body, problems } = featureBody(values, "edit");
      if (body.transformationSql) values.transformationSql = body.transformationSql as string;
      const parsed = updateFeatureBody.safeParse(body);
      if (problems.length || !parsed.success) {
        const all = [...problems, ...(parsed.success ? [] : issuesToDetails(parsed.error.issues))];
        return renderFeatureForm(c, auth, props, { status: 400, problems: all, message: "some fields are not valid" });
      }
      try {
        await updateFeature(ctx, ref, parsed.data);
      } catch (error) {
        return renderFeatureForm(c, auth, props, appErrorProblems(error));
      }
      return c.redirect(`/console/features/${ref}?saved=1`, 303);
    }),
  );

  app.post(
    "/console/features/:ref/versions/:version/promote",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const ref = param(c, "ref");
      const version = Number(param(c, "version"));
      if (!Number.isSafeInteger(version) || version < 1) throw new AppError("NOT_FOUND", "No such version");
      await promoteVersion(ctx, ref, version);
      return c.redirect(`/console/features/${ref}?promoted=${version}`, 303);
    }),
  );
  app.post(
    "/console/features/:ref/archive",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const ref = param(c, "ref");
      await updateFeature(ctx, ref, { status: "archived" });
      return c.redirect(`/console/features/${ref}?saved=1`, 303);
    }),
  );

  const groupFromParam = async (c: C, ctx: TenantContext) => {
    const id = param(c, "id");
    if (!uuid.test(id)) throw new AppError("NOT_FOUND", `Feature group ${id} not found`);
    return getGroup(ctx, id);
  };

  app.get(
    "/console/groups/:id/features/new",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const group = await groupFromParam(c, ctx);
      return renderFeatureForm(c, auth, {
        mode: "create",
        title: `New feature in ${group.name}`,
        action: `/console/groups/${group.id}/features/new`,
        values: { dataType: "float64", sourceType: "stream" },
      });
    }),
  );
  app.post(
    "/console/groups/:id/features/new",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const group = await groupFromParam(c, ctx);
      const values = formValues(await c.req.parseBody());
      const props = {
        mode: "create" as const,
        title: `New feature in ${group.name}`,
        action: `/console/groups/${group.id}/features/new`,
        values,
      };
      const { body, problems } = featureBody(values, "create");
      if (body.transformationSql) values.transformationSql = body.transformationSql as string;
      const parsed = createFeatureBody.safeParse(body);
      if (problems.length || !parsed.success) {
        const all = [...problems, ...(parsed.success ? [] : issuesToDetails(parsed.error.issues))];
        return renderFeatureForm(c, auth, props, { status: 400, problems: all, message: "some fields are not valid" });
      }
      try {
        const created = await createFeature(ctx, group.id, parsed.data);
        return c.redirect(`/console/features/${group.name}.${created.name}?saved=1`, 303);
      } catch (error) {
        return renderFeatureForm(c, auth, props, appErrorProblems(error));
      }
    }),
  );

  const renderGroupForm = (
    c: C,
    auth: AuthContext,
    props: { mode: "create" | "edit"; title: string; action: string; values: FormValues; archiveAction?: string },
    failure?: { status: number; problems: Problem[]; message: string },
  ) =>
    c.html(
      <GroupForm
        auth={auth}
        {...props}
        problems={problemsByField(failure?.problems ?? [])}
        error={failure ? `Not saved: ${failure.message}` : undefined}
      />,
      (failure?.status ?? 200) as 200,
    );

  app.get(
    "/console/groups/new",
    page(async (c, _ctx, auth) => {
      need(auth, "registry:write");
      return renderGroupForm(c, auth, {
        mode: "create",
        title: "New group",
        action: "/console/groups/new",
        values: { entityType: "user", onlineEnabled: "on", offlineEnabled: "on" },
      });
    }),
  );
  app.post(
    "/console/groups/new",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const values = formValues(await c.req.parseBody());
      const props = { mode: "create" as const, title: "New group", action: "/console/groups/new", values };
      const parsed = createGroupBody.safeParse(groupBody(values, "create"));
      if (!parsed.success)
        return renderGroupForm(c, auth, props, {
          status: 400,
          problems: issuesToDetails(parsed.error.issues),
          message: "some fields are not valid",
        });
      try {
        const group = await createGroup(ctx, parsed.data);
        return c.redirect(`/console/groups/${group.id}/edit?saved=1`, 303);
      } catch (error) {
        return renderGroupForm(c, auth, props, appErrorProblems(error));
      }
    }),
  );
  app.get(
    "/console/groups/:id/edit",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const group = await groupFromParam(c, ctx);
      return renderGroupForm(c, auth, {
        mode: "edit",
        title: `Edit group ${group.name}`,
        action: `/console/groups/${group.id}/edit`,
        values: groupFormValues(group),
        archiveAction: `/console/groups/${group.id}/archive`,
      });
    }),
  );
  app.post(
    "/console/groups/:id/edit",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const group = await groupFromParam(c, ctx);
      const values = formValues(await c.req.parseBody());
      const props = {
        mode: "edit" as const,
        title: `Edit group ${group.name}`,
        action: `/console/groups/${group.id}/edit`,
        values: { ...values, status: group.status },
        archiveAction: `/console/groups/${group.id}/archive`,
      };
      const parsed = updateGroupBody.safeParse(groupBody(values, "edit"));
      if (!parsed.success)
        return renderGroupForm(c, auth, props, {
          status: 400,
          problems: issuesToDetails(parsed.error.issues),
          message: "some fields are not valid",
        });
      try {
        await updateGroup(ctx, group.id, parsed.data);
      } catch (error) {
        return renderGroupForm(c, auth, props, appErrorProblems(error));
      }
      return c.redirect(`/console/features?group=${encodeURIComponent(group.name)}`, 303);
    }),
  );
  app.post(
    "/console/groups/:id/archive",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const group = await groupFromParam(c, ctx);
      await archiveGroup(ctx, group.id);
      return c.redirect("/console", 303);
    }),
  );

  const jobsView = async (
    c: C,
    ctx: TenantContext,
    auth: AuthContext,
    values: FormValues = {},
    problems: Problem[] = [],
  ) => {
    const [jobs, groups] = await Promise.all([listJobs(ctx, { limit: 50 }), allGroups(ctx)]);
    return c.html(
      <JobsPage auth={auth} jobs={jobs.items} groups={groups} values={values} problems={problems} />,
      (problems.length ? 400 : 200) as 200,
    );
  };
  app.get(
    "/console/jobs",
    page((c, ctx, auth) => jobsView(c, ctx, auth)),
  );
  app.post(
    "/console/jobs",
    page(async (c, ctx, auth) => {
      need(auth, "jobs:write");
      const values = formValues(await c.req.parseBody());
      const parsed = createJobBody.safeParse({
        featureGroupId: values.featureGroupId,
        jobType: values.jobType,
        startTime: utc(values.startTime),
        endTime: utc(values.endTime),
      });
      if (!parsed.success) return jobsView(c, ctx, auth, values, issuesToDetails(parsed.error.issues));
      try {
        const job = await createJob(ctx, parsed.data);
        return c.redirect(`/console/jobs/${job.id}`, 303);
      } catch (error) {
        return jobsView(c, ctx, auth, values, appErrorProblems(error).problems);
      }
    }),
  );
  const jobFromParam = (c: C, ctx: TenantContext) => {
    const id = param(c, "id");
    if (!uuid.test(id)) throw new AppError("NOT_FOUND", `Job ${id} not found`);
    return getJob(ctx, id);
  };
  app.get(
    "/console/jobs/:id",
    page(async (c, ctx, auth) => {
      const job = await jobFromParam(c, ctx);
      const group = await getGroup(ctx, job.featureGroupId).catch(() => null);
      return c.html(<JobPage auth={auth} job={job} groupName={group?.name ?? job.featureGroupId} />);
    }),
  );
  app.get("/console/jobs/:id/status", async (c) => {
    const ctx = tenantContext(c);
    const job = await jobFromParam(c, ctx);
    const { status, progress, rowsProcessed, rowsFailed, errorMessage } = job;
    return c.json({ status, progress, rowsProcessed, rowsFailed, errorMessage });
  });
  app.post(
    "/console/jobs/:id/cancel",
    page(async (c, ctx, auth) => {
      need(auth, "jobs:write");
      const job = await jobFromParam(c, ctx);
      await cancelJob(ctx, job.id);
      return c.redirect(`/console/jobs/${job.id}`, 303);
    }),
  );

  app.get(
    "/console/health",
    page(async (c, ctx, auth) =>
      c.html(<HealthPage auth={auth} health={await readServingHealth(ctx.env, ctx.tenantId)} />),
    ),
  );
}
