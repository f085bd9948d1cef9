import { describe, expect, it } from "vitest";
import { apiClient, expectError } from "#harness/http.ts";
import { appDatabase, createTenant } from "#harness/stack.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { checkTransformation } from "#shared/features/transformation.ts";
import { TISTIS_GROUPS } from "#shared/registry/tistis-features.ts";
import worker from "../index.ts";

const api = apiClient(worker);

async function countRegistry(tenantId: string) {
  const [groups, features, versions] = await withTenantSql(appDatabase(), tenantId, (sql) => [
    sql`SELECT count(*)::int AS n FROM ai_feature_groups`,
    sql`SELECT count(*)::int AS n FROM ai_feature_definitions`,
    sql`SELECT count(*)::int AS n FROM ai_feature_versions`,
  ]);
  return { groups: groups![0]!.n, features: features![0]!.n, versions: versions![0]!.n };
}

describe("POST /v1/admin/bootstrap", () => {
  it("gives exactly 4 groups and 22 features per tenant, twice for two tenants", async () => {
    const tenants = [api.as(crypto.randomUUID()), api.as(crypto.randomUUID())];
    for (const t of tenants) {
      const first = await t.post("/v1/admin/bootstrap");
      expect(first.status).toBe(200);
      expect(first.body.groups.created).toEqual(["tenant", "user", "conversation", "message"]);
      expect(first.body.features.created).toHaveLength(22);
      expect(first.body.features.existing).toEqual([]);
      const second = await t.post("/v1/admin/bootstrap");
      expect(second.body.groups).toEqual({ created: [], existing: ["tenant", "user", "conversation", "message"] });
      expect(second.body.features.created).toEqual([]);
      expect(second.body.features.existing).toHaveLength(22);
      expect(await countRegistry(t.tenantId)).toEqual({ groups: 4, features: 22, versions: 22 });
    }
    const message = await tenants[0]!.get("/v1/admin/features/message.embedding");
    expect(message.body).toMatchObject({ dataType: "embedding", embeddingDimension: 1536, version: 1 });
    const groups = await tenants[0]!.get("/v1/admin/groups?entityType=message");
    expect(groups.body.items[0].ttlSeconds).toBe(86_400);
    expect((await tenants[0]!.get("/v1/admin/groups?entityType=user")).body.items[0].ttlSeconds).toBeNull();
  });

  it("is safe when two bootstraps race", async () => {
    const t = api.as(crypto.randomUUID());
    const results = await Promise.all([t.post("/v1/admin/bootstrap"), t.post("/v1/admin/bootstrap")]);
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(await countRegistry(t.tenantId)).toEqual({ groups: 4, features: 22, versions: 22 });
    const created = results.flatMap((r) => r.body.features.created);
    expect(new Set(created).size).toBe(created.length);
  });

  it("completes a partial registry without touching what exists", async () => {
    const t = api.as(crypto.randomUUID());
    const g = await t.post("/v1/admin/groups", { name: "user", displayName: "My users", entityType: "user" });
    await t.post(`/v1/admin/groups/${g.body.id}/features`, {
      name: "conversation_count",
      displayName: "Mine",
      dataType: "int64",
      sourceType: "stream",
    });
    const report = await t.post("/v1/admin/bootstrap");
    expect(report.body.groups.existing).toEqual(["user"]);
    expect(report.body.features.existing).toEqual(["user.conversation_count"]);
    expect(report.body.features.created).toHaveLength(21);
    expect((await t.get("/v1/admin/features/user.conversation_count")).body.displayName).toBe("Mine");
  });

  it("ships TIS TIS transformations that all plan against the schema", async () => {
    const tenantId = await createTenant("tistis-sql");
    const withSql = TISTIS_GROUPS.flatMap((g) => g.features).filter((f) => f.transformationSql);
    expect(withSql.length).toBe(12);
    for (const feature of withSql) {
      const columns = await checkTransformation(appDatabase(), tenantId, feature.transformationSql!);
      expect(
        columns.map((c) => c.name),
        feature.name,
      ).toEqual(["entity_id", "value"]);
    }
  });

  it("requires a token and registry:write", async () => {
    expectError(await api.call("/v1/admin/bootstrap", { method: "POST" }), 401, "UNAUTHORIZED");
    const reader = api.as(crypto.randomUUID(), ["registry:read", "jobs:write"]);
    expectError(await reader.post("/v1/admin/bootstrap"), 403, "FORBIDDEN");
    expect(await countRegistry(reader.tenantId)).toEqual({ groups: 0, features: 0, versions: 0 });
  });

  it("answers a GET with 404", async () => {
    const t = api.as(crypto.randomUUID());
    expectError(await t.get("/v1/admin/bootstrap"), 404, "NOT_FOUND");
  });
});
