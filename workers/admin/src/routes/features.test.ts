import { beforeAll, describe, expect, it } from "vitest";
import { apiClient, detailPaths, expectError } from "#harness/http.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const newTenant = () => api.as(crypto.randomUUID());

async function tenantWithGroup(groupName = "user") {
  const t = newTenant();
  const g = await t.post("/v1/admin/groups", { name: groupName, displayName: "Users", entityType: "user" });
  expect(g.status).toBe(201);
  return { t, groupId: g.body.id as string };
}

const countSql = `SELECT user_id AS entity_id, COUNT(*) AS value FROM ai_conversations
  WHERE created_at >= :start_time AND created_at < :end_time GROUP BY user_id`;

describe("features: happy paths", () => {
  it("creates version 1 with its snapshot, readable by id and by group.feature", async () => {
    const { t, groupId } = await tenantWithGroup();
    const created = await t.post(`/v1/admin/groups/${groupId}/features`, {
      name: "conversation_count",
      displayName: "Conversation Count",
      dataType: "int64",
      sourceType: "batch",
      transformationSql: countSql,
      aggregationType: "count",
      validationRules: { min: 0, notNull: true },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "conversation_count",
      version: 1,
      groupId,
      dataType: "int64",
      status: "active",
    });
    const byName = await t.get("/v1/admin/features/user.conversation_count");
    const byId = await t.get(`/v1/admin/features/${created.body.id}`);
    expect(byName.body).toEqual(created.body);
    expect(byId.body).toEqual(created.body);
    const versions = await t.get("/v1/admin/features/user.conversation_count/versions");
    expect(versions.body.items).toHaveLength(1);
    expect(versions.body.items[0]).toMatchObject({ version: 1, changelog: "Initial version", stats: null });
    expect(versions.body.items[0].definitionSnapshot).toEqual(created.body);
    expect(created.body.aggregationIntervalSeconds).toBe(60);
  });

  it("walks a feature through three versions: history, snapshots and diffs", async () => {
    const { t, groupId } = await tenantWithGroup();
    const v1 = await t.post(`/v1/admin/groups/${groupId}/features`, {
      name: "score",
      displayName: "Score",
      dataType: "float64",
      sourceType: "stream",
      validationRules: { min: 0, max: 1 },
    });
    expect(v1.status).toBe(201);
    // Cosmetic: same version.
    const cosmetic = await t.patch("/v1/admin/features/user.score", { displayName: "The score", tags: ["ml"] });
    expect(cosmetic.body).toMatchObject({ version: 1, displayName: "The score", tags: ["ml"] });
    // Meaningful: version 2.
    const v2 = await t.patch("/v1/admin/features/user.score", {
      validationRules: { min: -1, max: 1 },
      changelog: "allow negatives",
    });
    expect(v2.status).toBe(200);
    expect(v2.body.version).toBe(2);
    // Meaningful again: version 3 (new aggregation and window).
    const v3 = await t.patch("/v1/admin/features/user.score", { aggregationType: "avg", windowSizeSeconds: 3600 });
    expect(v3.body.version).toBe(3);
    // The same values again change nothing.
    const same = await t.patch("/v1/admin/features/user.score", { aggregationType: "avg" });
    expect(same.body.version).toBe(3);

    const history = await t.get("/v1/admin/features/user.score/versions");
    expect(history.body.items.map((v: any) => v.version)).toEqual([3, 2, 1]);
    expect(history.body.items.map((v: any) => v.changelog)).toEqual([
      "Changed aggregationType, windowSizeSeconds",
      "allow negatives",
      "Initial version",
    ]);
    const one = await t.get("/v1/admin/features/user.score/versions/2");
    expect(one.body.definitionSnapshot).toMatchObject({
      version: 2,
      validationRules: { min: -1, max: 1 },
      aggregationType: null,
    });
    expect(one.body.definitionSnapshot.displayName).toBe("The score");
    expect(history.body.items[0].definitionSnapshot).toEqual(v3.body);

    const diff13 = await t.get("/v1/admin/features/user.score/diff?from=1&to=3");
    expect(diff13.status).toBe(200);
    expect(diff13.body.changes).toEqual([
      { field: "displayName", from: "Score", to: "The score" },
      { field: "aggregationType", from: null, to: "avg" },
      { field: "windowSizeSeconds", from: null, to: 3600 },
      { field: "validationRules", from: { min: 0, max: 1 }, to: { min: -1, max: 1 } },
      { field: "tags", from: [], to: ["ml"] },
    ]);
    const diff23 = await t.get("/v1/admin/features/user.score/diff?from=2&to=3");
    expect(diff23.body.changes.map((c: any) => c.field)).toEqual(["aggregationType", "windowSizeSeconds"]);
  });

  it("versions every field that changes what values mean", async () => {
    const { t, groupId } = await tenantWithGroup();
    await t.post(`/v1/admin/groups/${groupId}/features`, {
      name: "f",
      displayName: "F",
      dataType: "int64",
      sourceType: "stream",
    });
    const steps: [Record<string, unknown>, number][] = [
      [{ description: "cosmetic" }, 1],
      [{ dataType: "float64" }, 2],
      [{ sourceConfig: { topic: "x" } }, 3],
      [{ transformationSql: countSql }, 4],
      [{ sourceType: "batch" }, 5],
      [{ dataType: "embedding", embeddingDimension: 8 }, 6],
      [{ embeddingDimension: 16 }, 7],
      [{ status: "deprecated" }, 7],
      [{ dataType: "int64", embeddingDimension: null, sourceType: "stream", aggregationType: "count" }, 8],
      [{ aggregationIntervalSeconds: 10 }, 9],
      [{ windowSizeSeconds: 3600 }, 10],
    ];
    for (const [change, version] of steps) {
      const r = await t.patch("/v1/admin/features/user.f", change);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.version, JSON.stringify(change)).toBe(version);
    }
  });

  it("lists features with filters and pagination", async () => {
    const { t, groupId } = await tenantWithGroup();
    const other = await t.post("/v1/admin/groups", { name: "msg", displayName: "Messages", entityType: "message" });
    for (const [i, name] of ["a", "b", "c"].entries()) {
      await t.post(`/v1/admin/groups/${groupId}/features`, {
        name,
        displayName: name,
        dataType: i === 2 ? "string" : "int64",
        sourceType: "stream",
      });
    }
    await t.post(`/v1/admin/groups/${other.body.id}/features`, {
      name: "len",
      displayName: "len",
      dataType: "int64",
      sourceType: "stream",
    });
    const page1 = await t.get("/v1/admin/features?group=user&limit=2");
    expect(page1.body.items.map((f: any) => f.name)).toEqual(["a", "b"]);
    const page2 = await t.get(`/v1/admin/features?group=user&limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.items.map((f: any) => f.name)).toEqual(["c"]);
    expect(page2.body.nextCursor).toBeNull();
    expect((await t.get(`/v1/admin/features?group=${other.body.id}`)).body.items.map((f: any) => f.name)).toEqual([
      "len",
    ]);
    expect((await t.get("/v1/admin/features?dataType=string")).body.items.map((f: any) => f.name)).toEqual(["c"]);
    expect((await t.get("/v1/admin/features")).body.items).toHaveLength(4);
  });

  it("reads the stats of the current or a given version", async () => {
    const { t, groupId } = await tenantWithGroup();
    await t.post(`/v1/admin/groups/${groupId}/features`, {
      name: "s",
      displayName: "S",
      dataType: "int64",
      sourceType: "stream",
    });
    await t.patch("/v1/admin/features/user.s", { validationRules: { min: 0 } });
    const current = await t.get("/v1/admin/features/user.s/stats");
    expect(current.body).toMatchObject({ version: 2, stats: null });
    const first = await t.get("/v1/admin/features/user.s/stats?version=1");
    expect(first.body).toMatchObject({ version: 1, stats: null });
    expectError(await t.get("/v1/admin/features/user.s/stats?version=9"), 404, "NOT_FOUND");
  });
});

describe("features: definition checks and bad input", () => {
  let t: ReturnType<typeof newTenant>;
  let groupId: string;
  beforeAll(async () => {
    ({ t, groupId } = await tenantWithGroup());
  });
  const create = (body: Record<string, unknown>) =>
    t.post(`/v1/admin/groups/${groupId}/features`, { name: "f", displayName: "F", sourceType: "stream", ...body });

  it.each([
    [
      "a window that is not whole intervals",
      { dataType: "int64", aggregationType: "count", windowSizeSeconds: 90, aggregationIntervalSeconds: 60 },
      "windowSizeSeconds",
    ],
    [
      "an aggregated embedding",
      { dataType: "embedding", embeddingDimension: 4, aggregationType: "last" },
      "aggregationType",
    ],
    ["max of a string", { dataType: "string", aggregationType: "max" }, "aggregationType"],
    [
      "an interval over a day",
      { dataType: "int64", aggregationType: "count", aggregationIntervalSeconds: 86_401 },
      "aggregationIntervalSeconds",
    ],
    ["an embedding without a dimension", { dataType: "embedding" }, "embeddingDimension"],
    ["a dimension on a non-embedding", { dataType: "int64", embeddingDimension: 4 }, "embeddingDimension"],
    ["min greater than max", { dataType: "float64", validationRules: { min: 2, max: 1 } }, "validationRules.min"],
    ["min on a string", { dataType: "string", validationRules: { min: 1 } }, "validationRules.min"],
    [
      "a pattern that does not compile",
      { dataType: "string", validationRules: { pattern: "([a-z" } },
      "validationRules.pattern",
    ],
    [
      "a pattern over 512 characters",
      { dataType: "string", validationRules: { pattern: "a".repeat(513) } },
      "validationRules.pattern",
    ],
    [
      "allowedValues of the wrong type",
      { dataType: "int64", validationRules: { allowedValues: [1, "two"] } },
      "validationRules.allowedValues.1",
    ],
    [
      "a non-integer allowed int64",
      { dataType: "int64", validationRules: { allowedValues: [1.5] } },
      "validationRules.allowedValues.0",
    ],
    ["a zero window", { dataType: "int64", windowSizeSeconds: 0 }, "windowSizeSeconds"],
    ["an unknown aggregation", { dataType: "int64", aggregationType: "median" }, "aggregationType"],
    ["avg of a string", { dataType: "string", aggregationType: "avg" }, "aggregationType"],
    ["an unknown data type", { dataType: "decimal" }, "dataType"],
    ["an unknown rule", { dataType: "int64", validationRules: { minimum: 1 } }, "validationRules"],
    ["an unknown field", { dataType: "int64", owner: "me" }, "(root)"],
  ])("rejects %s with 400 naming the path", async (_label, body, path) => {
    const response = await create(body);
    expectError(response, 400, "VALIDATION_FAILED");
    expect(detailPaths(response)).toContain(path);
  });

  it.each([
    ["a syntax error", "SELECT user_id AS entity_id, COUNT(* AS value FROM ai_conversations", /syntax error/],
    ["an unknown column", "SELECT nope AS entity_id, 1 AS value FROM ai_conversations", /column "nope" does not exist/],
    [
      "a missing value column",
      "SELECT user_id AS entity_id FROM ai_conversations",
      /must return columns entity_id and value/,
    ],
    ["a feature-store table", "SELECT entity_id, value FROM ai_feature_online", /permission denied/],
    ["a write", "DELETE FROM ai_conversations RETURNING id AS entity_id, 1 AS value", /syntax error/],
    ["two statements", "SELECT 1 AS entity_id, 2 AS value; SELECT 3", /syntax error/],
    [
      "set_config",
      "SELECT set_config('app.tenant_id', 'x', true) AS entity_id, 1 AS value",
      /permission denied for function set_config/,
    ],
    [
      "the wall clock",
      "SELECT user_id AS entity_id, 1 AS value FROM ai_conversations WHERE created_at < CURRENT_TIMESTAMP",
      /CURRENT_TIMESTAMP/i,
    ],
  ])("rejects transformation SQL with %s as 422 with Postgres' message", async (_label, transformationSql, message) => {
    const response = await create({ dataType: "int64", transformationSql });
    expectError(response, 422, "UNPROCESSABLE");
    expect(response.body.error.message).toMatch(message);
    expect(detailPaths(response)).toContain("transformationSql");
  });

  it("plans transformation SQL without running it", async () => {
    const response = await create({
      name: "sleepy",
      dataType: "int64",
      transformationSql: "SELECT user_id AS entity_id, 1 AS value FROM ai_conversations, pg_sleep(30)",
    });
    expect(response.status).toBe(201);
  });

  it("checks the merged definition on update", async () => {
    await create({ name: "ranged", dataType: "float64", validationRules: { min: 0, max: 1 } });
    const response = await t.patch("/v1/admin/features/user.ranged", { dataType: "string" });
    expectError(response, 400, "VALIDATION_FAILED");
    expect(detailPaths(response)).toContain("validationRules.min");
    expectError(
      await t.patch("/v1/admin/features/user.ranged", { transformationSql: "SELECT 1" }),
      422,
      "UNPROCESSABLE",
    );
    expect((await t.get("/v1/admin/features/user.ranged")).body.version).toBe(1);
  });

  it("rejects a duplicate name in the group with 409, a bad reference with 400, a missing one with 404", async () => {
    expect((await create({ name: "dup", dataType: "int64" })).status).toBe(201);
    expectError(await create({ name: "dup", dataType: "int64" }), 409, "CONFLICT");
    expectError(await t.get("/v1/admin/features/not..valid"), 400, "VALIDATION_FAILED");
    expectError(await t.get("/v1/admin/features/user.nothing"), 404, "NOT_FOUND");
    expectError(await t.get("/v1/admin/features/user.dup/versions/0"), 400, "VALIDATION_FAILED");
    expectError(await t.get("/v1/admin/features/user.dup/diff?from=1"), 400, "VALIDATION_FAILED");
    expectError(await t.get("/v1/admin/features/user.dup/diff?from=1&to=5"), 404, "NOT_FOUND");
    expectError(
      await t.post(`/v1/admin/groups/${crypto.randomUUID()}/features`, {
        name: "x",
        displayName: "x",
        dataType: "int64",
        sourceType: "stream",
      }),
      404,
      "NOT_FOUND",
    );
  });
});

describe("features: staged versions and promotion", () => {
  async function featureWithStagedVersion() {
    const { t, groupId } = await tenantWithGroup();
    await t.post(`/v1/admin/groups/${groupId}/features`, {
      name: "score",
      displayName: "Score",
      dataType: "int64",
      sourceType: "stream",
    });
    const staged = await t.patch("/v1/admin/features/user.score", { dataType: "float64", promote: false });
    return { t, staged };
  }

  it("stages a new version with promote: false and promotes it, or an older one back", async () => {
    const { t, staged } = await featureWithStagedVersion();
    expect(staged.status).toBe(200);
    expect(staged.body).toMatchObject({ version: 2, currentVersion: 1, stagedVersion: 2, dataType: "float64" });
    const versions = await t.get("/v1/admin/features/user.score/versions");
    expect(versions.body.items.map((v: any) => v.version)).toEqual([2, 1]);
    // A cosmetic change keeps the staging as it is.
    const renamed = await t.patch("/v1/admin/features/user.score", { displayName: "Score (float)" });
    expect(renamed.body).toMatchObject({ version: 2, currentVersion: 1, stagedVersion: 2 });

    const promoted = await t.post("/v1/admin/features/user.score/versions/2/promote");
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ version: 2, currentVersion: 2, stagedVersion: null });
    expect((await t.get("/v1/admin/features/user.score")).body.currentVersion).toBe(2);
    // Promoting the current version again changes nothing; an older one comes back (a roll-back).
    expect((await t.post("/v1/admin/features/user.score/versions/2/promote")).body.currentVersion).toBe(2);
    const back = await t.post("/v1/admin/features/user.score/versions/1/promote");
    expect(back.body).toMatchObject({ version: 2, currentVersion: 1, stagedVersion: 2 });
  });

  it("makes a new version current at once by default", async () => {
    const { t } = await featureWithStagedVersion();
    const v3 = await t.patch("/v1/admin/features/user.score", { dataType: "string" });
    expect(v3.body).toMatchObject({ version: 3, currentVersion: 3, stagedVersion: null });
  });

  it("answers 404 for a version that does not exist and 400 for one that cannot", async () => {
    const { t } = await featureWithStagedVersion();
    expectError(await t.post("/v1/admin/features/user.score/versions/3/promote"), 404, "NOT_FOUND");
    const zero = expectError(
      await t.post("/v1/admin/features/user.score/versions/0/promote"),
      400,
      "VALIDATION_FAILED",
    );
    expect(zero.map((d: any) => d.path)).toEqual(["version"]);
    expectError(await t.post("/v1/admin/features/user.nope/versions/1/promote"), 404, "NOT_FOUND");
    expectError(await t.patch("/v1/admin/features/user.score", { promote: false }), 400, "VALIDATION_FAILED");
  });

  it("needs registry:write, and hides another tenant's feature behind 404", async () => {
    const { t } = await featureWithStagedVersion();
    expectError(
      await api.call("/v1/admin/features/user.score/versions/2/promote", { method: "POST" }),
      401,
      "UNAUTHORIZED",
    );
    const reader = api.as(t.tenantId, ["registry:read"]);
    expectError(await reader.post("/v1/admin/features/user.score/versions/2/promote"), 403, "FORBIDDEN");
    const intruder = newTenant();
    expectError(await intruder.post("/v1/admin/features/user.score/versions/2/promote"), 404, "NOT_FOUND");
    expect((await t.get("/v1/admin/features/user.score")).body.currentVersion).toBe(1);
  });
});

describe("features: security", () => {
  it("hides another tenant's features, versions and groups behind 404", async () => {
    const { t: owner, groupId } = await tenantWithGroup();
    const f = await owner.post(`/v1/admin/groups/${groupId}/features`, {
      name: "secret",
      displayName: "S",
      dataType: "int64",
      sourceType: "stream",
    });
    const intruder = newTenant();
    await intruder.post("/v1/admin/groups", { name: "user", displayName: "Mine", entityType: "user" });
    expectError(await intruder.get(`/v1/admin/features/${f.body.id}`), 404, "NOT_FOUND");
    expectError(await intruder.get("/v1/admin/features/user.secret"), 404, "NOT_FOUND");
    expectError(await intruder.get(`/v1/admin/features/${f.body.id}/versions`), 404, "NOT_FOUND");
    expectError(await intruder.get(`/v1/admin/features/${f.body.id}/versions/1`), 404, "NOT_FOUND");
    expectError(await intruder.get(`/v1/admin/features/${f.body.id}/diff?from=1&to=1`), 404, "NOT_FOUND");
    expectError(await intruder.get(`/v1/admin/features/${f.body.id}/stats`), 404, "NOT_FOUND");
    expectError(await intruder.patch(`/v1/admin/features/${f.body.id}`, { displayName: "pwned" }), 404, "NOT_FOUND");
    expectError(
      await intruder.post(`/v1/admin/groups/${groupId}/features`, {
        name: "x",
        displayName: "x",
        dataType: "int64",
        sourceType: "stream",
      }),
      404,
      "NOT_FOUND",
    );
    expect((await intruder.get("/v1/admin/features")).body.items).toEqual([]);
    expect((await owner.get(`/v1/admin/features/${f.body.id}`)).body.displayName).toBe("S");
  });

  it("requires a token and the right scope", async () => {
    const { t, groupId } = await tenantWithGroup();
    expectError(await api.call("/v1/admin/features"), 401, "UNAUTHORIZED");
    const reader = api.as(t.tenantId, ["registry:read"]);
    const writer = api.as(t.tenantId, ["registry:write"]);
    const body = { name: "x", displayName: "x", dataType: "int64", sourceType: "stream" };
    expectError(await reader.post(`/v1/admin/groups/${groupId}/features`, body), 403, "FORBIDDEN");
    expect((await writer.post(`/v1/admin/groups/${groupId}/features`, body)).status).toBe(201);
    expectError(await writer.get("/v1/admin/features/user.x"), 403, "FORBIDDEN");
    expectError(await writer.get("/v1/admin/features/user.x/versions"), 403, "FORBIDDEN");
    expectError(await reader.patch("/v1/admin/features/user.x", { displayName: "y" }), 403, "FORBIDDEN");
    expect((await reader.get("/v1/admin/features/user.x/diff?from=1&to=1")).status).toBe(200);
  });
});

describe("registry changes reach serving", () => {
  it("bumps the tenant's registry revision in Redis on every change", async () => {
    const { connectRedis } = await import("#shared/online-store/redis-client.ts");
    const { registryRevisionKey } = await import("#shared/online-store/keys.ts");
    const { testEnv } = await import("#harness/stack.ts");
    const redis = connectRedis(testEnv())!;
    const { t, groupId } = await tenantWithGroup();
    const key = registryRevisionKey(t.tenantId);
    const revision = async () => Number((await redis.get<string>(key)) ?? 0);
    const before = await revision();
    await t.post(`/v1/admin/groups/${groupId}/features`, {
      name: "r",
      displayName: "R",
      dataType: "int64",
      sourceType: "stream",
    });
    const afterCreate = await revision();
    expect(afterCreate).toBeGreaterThan(before);
    await t.patch("/v1/admin/features/user.r", { displayName: "R2" });
    const afterUpdate = await revision();
    expect(afterUpdate).toBeGreaterThan(afterCreate);
    await t.patch(`/v1/admin/groups/${groupId}`, { ttlSeconds: 60 });
    expect(await revision()).toBeGreaterThan(afterUpdate);
  });
});
