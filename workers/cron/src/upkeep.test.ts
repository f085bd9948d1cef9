import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { ownerSql } from "#harness/stack.ts";
import { cosineDistance } from "#harness/vectors.ts";
import { tenantStatementSql, withTenantSql } from "#shared/db/tenant.ts";
import { searchStatements } from "#shared/features/embedding-search.ts";
import { loadRegistryFeatures } from "#shared/registry/snapshot.ts";
import serving from "../../serving/src/index.ts";
import worker from "./index.ts";
import { cronTriggers } from "./triggers.ts";
import { runSearchIndexUpkeep } from "./upkeep.ts";

async function runScheduled(cron: string) {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron }), env, ctx);
  await waitOnExecutionContext(ctx);
}

async function partitions() {
  const rows = await ownerSql()`
    SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound, c.relrowsecurity, c.relforcerowsecurity
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'ai_feature_values'::regclass ORDER BY 1`;
  return rows;
}

describe("partition upkeep", () => {
  it("keeps the current month and three ahead, with RLS, and running it twice changes nothing", async () => {
    await runScheduled(cronTriggers.partitionUpkeep);
    const once = await partitions();
    await Promise.all([runScheduled(cronTriggers.partitionUpkeep), runScheduled(cronTriggers.partitionUpkeep)]);
    expect(await partitions()).toEqual(once);
    const now = new Date();
    for (let i = 0; i <= 3; i++) {
      const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
      const name = `ai_feature_values_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
      const partition = once.find((p) => p.relname === name);
      expect(partition, name).toBeDefined();
      expect([partition!.relrowsecurity, partition!.relforcerowsecurity]).toEqual([true, true]);
    }
    expect(once.some((p) => p.bound === "DEFAULT")).toBe(true);
  });
});

describe("TTL expiry", () => {
  it("deletes expired online rows in batches, keeps live ones, and a second run changes nothing", async () => {
    const ctx = testTenantContext();
    await defineFeatures(ctx, [
      { name: "message", entityType: "message", ttlSeconds: 60, features: [{ name: "length", dataType: "int64" }] },
    ]);
    const t = apiClient(serving).as(ctx.tenantId);
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    const push = await t.post("/v1/features/push", {
      entityType: "message",
      rows: [
        ...Array.from({ length: 30 }, (_, i) => ({
          entityId: `old-${i}`,
          eventTimestamp: old,
          features: { length: i },
        })),
        { entityId: "live", eventTimestamp: new Date().toISOString(), features: { length: 1 } },
      ],
    });
    expect(push.body.accepted).toBe(31);
    const count = async () => {
      const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
        sql`SELECT entity_id FROM ai_feature_online ORDER BY 1`,
      ]);
      return rows!.map((r) => r.entity_id);
    };
    expect(await count()).toHaveLength(31);
    await runScheduled(cronTriggers.ttlExpiry);
    expect(await count()).toEqual(["live"]);
    await runScheduled(cronTriggers.ttlExpiry);
    expect(await count()).toEqual(["live"]);
    // The offline history keeps every row.
    const [history] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql`SELECT count(*)::int AS n FROM ai_feature_values`,
    ]);
    expect(history![0]!.n).toBe(31);
  });
});

describe("search indexes", () => {
  const dim = 8;
  /** Deterministic vectors (a linear congruential walk): the same data on every run. */
  const vectorsOf = (count: number) => {
    let x = 12_345;
    const next = () => {
      x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
      return x / 2_147_483_648 - 0.5;
    };
    return Array.from({ length: count }, () => Array.from({ length: dim }, next));
  };
  const indexExists = async (name: string) =>
    (await ownerSql()`SELECT 1 FROM pg_class WHERE relname = ${name}`).length > 0;

  it("gives a feature version over the exact-search threshold its own HNSW index, which search walks, and drops it once its vectors are gone", async () => {
    const ctx = testTenantContext();
    await defineFeatures(ctx, [
      {
        name: "message",
        entityType: "message",
        features: [{ name: "embedding", dataType: "embedding", embeddingDimension: dim }],
      },
    ]);
    const vs = vectorsOf(300);
    const t = apiClient(serving, { EXACT_SEARCH_MAX_ROWS: "200" }).as(ctx.tenantId);
    const push = await t.post("/v1/features/push", {
      entityType: "message",
      rows: vs.map((v, i) => ({
        entityId: `m${i}`,
        eventTimestamp: new Date().toISOString(),
        features: { embedding: v },
      })),
    });
    expect(push.body.accepted).toBe(300);
    const [feature] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql`SELECT id, feature_search_index_name(id, 1) AS index FROM ai_feature_definitions WHERE name = 'embedding'`,
    ]);
    const name = feature![0]!.index as string;
    const query = vs[7]!.map((x, i) => x + (i % 2 ? 0.01 : -0.01));
    const before = await t.post("/v1/embeddings/search", { feature: "message.embedding", vector: query, k: 10 });
    expect(before.body.metadata).toMatchObject({ strategy: "hnsw", efSearch: 300 }); // the shared index, a wide beam

    // Other test files' upkeep may hold the lock for a moment: run until this index exists.
    let built: Awaited<ReturnType<typeof runSearchIndexUpkeep>>["built"] = [];
    for (let attempt = 0; attempt < 50 && !built.some((b) => b.index === name); attempt++) {
      // Only this feature: other vectors in the database (other tests', benchmarks') stay as they are.
      const featureId = feature![0]!.id as string;
      built = [
        ...built,
        ...(await runSearchIndexUpkeep(env as never, { minRows: 200, budgetMs: 10_000, featureId })).built,
      ];
      if (!built.some((b) => b.index === name)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(built.find((b) => b.index === name)).toMatchObject({ featureVersion: 1, dimension: dim, vectors: 300 });
    const [definition] = await ownerSql()`SELECT indexdef FROM pg_indexes WHERE indexname = ${name}`;
    expect(definition!.indexdef).toContain(`feature_id = '${feature![0]!.id}'::uuid`);

    const search = { feature: "message.embedding", vector: query, k: 10 };
    const after = await t.post("/v1/embeddings/search", search);
    expect(after.body.metadata).toMatchObject({ strategy: "hnsw", efSearch: 40 }); // its own index, a narrow beam
    // A version with its own index is searched through it whatever the threshold says, and
    // finds the same neighbours as every distance computed.
    const exact = vs
      .map((v, i) => ({ id: `m${i}`, d: cosineDistance(v, query) }))
      .sort((a, b) => a.d - b.d)
      .slice(0, 10)
      .map((r) => r.id);
    expect(after.body.results.map((r: any) => r.entityId)).toEqual(exact);
    const overThreshold = await apiClient(serving, { EXACT_SEARCH_MAX_ROWS: "1000" })
      .as(ctx.tenantId)
      .post("/v1/embeddings/search", search);
    expect(overThreshold.body.metadata).toMatchObject({ strategy: "hnsw", efSearch: 40 });
    // (The isolate now knows the index: this search took the short path, with the same answer.)
    expect(overThreshold.body.results).toEqual(after.body.results);
    // The planner takes the feature's index for exactly what the route runs.
    const features = await loadRegistryFeatures(ctx.db, ctx.tenantId);
    const { settings, query: statement } = searchStatements({
      feature: features.find((f) => f.qualifiedName === "message.embedding")!,
      vector: query,
      entityId: null,
      k: 10,
      exactMaxRows: 200,
    });
    const [, plan] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql.query(settings.text, settings.values),
      sql.query(`EXPLAIN (FORMAT JSON) ${statement.text}`, statement.values),
    ]);
    expect(JSON.stringify(plan)).toContain(`"Index Name":"${name}"`);
    // So does the short path's single statement, whose values reach the planner as text cast
    // in the query (fs_tenant_rows): the index is scanned in that very transaction.
    const { ownIndex } = searchStatements({
      feature: features.find((f) => f.qualifiedName === "message.embedding")!,
      vector: query,
      entityId: null,
      k: 10,
      exactMaxRows: 200,
    });
    // (Postgres 15's "xact" counters also hold earlier transactions' unflushed counts: compare
    // before and after, inside one transaction.)
    const scansOfIndex = "SELECT pg_stat_get_xact_numscans($1::regclass) AS n";
    const shortPath = tenantStatementSql(ctx.tenantId, ownIndex.query.text, ownIndex.query.values, ownIndex.settings);
    const [scansBefore, short, scansAfter] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql.query(scansOfIndex, [name]),
      sql.query(shortPath.text, shortPath.params),
      sql.query(scansOfIndex, [name]),
    ]);
    expect(short!.map((r: any) => r.row.entity_id)).toEqual(exact);
    expect(Number(scansAfter![0]!.n)).toBe(Number(scansBefore![0]!.n) + 1);

    // No vectors left for the version: the next upkeep drops its index.
    await withTenantSql(ctx.db, ctx.tenantId, (sql) => [sql`DELETE FROM ai_feature_embeddings_online`]);
    const dropped: string[] = [];
    for (let attempt = 0; attempt < 50 && !dropped.includes(name); attempt++) {
      dropped.push(
        ...(
          await runSearchIndexUpkeep(env as never, {
            minRows: 200,
            budgetMs: 10_000,
            featureId: feature![0]!.id as string,
          })
        ).dropped,
      );
      if (!dropped.includes(name)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(dropped).toContain(name);
    expect(await indexExists(name)).toBe(false);
  });
});

describe("scheduled()", () => {
  it("refuses a cron it has no task for", async () => {
    const ctx = createExecutionContext();
    await expect(
      worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "0 0 1 1 *" }), env, ctx),
    ).rejects.toThrow(/no task for cron/);
  });
});
