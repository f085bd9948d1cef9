import { describe, expect, it } from "vitest";
import { apiClient, detailPaths, expectError } from "#harness/http.ts";
import { appDatabase } from "#harness/stack.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import tistis from "../../../../examples/tistis/features.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const tistisDeclaration = tistis.toDeclaration();

/** A small declaration to edit in tests: one group, two stream features. */
function small(overrides: { score?: object; count?: object | null; group?: object } = {}) {
  return {
    groups: [
      {
        name: "user",
        displayName: "Users",
        entityType: "user",
        ...overrides.group,
        features: [
          { name: "score", displayName: "Score", dataType: "float64", sourceType: "stream", ...overrides.score },
          ...(overrides.count === null
            ? []
            : [{ name: "count", displayName: "Count", dataType: "int64", sourceType: "stream", ...overrides.count }]),
        ],
      },
    ],
  };
}

async function registryRows(tenantId: string) {
  const [features, versions] = await withTenantSql(appDatabase(), tenantId, (sql) => [
    sql`SELECT name, status, version, current_version FROM ai_feature_definitions ORDER BY name`,
    sql`SELECT count(*)::int AS n FROM ai_feature_versions`,
  ]);
  return { features: features!, versions: versions![0]!.n as number };
}

const actions = (body: { changes: { action: string; target: string }[] }) =>
  body.changes.map((c) => `${c.action} ${c.target}`);

describe("POST /v1/admin/registry/plan and /apply (features as code)", () => {
  it("plans the TIS TIS file as creates, applies it, and then plans nothing; applying again is a no-op", async () => {
    const t = api.as(crypto.randomUUID());
    const plan = await t.post("/v1/admin/registry/plan", { declaration: tistisDeclaration });
    expect(plan.status, plan.text).toBe(200);
    expect(plan.body.summary).toEqual({ create: 26, update: 0, archive: 0, breaking: 0 });
    expect(actions(plan.body).slice(0, 2)).toEqual([
      "create_group tenant",
      "create_feature tenant.total_conversations",
    ]);
    expect(await registryRows(t.tenantId)).toEqual({ features: [], versions: 0 });

    const applied = await t.post("/v1/admin/registry/apply", { declaration: tistisDeclaration });
    expect(applied.status, applied.text).toBe(200);
    expect(applied.body.applied).toBe(true);
    const rows = await registryRows(t.tenantId);
    expect(rows.features).toHaveLength(22);
    expect(rows.versions).toBe(22);

    const again = await t.post("/v1/admin/registry/apply", { declaration: tistisDeclaration });
    expect(again.body).toMatchObject({ applied: false, changes: [], unchanged: 26 });
    expect(await registryRows(t.tenantId)).toEqual(rows);
  });

  it("plans no change for a tenant the bootstrap set up: the bootstrap installs the same file", async () => {
    const t = api.as(crypto.randomUUID());
    expect((await t.post("/v1/admin/bootstrap")).status).toBe(200);
    const plan = await t.post("/v1/admin/registry/plan", { declaration: tistisDeclaration });
    expect(plan.body).toMatchObject({ changes: [], unchanged: 26 });
  });

  it("says which edits make a version, promoted or staged, then promotes the staged one", async () => {
    const t = api.as(crypto.randomUUID());
    await t.post("/v1/admin/registry/apply", { declaration: small() });

    const cosmetic = await t.post("/v1/admin/registry/plan", { declaration: small({ score: { displayName: "S" } }) });
    expect(cosmetic.body.changes).toEqual([
      {
        action: "update_feature",
        target: "user.score",
        changes: [{ field: "displayName", from: "Score", to: "S" }],
        version: null,
        breaking: [],
      },
    ]);

    const rules = { validationRules: { min: 0, max: 1 } };
    const promoted = await t.post("/v1/admin/registry/plan", { declaration: small({ score: rules }) });
    expect(promoted.body.changes[0].version).toEqual({ number: 2, state: "promoted" });

    const staged = await t.post("/v1/admin/registry/apply", {
      declaration: small({ score: { ...rules, stage: true } }),
    });
    expect(staged.status, staged.text).toBe(200);
    expect(staged.body.changes[0].version).toEqual({ number: 2, state: "staged" });
    const feature = await t.get("/v1/admin/features/user.score");
    expect(feature.body).toMatchObject({ version: 2, currentVersion: 1, stagedVersion: 2 });

    // Still declared as staged: nothing to do. Declared without `stage`: promote it.
    expect(
      (await t.post("/v1/admin/registry/plan", { declaration: small({ score: { ...rules, stage: true } }) })).body
        .changes,
    ).toEqual([]);
    const promote = await t.post("/v1/admin/registry/apply", { declaration: small({ score: rules }) });
    expect(actions(promote.body)).toEqual(["promote_version user.score"]);
    expect((await t.get("/v1/admin/features/user.score")).body).toMatchObject({ version: 2, currentVersion: 2 });
  });

  it("refuses a change that breaks readers unless allowed: a type change, archiving a feature with values", async () => {
    const t = api.as(crypto.randomUUID());
    await t.post("/v1/admin/registry/apply", { declaration: small() });
    await withTenantSql(appDatabase(), t.tenantId, (sql) => [
      sql`INSERT INTO ai_feature_values (tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type, event_timestamp)
          SELECT tenant_id, id, 1, 'user', 'u1', '3'::jsonb, 'scalar', now() FROM ai_feature_definitions WHERE name = 'count'`,
    ]);
    const declaration = small({ score: { dataType: "string" }, count: null });
    const plan = await t.post("/v1/admin/registry/plan", { declaration });
    expect(actions(plan.body)).toEqual(["update_feature user.score", "archive_feature user.count"]);
    expect(plan.body.summary.breaking).toBe(2);
    expect(plan.body.changes[0].breaking[0]).toContain("float64 → string");
    expect(plan.body.changes[1].breaking[0]).toContain("stored values");

    const refused = await t.post("/v1/admin/registry/apply", { declaration });
    expect(detailPaths(refused)).toEqual(["user.score", "user.count"]);
    expectError(refused, 422, "UNPROCESSABLE");
    const untouched = await registryRows(t.tenantId);
    expect(untouched.features.map((f) => [f.name, f.status, f.version])).toEqual([
      ["count", "active", 1],
      ["score", "active", 1],
    ]);

    const allowed = await t.post("/v1/admin/registry/apply", { declaration, allowBreaking: true });
    expect(allowed.body.applied).toBe(true);
    expect((await registryRows(t.tenantId)).features.map((f) => [f.name, f.status, f.version])).toEqual([
      ["count", "archived", 1],
      ["score", "active", 2],
    ]);
    // A staged type change breaks nobody until it is promoted.
    const stagedType = small({ score: { dataType: "int64", stage: true }, count: null });
    expect((await t.post("/v1/admin/registry/plan", { declaration: stagedType })).body.summary.breaking).toBe(0);
  });

  it("applies all or nothing: one bad transformation leaves the whole registry untouched, its path in the declaration", async () => {
    const t = api.as(crypto.randomUUID());
    const declaration = small({
      count: { sourceType: "batch", transformationSql: "SELECT entity_id, value FROM nowhere" },
    });
    const refused = await t.post("/v1/admin/registry/apply", { declaration });
    expectError(refused, 422, "UNPROCESSABLE");
    expect(detailPaths(refused)).toEqual(["declaration.groups.0.features.1.transformationSql"]);
    expect(await registryRows(t.tenantId)).toEqual({ features: [], versions: 0 });
    const inconsistent = small({ score: { dataType: "embedding" } });
    const invalid = await t.post("/v1/admin/registry/plan", { declaration: inconsistent });
    expectError(invalid, 400, "VALIDATION_FAILED");
    expect(detailPaths(invalid)).toEqual(["declaration.groups.0.features.0.embeddingDimension"]);
  });

  it("is safe under concurrent applies: one applies, the others find nothing left to do", async () => {
    const t = api.as(crypto.randomUUID());
    const results = await Promise.all(
      [0, 1, 2].map(() => t.post("/v1/admin/registry/apply", { declaration: tistisDeclaration })),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(results.filter((r) => r.body.applied)).toHaveLength(1);
    expect(await registryRows(t.tenantId)).toMatchObject({ versions: 22 });

    // Concurrent edits of one feature: both succeed in turn, each as its own version.
    const edits = await Promise.all([
      t.post("/v1/admin/registry/apply", {
        declaration: {
          groups: tistisDeclaration.groups.map((g) =>
            g.name === "user"
              ? {
                  ...g,
                  features: g.features.map((f) =>
                    f.name === "feedback_tendency" ? { ...f, validationRules: { min: 0, max: 1 } } : f,
                  ),
                }
              : g,
          ),
        },
      }),
      t.patch("/v1/admin/features/user.feedback_tendency", { description: "edited by hand meanwhile" }),
    ]);
    expect(
      edits.map((r) => r.status),
      edits[0]!.text,
    ).toEqual([200, 200]);
  });

  it("rejects bad declarations with paths, and what cannot change", async () => {
    const t = api.as(crypto.randomUUID());
    const unknownField = await t.post("/v1/admin/registry/plan", { declaration: small({ score: { colour: "red" } }) });
    expectError(unknownField, 400, "VALIDATION_FAILED");
    expect(detailPaths(unknownField)).toEqual(["declaration.groups.0.features.0"]);
    const twice = small();
    twice.groups[0]!.features.push(twice.groups[0]!.features[0]!);
    const duplicate = await t.post("/v1/admin/registry/plan", { declaration: twice });
    expect(detailPaths(duplicate)).toEqual(["declaration.groups.0.features.2.name"]);
    expectError(await t.post("/v1/admin/registry/plan", {}), 400, "VALIDATION_FAILED");
    expectError(
      await t.post("/v1/admin/registry/apply", { declaration: small(), allowBreaking: "yes" }),
      400,
      "VALIDATION_FAILED",
    );

    await t.post("/v1/admin/registry/apply", { declaration: small() });
    const rekeyed = await t.post("/v1/admin/registry/plan", {
      declaration: small({ group: { entityType: "message" } }),
    });
    expectError(rekeyed, 422, "UNPROCESSABLE");
    expect(detailPaths(rekeyed)).toEqual(["declaration.groups.0.entityType"]);
  });

  it("needs a token, registry:read to plan and registry:write to apply; a tenant plans against its own registry only", async () => {
    const owner = api.as(crypto.randomUUID());
    await owner.post("/v1/admin/registry/apply", { declaration: small() });
    expectError(
      await api.call("/v1/admin/registry/plan", { method: "POST", body: { declaration: small() } }),
      401,
      "UNAUTHORIZED",
    );
    const reader = api.as(owner.tenantId, ["registry:read"]);
    expect((await reader.post("/v1/admin/registry/plan", { declaration: small() })).body.changes).toEqual([]);
    expectError(await reader.post("/v1/admin/registry/apply", { declaration: small() }), 403, "FORBIDDEN");

    // Another tenant sees an empty registry, and its apply archives nothing of the owner's.
    const other = api.as(crypto.randomUUID());
    const plan = await other.post("/v1/admin/registry/plan", { declaration: { groups: [] } });
    expect(plan.body).toMatchObject({ changes: [], unchanged: 0 });
    expect((await other.post("/v1/admin/registry/apply", { declaration: small({ count: null }) })).body.applied).toBe(
      true,
    );
    expect((await registryRows(owner.tenantId)).features.map((f) => f.status)).toEqual(["active", "active"]);
  });
});
