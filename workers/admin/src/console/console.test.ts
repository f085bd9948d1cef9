// The console's routes in workerd: sign-in and its cookie, what a page without a session,
// a bad id, bad form input, a missing scope and another tenant's id answer (never a 500).
// The browser tests (test/console) drive the same pages in Chromium.
import { beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { signToken } from "#harness/tokens.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const origin = "http://worker";
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

async function session(tenantId: string, scopes: string[]) {
  const token = await signToken({ tenantId, scopes, sub: "console" });
  const cookie = `fs_console=${token}`;
  return {
    get: (path: string) => api.call(path, { headers: { cookie } }),
    post: (path: string, fields: Record<string, string> = {}) =>
      api.call(path, {
        method: "POST",
        rawBody: form(fields),
        headers: { cookie, origin, "content-type": "application/x-www-form-urlencoded" },
      }),
  };
}

describe("/console", () => {
  const tenant = crypto.randomUUID();
  let admin: Awaited<ReturnType<typeof session>>;
  beforeAll(async () => {
    admin = await session(tenant, ["registry:read", "registry:write", "jobs:write"]);
    await api.as(tenant).post("/v1/admin/bootstrap");
  });

  it("signs in with a token into an HttpOnly, SameSite=Strict cookie, and refuses a bad one", async () => {
    const token = await signToken({ tenantId: tenant, scopes: ["registry:read"] });
    const signIn = await api.call("/console/sign-in", {
      method: "POST",
      rawBody: form({ token }),
      headers: { origin, "content-type": "application/x-www-form-urlencoded" },
    });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get("location")).toBe("/console");
    expect(signIn.headers.get("set-cookie")).toMatch(
      /^fs_console=.+; Max-Age=\d+; Path=\/console; HttpOnly; SameSite=Strict$/,
    );
    const refused = await api.call("/console/sign-in", {
      method: "POST",
      rawBody: form({ token: "x.y.z" }),
      headers: { origin, "content-type": "application/x-www-form-urlencoded" },
    });
    expect(refused.status).toBe(401);
    expect(refused.text).toContain("That token was refused");
  });

  it("sends a request without a session, or with an expired one, to the sign-in page", async () => {
    const none = await api.call("/console/features");
    expect([none.status, none.headers.get("location")]).toEqual([303, "/console/sign-in"]);
    const expired = await signToken({ tenantId: tenant, scopes: ["registry:read"], expiresIn: -10 });
    const stale = await api.call("/console", { headers: { cookie: `fs_console=${expired}` } });
    expect([stale.status, stale.headers.get("location")]).toEqual([303, "/console/sign-in?expired=1"]);
  });

  it("renders every page for the signed-in tenant", async () => {
    for (const path of [
      "/console",
      "/console/features?group=user&sourceType=batch",
      "/console/features/user.conversation_count",
      "/console/jobs",
      "/console/health",
      "/console/groups/new",
    ]) {
      const page = await admin.get(path);
      expect(page.status, path).toBe(200);
      expect(page.headers.get("content-type"), path).toMatch(/^text\/html/);
    }
  });

  it("answers bad ids and bad form input with a 4xx page, never a 500", async () => {
    expect((await admin.get("/console/jobs/not-a-uuid")).status).toBe(404);
    expect((await admin.get("/console/features/no.such_feature")).status).toBe(404);
    expect((await admin.get("/console/features/a.b.c")).status).toBe(400);
    const badRules = await admin.post("/console/features/user.conversation_count/edit", {
      displayName: "Conversation Count",
      dataType: "int64",
      sourceType: "batch",
      validationRules: "{min: 0",
      status: "active",
    });
    expect(badRules.status).toBe(400);
    expect(badRules.text).toContain("not JSON");
    const badType = await admin.post("/console/groups/new", { name: "9bad", displayName: "", entityType: "robot" });
    expect(badType.status).toBe(400);
    expect(badType.text).toContain("field-error");
    const badJob = await admin.post("/console/jobs", {
      featureGroupId: "nope",
      jobType: "full",
      startTime: "",
      endTime: "",
    });
    expect(badJob.status).toBe(400);
  });

  it("refuses actions a token's scopes do not allow, and another tenant's ids are not found", async () => {
    const reader = await session(tenant, ["registry:read"]);
    expect((await reader.get("/console/groups/new")).status).toBe(403);
    expect((await reader.post("/console/features/user.conversation_count/archive")).status).toBe(403);
    expect((await reader.post("/console/jobs", {})).status).toBe(403);
    const groups = (await api.as(tenant).get("/v1/admin/groups")).body.items as { id: string }[];
    const stranger = await session(crypto.randomUUID(), ["registry:read", "registry:write", "jobs:write"]);
    expect((await stranger.get(`/console/groups/${groups[0]!.id}/edit`)).status).toBe(404);
    expect((await stranger.post(`/console/groups/${groups[0]!.id}/archive`)).status).toBe(404);
    const crossSite = await api.call("/console/groups/new", {
      method: "POST",
      rawBody: form({ name: "x" }),
      headers: {
        cookie: "fs_console=whatever",
        origin: "https://evil.example",
        "content-type": "application/x-www-form-urlencoded",
      },
    });
    expect(crossSite.status).toBe(403);
  });
});
