// How a streamed training set is read: merged when the requested features' history is small
// next to the probes the request would make, probed when it is large, forced by
// PIT_STRATEGY / PIT_MERGE_THRESHOLD; the same rows whichever way (chooseStrategy).
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { createTenant, ownerSql } from "#harness/stack.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { mergeQuery, mergeSettings } from "#shared/offline-store/merge.ts";
import { featureArrays } from "#shared/offline-store/point-in-time.ts";
import { loadRegistryFeatures } from "#shared/registry/snapshot.ts";
import worker from "../index.ts";

const HOUR = 3_600_000;
const T0 = Date.UTC(2031, 0, 1);
const entities = 20;
const pairs = Array.from({ length: 600 }, (_, i) => ({
  entityId: `u${i % entities}`,
  timestamp: new Date(T0 + ((i * 13) % 500) * HOUR).toISOString(),
}));

async function addHistory(tenantId: string, featureId: string, from: number, count: number) {
  await ownerSql().query(
    `INSERT INTO ai_feature_values (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp, created_at)
     SELECT $1, $2, 'user', 'u' || (i % ${entities}), to_jsonb(i), 'scalar',
            to_timestamp(${T0 / 1000} + i * 1800), to_timestamp(${T0 / 1000} + i * 1800)
     FROM generate_series($3::int, $4::int) AS i`,
    [tenantId, featureId, from, from + count - 1],
  );
  // The choice reads the planner's estimate of the history: statistics autovacuum keeps.
  await ownerSql().query("ANALYZE ai_feature_values");
}

async function read(tenantId: string, bindings: Record<string, string> = {}, requested = pairs) {
  const response = await apiClient(worker, bindings)
    .as(tenantId, ["features:read"])
    .call("/v1/features/historical", {
      method: "POST",
      body: { entityType: "user", entityTimestampPairs: requested, features: ["g.n"] },
      headers: { accept: "application/x-ndjson" },
    });
  expect(response.status).toBe(200);
  return { strategy: response.headers.get("x-point-in-time-strategy"), rows: response.text };
}

describe("point-in-time strategy", () => {
  it("merges a small history, probes a large one, obeys PIT_STRATEGY and PIT_MERGE_THRESHOLD, same rows every way", async () => {
    const tenantId = await createTenant("strategy");
    const { features } = await defineFeatures(testTenantContext(tenantId), [
      { name: "g", entityType: "user", features: [{ name: "n", dataType: "int64" }] },
    ]);
    const featureId = features.get("g.n")!.id;
    // 600 probes; a history of 400 rows is under fifteen rows per probe: one pass over it.
    await addHistory(tenantId, featureId, 0, 400);
    const small = await read(tenantId);
    expect(small.strategy).toBe("merge");
    expect(small.rows.split("\n").filter(Boolean)).toHaveLength(pairs.length);
    const forcedProbe = await read(tenantId, { PIT_STRATEGY: "probe" });
    expect(forcedProbe).toEqual({ strategy: "probe", rows: small.rows });

    // 12,400 rows: over fifteen per probe, so each pair is probed.
    await addHistory(tenantId, featureId, 400, 12_000);
    const large = await read(tenantId);
    expect(large.strategy).toBe("probe");
    expect(await read(tenantId, { PIT_STRATEGY: "merge" })).toEqual({ strategy: "merge", rows: large.rows });
    expect((await read(tenantId, { PIT_MERGE_THRESHOLD: "600" })).strategy).toBe("merge");
    expect(large.rows).not.toEqual(small.rows);

    // The estimate behind the choice is of the caller's own features only.
    const estimate = async (asTenant: string) =>
      (
        await withTenantSql(testTenantContext(asTenant).db, asTenant, (sql) => [
          sql`SELECT feature_history_estimate(${`{${featureId}}`}::uuid[])::int AS n`,
        ])
      )[0]![0]!.n;
    expect(await estimate(tenantId)).toBeGreaterThan(6_000);
    expect(await estimate(await createTenant("strategy neighbour"))).toBe(0);
  });

  it("merges through the tenant's own index rows, never a sequential scan of the shared partitions", async () => {
    const tenantId = await createTenant("strategy scan");
    const ctx = testTenantContext(tenantId);
    const { features } = await defineFeatures(ctx, [
      { name: "g", entityType: "user", features: [{ name: "n", dataType: "int64" }] },
    ]);
    await addHistory(tenantId, features.get("g.n")!.id, 0, 2_000);
    const served = (await loadRegistryFeatures(ctx.db, tenantId)).filter((f) => f.qualifiedName === "g.n");
    const [plan] = await withTenantSql(
      ctx.db,
      tenantId,
      (sql) => [
        sql.query(
          `EXPLAIN (FORMAT JSON) ${mergeQuery(served, "SELECT * FROM unnest($4::int[], $5::text[], $6::timestamptz[]) AS p(ord, entity_id, ts)")}`,
          [
            "user",
            ...featureArrays(served),
            pairs.map((_, i) => i),
            pairs.map((p) => p.entityId),
            pairs.map((p) => p.timestamp),
          ],
        ),
      ],
      { readOnly: true, settings: mergeSettings },
    );
    const scans: { type: string; relation: string }[] = [];
    const walk = (node: Record<string, unknown>) => {
      if (typeof node["Relation Name"] === "string")
        scans.push({ type: node["Node Type"] as string, relation: node["Relation Name"] as string });
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk((plan![0]!["QUERY PLAN"] as { Plan: Record<string, unknown> }[])[0]!.Plan);
    const history = scans.filter((s) => s.relation.startsWith("ai_feature_values"));
    expect(history.length).toBeGreaterThan(0);
    expect(history.filter((s) => s.type === "Seq Scan")).toEqual([]);
  });

  it("spreads a large streamed training set over PIT_SESSIONS sessions by entity: the same rows, in request order", async () => {
    const tenantId = await createTenant("strategy sessions");
    const { features } = await defineFeatures(testTenantContext(tenantId), [
      { name: "g", entityType: "user", features: [{ name: "n", dataType: "int64" }] },
    ]);
    await addHistory(tenantId, features.get("g.n")!.id, 0, 400);
    // Over 10,000 pairs (what JSON holds): staged in sessions, not read over HTTP.
    const many = Array.from({ length: 10_001 }, (_, i) => ({
      entityId: `u${(i * 7) % (entities + 3)}`,
      timestamp: new Date(T0 + ((i * 37) % 500) * HOUR).toISOString(),
    }));
    const lines = async (bindings: Record<string, string>) =>
      (await read(tenantId, bindings, many)).rows.split("\n").filter(Boolean);
    const one = await lines({ PIT_SESSIONS: "1", PIT_STRATEGY: "merge" });
    expect(one.map((l) => JSON.parse(l)).map((r) => [r.entityId, r.timestamp])).toEqual(
      many.map((p) => [p.entityId, p.timestamp]),
    );
    expect(one.filter((l) => l.includes('"PRESENT"')).length).toBeGreaterThan(1_000);
    for (const sessions of ["2", "3"])
      for (const strategy of ["merge", "probe"])
        expect(await lines({ PIT_SESSIONS: sessions, PIT_STRATEGY: strategy })).toEqual(one);
  });

  it("refuses a PIT_STRATEGY or PIT_SESSIONS it does not know, naming the setting", async () => {
    const tenantId = await createTenant("strategy setting");
    for (const [name, value] of [
      ["PIT_STRATEGY", "fastest"],
      ["PIT_SESSIONS", "0"],
    ]) {
      const response = await apiClient(worker, { [name!]: value! })
        .as(tenantId, ["features:read"])
        .post("/v1/features/historical", {
          entityType: "user",
          entityTimestampPairs: pairs.slice(0, 1),
          features: ["g.n"],
        });
      expect(response.status).toBe(500);
      expect(JSON.stringify(response.body)).toContain(name);
    }
  });
});
