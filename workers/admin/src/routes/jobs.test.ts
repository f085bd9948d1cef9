import { beforeAll, describe, expect, it } from "vitest";
import { apiClient, detailPaths, expectError } from "#harness/http.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const hour = 3_600_000;
const window = (hoursAgo: number, hours: number) => ({
  startTime: new Date(Date.now() - hoursAgo * hour).toISOString(),
  endTime: new Date(Date.now() - (hoursAgo - hours) * hour).toISOString(),
});

async function tenantWithGroup() {
  const t = api.as(crypto.randomUUID());
  const g = await t.post("/v1/admin/groups", { name: "user", displayName: "Users", entityType: "user" });
  return { t, groupId: g.body.id as string };
}

describe("jobs: happy paths", () => {
  it("creates a job (202), reads it, lists it and cancels it", async () => {
    const { t, groupId } = await tenantWithGroup();
    const created = await t.post("/v1/admin/jobs", { featureGroupId: groupId, jobType: "full", ...window(48, 24) });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({
      featureGroupId: groupId,
      jobType: "full",
      status: "pending",
      progress: 0,
      rowsProcessed: 0,
      rowsFailed: 0,
      durationMs: null,
      errorMessage: null,
      startedAt: null,
      completedAt: null,
    });
    expect((await t.get(`/v1/admin/jobs/${created.body.id}`)).body).toEqual(created.body);
    const list = await t.get("/v1/admin/jobs?status=pending");
    expect(list.body.items.map((j: any) => j.id)).toEqual([created.body.id]);
    const cancelled = await t.post(`/v1/admin/jobs/${created.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    expect(cancelled.body.completedAt).not.toBeNull();
    expectError(await t.post(`/v1/admin/jobs/${created.body.id}/cancel`), 409, "CONFLICT");
  });

  it("paginates and filters jobs", async () => {
    const { t, groupId } = await tenantWithGroup();
    const ids: string[] = [];
    for (const jobType of ["full", "incremental", "point_in_time", "full"]) {
      ids.push((await t.post("/v1/admin/jobs", { featureGroupId: groupId, jobType, ...window(10, 1) })).body.id);
    }
    const first = await t.get("/v1/admin/jobs?limit=3");
    const second = await t.get(`/v1/admin/jobs?limit=3&cursor=${first.body.nextCursor}`);
    expect([...first.body.items, ...second.body.items].map((j: any) => j.id)).toEqual([...ids].reverse());
    expect(second.body.nextCursor).toBeNull();
    expect((await t.get("/v1/admin/jobs?jobType=full")).body.items).toHaveLength(2);
    expect((await t.get(`/v1/admin/jobs?featureGroupId=${groupId}&status=running`)).body.items).toEqual([]);
  });
});

describe("jobs: bad input", () => {
  let t: Awaited<ReturnType<typeof tenantWithGroup>>["t"];
  let groupId: string;
  beforeAll(async () => {
    ({ t, groupId } = await tenantWithGroup());
  });

  it.each([
    ["start after end", () => ({ featureGroupId: groupId, jobType: "full", ...window(1, -2) }), "endTime"],
    [
      "a window over ten years",
      () => ({
        featureGroupId: groupId,
        jobType: "full",
        startTime: "2001-01-01T00:00:00Z",
        endTime: "2020-01-01T00:00:00Z",
      }),
      "endTime",
    ],
    ["a window in the future", () => ({ featureGroupId: groupId, jobType: "full", ...window(-48, 24) }), "endTime"],
    [
      "a start before 2000",
      () => ({
        featureGroupId: groupId,
        jobType: "full",
        startTime: "1999-01-01T00:00:00Z",
        endTime: "2001-01-01T00:00:00Z",
      }),
      "startTime",
    ],
    ["an unknown job type", () => ({ featureGroupId: groupId, jobType: "weekly", ...window(2, 1) }), "jobType"],
    [
      "a time that is not ISO",
      () => ({ featureGroupId: groupId, jobType: "full", startTime: "yesterday", endTime: "2020-01-01T00:00:00Z" }),
      "startTime",
    ],
    ["a bad group id", () => ({ featureGroupId: "nope", jobType: "full", ...window(2, 1) }), "featureGroupId"],
    ["an unknown field", () => ({ featureGroupId: groupId, jobType: "full", priority: 1, ...window(2, 1) }), "(root)"],
  ])("rejects %s with 400 naming the path", async (_label, body, path) => {
    const response = await t.post("/v1/admin/jobs", body());
    expectError(response, 400, "VALIDATION_FAILED");
    expect(detailPaths(response)).toContain(path);
  });

  it("answers a missing group with 404 and an archived one with 409", async () => {
    expectError(
      await t.post("/v1/admin/jobs", { featureGroupId: crypto.randomUUID(), jobType: "full", ...window(2, 1) }),
      404,
      "NOT_FOUND",
    );
    const g = await t.post("/v1/admin/groups", { name: "old", displayName: "Old", entityType: "user" });
    await t.post(`/v1/admin/groups/${g.body.id}/archive`);
    expectError(
      await t.post("/v1/admin/jobs", { featureGroupId: g.body.id, jobType: "full", ...window(2, 1) }),
      409,
      "CONFLICT",
    );
  });

  it("rejects bad ids and cursors", async () => {
    expectError(await t.get("/v1/admin/jobs/123"), 400, "VALIDATION_FAILED");
    expectError(await t.post("/v1/admin/jobs/123/cancel"), 400, "VALIDATION_FAILED");
    expectError(await t.get("/v1/admin/jobs?cursor=eyJ4IjoxfQ"), 400, "INVALID_CURSOR");
    expectError(await t.get(`/v1/admin/jobs/${crypto.randomUUID()}`), 404, "NOT_FOUND");
  });
});

describe("jobs: security", () => {
  it("hides another tenant's jobs and groups behind 404", async () => {
    const { t: owner, groupId } = await tenantWithGroup();
    const job = await owner.post("/v1/admin/jobs", { featureGroupId: groupId, jobType: "full", ...window(2, 1) });
    const intruder = api.as(crypto.randomUUID());
    expectError(await intruder.get(`/v1/admin/jobs/${job.body.id}`), 404, "NOT_FOUND");
    expectError(await intruder.post(`/v1/admin/jobs/${job.body.id}/cancel`), 404, "NOT_FOUND");
    expectError(
      await intruder.post("/v1/admin/jobs", { featureGroupId: groupId, jobType: "full", ...window(2, 1) }),
      404,
      "NOT_FOUND",
    );
    expect((await intruder.get("/v1/admin/jobs")).body.items).toEqual([]);
    expect((await owner.get(`/v1/admin/jobs/${job.body.id}`)).body.status).toBe("pending");
  });

  it("requires jobs:write to create or cancel and registry:read to read", async () => {
    const { t, groupId } = await tenantWithGroup();
    expectError(await api.call("/v1/admin/jobs"), 401, "UNAUTHORIZED");
    const reader = api.as(t.tenantId, ["registry:read", "registry:write"]);
    const runner = api.as(t.tenantId, ["jobs:write"]);
    expectError(
      await reader.post("/v1/admin/jobs", { featureGroupId: groupId, jobType: "full", ...window(2, 1) }),
      403,
      "FORBIDDEN",
    );
    const job = await runner.post("/v1/admin/jobs", { featureGroupId: groupId, jobType: "full", ...window(2, 1) });
    expect(job.status).toBe(202);
    expectError(await runner.get(`/v1/admin/jobs/${job.body.id}`), 403, "FORBIDDEN");
    expectError(await reader.post(`/v1/admin/jobs/${job.body.id}/cancel`), 403, "FORBIDDEN");
    expect((await reader.get(`/v1/admin/jobs/${job.body.id}`)).status).toBe(200);
  });
});
