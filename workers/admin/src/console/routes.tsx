/** @jsxImportSource hono/jsx */
// The admin console at /console, served by the admin worker itself: server-rendered pages
// (hono/jsx) over the same service functions as the admin API, under the signed-in token's
// tenant and scopes. Controls a token's scopes do not allow are not shown, and the actions
// refuse anyway (403); another tenant's ids are "not found" (RLS), as in the API.
import { csrf } from "hono/csrf";
import type { WorkerApp } from "#shared/http/app.ts";
import { AppError } from "#shared/http/errors.ts";
import { listJobs } from "#shared/jobs/jobs.ts";
import { readServingHealth } from "#shared/metrics/serving-health.ts";
import { groupFreshness } from "#shared/registry/freshness.ts";
import { registerFeaturePages } from "./feature-pages.tsx";
import { registerGroupPages } from "./group-pages.tsx";
import { HealthPage } from "./health.tsx";
import { registerJobPages } from "./job-pages.tsx";
import { OverviewPage } from "./overview.tsx";
import { allFeatures, allGroups, page } from "./page.tsx";
import { consoleSession, signIn, signOut } from "./session.ts";
import { SignInPage } from "./sign-in.tsx";

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
  registerFeaturePages(app);
  registerGroupPages(app);
  registerJobPages(app);
  app.get(
    "/console/health",
    page(async (c, ctx, auth) =>
      c.html(<HealthPage auth={auth} health={await readServingHealth(ctx.env, ctx.tenantId)} />),
    ),
  );
}
