// The console as an admin uses it, in Chromium: sign-in, browse, diff, promote, an edit
// refused with its 422 shown in place, a backfill's progress moving to completion, serving
// health, a read-only token, another tenant's ids, 375 px and no layout shift.
import { existsSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createFeatureStore } from "../../client/src/index.ts";
import { type ServedWorkers, serveWorkers } from "../../harness/served-workers.ts";
import { allScopes, signToken } from "../../harness/tokens.ts";
import { directUrl, localStack } from "../../scripts/local/config.ts";

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const shots = path.resolve(import.meta.dirname, "../../docs/console");

let workers: ServedWorkers;
let browser: Browser;
const tenantA = crypto.randomUUID();
const tenantB = crypto.randomUUID();
let jobOfA: string;
let featureIdOfA: string;

/** A few users, conversations and messages of the tenant, so the batch features have values. */
async function seedSources(tenantId: string) {
  const db = new pg.Client(directUrl("owner", localStack.databases.test));
  await db.connect();
  try {
    await db.query("INSERT INTO tenants (id, name) VALUES ($1, 'console test') ON CONFLICT DO NOTHING", [tenantId]);
    const users = (
      await db.query(
        `INSERT INTO users (tenant_id, email) SELECT $1, 'u' || i || '@example.com' FROM generate_series(1, 12) i RETURNING id`,
        [tenantId],
      )
    ).rows.map((r) => r.id as string);
    await db.query(
      `INSERT INTO ai_conversations (tenant_id, user_id, channel, created_at)
       SELECT $1, u, (ARRAY['web','whatsapp'])[1 + i % 2], now() - (i || ' hours')::interval
       FROM unnest($2::uuid[]) WITH ORDINALITY AS t(u, i), generate_series(1, 3) k`,
      [tenantId, users],
    );
  } finally {
    await db.end();
  }
}

async function signedIn(scopes: readonly string[], tenantId = tenantA, viewport = { width: 1200, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const token = await signToken({ tenantId, scopes, sub: "console-test" });
  await page.goto(`${workers.adminUrl}/console/sign-in#token=${token}`);
  await page.waitForURL(`${workers.adminUrl}/console`);
  return { context, page };
}

/** Waits until the locator's text matches (Playwright's own matchers are not vitest's). */
async function expectText(
  locator: Locator,
  expected: string | RegExp,
  options: { exact?: boolean; timeout?: number } = {},
) {
  const until = Date.now() + (options.timeout ?? 5000);
  let last = "";
  for (;;) {
    last = (
      await locator
        .first()
        .innerText({ timeout: 1000 })
        .catch(() => "")
    ).trim();
    const ok =
      typeof expected === "string"
        ? options.exact
          ? last === expected
          : last.includes(expected)
        : expected.test(last);
    if (ok) return;
    if (Date.now() > until) throw new Error(`expected ${String(expected)} in ${locator}, got ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(chromiumPath))
    throw new Error(
      `No browser at ${chromiumPath}: install one with 'apt-get install -y chromium' (or set CHROMIUM_PATH)`,
    );
  workers = await serveWorkers(inject, {
    serving: { SERVING_METRICS_FLUSH_MS: "0" },
    cron: { MATERIALIZE_TENANTS: tenantA },
  });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu"],
  });
  await seedSources(tenantA);
  const admin = createFeatureStore({
    url: workers.servingUrl,
    adminUrl: workers.adminUrl,
    token: await signToken({ tenantId: tenantA, scopes: allScopes }),
  });
  await admin.bootstrap();
  // A materialized window gives user features values and stats (the histogram).
  const user = (await admin.listGroups({ entityType: "user" })).items[0]!;
  const job = await admin.createJob({
    featureGroupId: user.id,
    jobType: "full",
    startTime: new Date(Date.now() - 3 * 86_400_000).toISOString(),
    endTime: new Date().toISOString(),
  });
  jobOfA = job.id;
  await workers.scheduled("* * * * *");
  expect((await admin.getJob(job.id)).status).toBe("completed");
  // A staged version to compare and promote.
  const staged = await admin.updateFeature("user.conversation_count", { validationRules: { min: 0 }, promote: false });
  featureIdOfA = staged.id;
  // Reads and pushes for serving health.
  await admin.push({
    entityType: "message",
    rows: [{ entityId: "m1", eventTimestamp: new Date().toISOString(), features: { "message.length": 42 } }],
  });
  // An event of an aggregated stream feature (kept as tiles): its group is fresh too.
  await admin.push({
    entityType: "conversation",
    rows: [
      {
        entityId: "c1",
        eventId: "e1",
        eventTimestamp: new Date().toISOString(),
        features: { "conversation.messages_last_hour": 1 },
      },
    ],
  });
  for (let i = 0; i < 3; i++)
    await admin.getOnline({ entityType: "message", entityId: "m1", features: ["message.length"] });
  await admin.getOnline({ entityType: "message", entityId: "m1", features: ["message.nope"] }).catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await workers?.stop();
});

describe("the admin console in Chromium", () => {
  let admin: { context: BrowserContext; page: Page };
  beforeAll(async () => {
    admin = await signedIn(allScopes);
  });

  it("signs in from the link npm start prints, and refuses a bad token in place", async () => {
    const { page } = admin;
    await expectText(page.locator("h1"), "Overview", { exact: true });
    expect(await page.locator("tbody tr").filter({ hasText: "conversation" }).count()).toBeGreaterThan(0);
    const rows = await page.locator("table").first().locator("tbody tr").allInnerTexts();
    expect(rows.map((r) => r.split("\t")[0])).toEqual(["conversation", "message", "tenant", "user"]);
    const freshness = await page.locator("table").first().locator("tbody tr").allInnerTexts();
    expect(freshness.map((r) => r.split("\t").at(-1))).toEqual(["fresh", "fresh", "empty", "fresh"]);
    await shot(page, "overview");

    const stranger = await browser.newPage();
    await stranger.goto(`${workers.adminUrl}/console/sign-in`);
    await stranger.fill("#token", "not.a.token");
    await stranger.click("button[type=submit]");
    await expectText(stranger.locator("[role=alert]"), "That token was refused");
    await stranger.goto(`${workers.adminUrl}/console/features`);
    expect(new URL(stranger.url()).pathname).toBe("/console/sign-in");
    await stranger.close();
  });

  it("browses features with search and filters, from the keyboard", async () => {
    const { page } = admin;
    await page.goto(`${workers.adminUrl}/console/features`);
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement && document.activeElement.textContent")).toBe("Skip to content");
    await page.selectOption("#f-group", "user");
    await page.selectOption("#f-sourceType", "batch");
    await page.focus("#f-q");
    await page.keyboard.press("Enter");
    await page.waitForURL(/group=user/);
    const names = await page.locator("tbody tr td:first-child a").allInnerTexts();
    expect(names.length).toBeGreaterThan(2);
    expect(names.every((n) => n.startsWith("user."))).toBe(true);
    await expectText(page.locator("p[role=status]"), `${names.length} of 22 features`);
    await page.fill("#f-q", "channel");
    await page.keyboard.press("Enter");
    await page.waitForURL(/q=channel/);
    expect(await page.locator("tbody tr td:first-child a").allInnerTexts()).toEqual(["user.preferred_channel"]);
    await page.goto(`${workers.adminUrl}/console/features`);
    await shot(page, "features");
  });

  it("shows a feature: staged version, stats with a histogram, SQL lineage, and a side-by-side diff", async () => {
    const { page } = admin;
    await page.goto(`${workers.adminUrl}/console/features/user.conversation_count`);
    await expectText(page.locator(".timeline li").first(), "v2");
    await expectText(page.locator(".timeline li").first(), "staged");
    await expectText(page.locator(".timeline li.is-current"), "v1");
    await expectText(page.locator("section[aria-labelledby=sql] .tag").first(), "ai_conversations", { exact: true });
    await expectText(page.locator("pre .kw").first(), "SELECT", { exact: true });
    await page.locator(".timeline li.is-current summary").click();
    expect(await page.locator(".timeline li.is-current svg.chart rect").count()).toBeGreaterThan(0);
    await page.selectOption("#from", "1");
    await page.selectOption("#to", "2");
    await page.click('button:has-text("Compare")');
    const changed = page.locator("fieldset.diff tr.changed th");
    expect(await changed.allInnerTexts()).toEqual(["validationRules", "validationRules"]);
    await expectText(page.locator("fieldset.diff > div").nth(1), '{"min":0}');
    await shot(page, "feature");
  });

  it("promotes the staged version", async () => {
    const { page } = admin;
    await page.goto(`${workers.adminUrl}/console/features/user.conversation_count`);
    await page.click("text=Promote v2");
    await expectText(page.locator(".notice"), "Promoted v2.", { exact: true });
    await expectText(page.locator(".timeline li.is-current"), "v2");
  });

  it("refuses an edit with its 422 in place: the SQL line, a caret, the editor at the position", async () => {
    const { page } = admin;
    await page.goto(`${workers.adminUrl}/console/features/user.conversation_count/edit`);
    const badSql = "SELECT user_id AS entity_id, COUNT(*) AS value\nFROM ai_conversationz\nGROUP BY user_id";
    await page.fill("#transformationSql", badSql);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST"),
      page.click('main button[type=submit]:has-text("Save")'),
    ]);
    expect(response.status()).toBe(422);
    await expectText(page.locator("#transformationSql-error"), "ai_conversationz");
    await expectText(page.locator("pre.sql-caret"), "line 2, column 6");
    const focus = await page.evaluate(`(() => {
      const t = document.activeElement;
      return { id: t.id, start: t.selectionStart, text: t.value.slice(t.selectionStart, t.selectionStart + 3) };
    })()`);
    expect(focus).toEqual({ id: "transformationSql", start: badSql.indexOf("ai_conversationz"), text: "ai_" });
    await shot(page, "edit-refused");
    // Nothing was saved.
    await page.goto(`${workers.adminUrl}/console/features/user.conversation_count`);
    expect(await page.locator("pre").innerText()).not.toContain("ai_conversationz");
  });

  it("starts a backfill and shows its progress moving to completion", async () => {
    const { page } = admin;
    await page.goto(`${workers.adminUrl}/console/jobs`);
    await page.selectOption("#featureGroupId", { label: "user" });
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 16);
    await page.fill("#startTime", day(-2));
    await page.fill("#endTime", day(0));
    await page.click("text=Start backfill");
    await page.waitForURL(/\/console\/jobs\/[0-9a-f-]{36}$/);
    await expectText(page.locator("#job-status"), "pending", { exact: true });
    await shot(page, "job-running");
    await workers.scheduled("* * * * *");
    await expectText(page.locator("#job-status"), "completed", { exact: true, timeout: 15_000 });
    await expectText(page.locator("#job-percent"), "100%", { exact: true });
    await page.goto(`${workers.adminUrl}/console/jobs`);
    await shot(page, "jobs");
  });

  it("shows serving health: reads from Redis and Postgres, rejected reads, per route", async () => {
    const { page } = admin;
    await page.goto(`${workers.adminUrl}/console/health`);
    await shot(page, "health");
    const online = page.locator("tbody tr", { hasText: "/v1/features/online" });
    const cells = await online.locator("td").allInnerTexts();
    expect(Number(cells[1])).toBe(4);
    expect(Number(cells[5])).toBe(1);
    expect(Number(cells[2]!.split(" ")[0]) + Number(cells[3]) + Number(cells[4])).toBe(3);
    expect(await page.locator("tbody tr", { hasText: "/v1/features/push" }).count()).toBe(1);
    await shot(page, "health");
  });

  it("reads at 375 px without sideways scrolling and without layout shift", async () => {
    const { context, page } = await signedIn(allScopes, tenantA, { width: 375, height: 800 });
    for (const url of ["/console", "/console/features", "/console/features/user.conversation_count", "/console/jobs"]) {
      await page.goto(`${workers.adminUrl}${url}`);
      const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
      expect(overflow, url).toBeLessThanOrEqual(0);
      // Cumulative layout shift since the page started loading (Chromium's layout-shift entries).
      const shift = await page.evaluate<number>(`new Promise((resolve) => {
        let total = 0;
        new PerformanceObserver((list) => { for (const e of list.getEntries()) total += e.value; })
          .observe({ type: "layout-shift", buffered: true });
        setTimeout(() => resolve(total), 300);
      })`);
      expect(shift, url).toBeLessThan(0.01);
    }
    await page.goto(`${workers.adminUrl}/console`);
    await shot(page, "overview-375px");
    await context.close();
  });
});

describe("the console under other tokens", () => {
  it("shows a registry:read token no edit controls, and refuses its edits anyway", async () => {
    const { context, page } = await signedIn(["registry:read"]);
    await page.goto(`${workers.adminUrl}/console/features/user.conversation_count`);
    await expectText(page.locator("h1"), "user.conversation_count", { exact: true });
    expect(await page.locator("text=Edit").count()).toBe(0);
    expect(await page.locator("button", { hasText: "Promote" }).count()).toBe(0);
    await page.goto(`${workers.adminUrl}/console/features`);
    expect(await page.locator("text=New group").count()).toBe(0);
    await page.goto(`${workers.adminUrl}/console/jobs`);
    expect(await page.locator("#featureGroupId").count()).toBe(0);
    const edit = await page.goto(`${workers.adminUrl}/console/features/user.conversation_count/edit`);
    expect(edit?.status()).toBe(403);
    // A form post made by hand is refused too (same origin, so past the CSRF check).
    const status = await page.evaluate(async () => {
      const r = await fetch("/console/features/user.conversation_count/versions/1/promote", { method: "POST" });
      return r.status;
    });
    expect(status).toBe(403);
    await context.close();
  });

  it("answers another tenant's ids with 'not found'", async () => {
    const { context, page } = await signedIn(allScopes, tenantB);
    for (const url of [
      `/console/jobs/${jobOfA}`,
      `/console/features/${featureIdOfA}`,
      `/console/features/user.conversation_count`,
    ]) {
      const response = await page.goto(`${workers.adminUrl}${url}`);
      expect(response?.status(), url).toBe(404);
      await expectText(page.locator("h1"), "Not found", { exact: true });
    }
    const status = await page.evaluate(
      async (id) => (await fetch(`/console/jobs/${id}/cancel`, { method: "POST" })).status,
      jobOfA,
    );
    expect(status).toBe(404);
    await context.close();
  });

  it("refuses a cross-site form post (CSRF)", async () => {
    const token = await signToken({ tenantId: tenantA, scopes: allScopes });
    const response = await fetch(`${workers.adminUrl}/console/features/user.conversation_count/archive`, {
      method: "POST",
      headers: {
        cookie: `fs_console=${token}`,
        origin: "https://evil.example",
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "",
    });
    expect(response.status).toBe(403);
  });
});
