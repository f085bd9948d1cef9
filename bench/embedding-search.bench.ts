// Embedding search (the search route) on 100,000 vectors of 1,536 dimensions shared by 11
// tenants holding 1%, 2%, 5% and 11.5% (eight of them) of the rows: recall@10 against exact
// search and latency against exact search (the same query without the index, under the same
// RLS), per tenant, in the same run. The 1% tenant is searched exactly; the others walk their
// feature's own HNSW index, built by the cron worker's upkeep (runSearchIndexUpkeep) as in
// production. The route's own overhead is the route against the same search called directly.
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { ownerSql } from "#harness/stack.ts";
import { signToken } from "#harness/tokens.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { cronEnv, parseEnv } from "#shared/env.ts";
import { searchEmbeddings } from "#shared/features/embedding-search.ts";
import { findGroup } from "#shared/registry/groups.ts";
import { loadRegistryFeatures } from "#shared/registry/snapshot.ts";
import { runSearchIndexUpkeep } from "../workers/cron/src/upkeep.ts";
import worker from "../workers/serving/src/index.ts";
import { percentile, report } from "./stats.ts";

const quick = Boolean(env.BENCH_QUICK);
const total = quick ? 10_000 : 100_000;
const dim = 1536;
const tenantCount = 11;
const queriesPerTenant = quick ? 10 : 40;
const k = 10;
// Fixed tenants: the vectors and their index are kept between runs and reused.
const tenants = Array.from(
  { length: tenantCount },
  (_, t) => `00000000-0000-4000-8000-0000e${quick ? 5 : 6}${String(t).padStart(6, "0")}`,
);
// Tenant 0 holds 1% of the rows, tenant 1 2%, tenant 2 5%, the other eight 11.5% each.
const shareLabels = ["1%", "2%", "5%", ...Array(8).fill("11.5%")] as string[];
const tenantOf = (n: number) => {
  const h = (n * 7919) % 100;
  return h === 0 ? 0 : h <= 2 ? 1 : h <= 7 ? 2 : 3 + (n % 8);
};
/** tenantOf in SQL, 1-based (an index into the tenants array). */
const tenantCase =
  "CASE WHEN (n * 7919) % 100 = 0 THEN 1 WHEN (n * 7919) % 100 <= 2 THEN 2 WHEN (n * 7919) % 100 <= 7 THEN 3 ELSE 4 + (n % 8) END";

async function ensureFeature(tenantId: string): Promise<string> {
  const ctx = testTenantContext(tenantId);
  await ownerSql()`INSERT INTO tenants (id, name) VALUES (${tenantId}, 'bench search') ON CONFLICT DO NOTHING`;
  if (!(await findGroup(ctx, "bench_emb"))) {
    await defineFeatures(ctx, [
      {
        name: "bench_emb",
        entityType: "message",
        features: [{ name: "embedding", dataType: "embedding", embeddingDimension: dim }],
      },
    ]);
  }
  const [rows] = await withTenantSql(ctx.db, tenantId, (sql) => [
    sql`SELECT d.id FROM ai_feature_definitions d JOIN ai_feature_groups g ON g.id = d.group_id
        WHERE g.name = 'bench_emb' AND d.name = 'embedding'`,
  ]);
  return rows![0]!.id as string;
}

/**
 * Vectors shaped like real embeddings: a point of a low-dimensional space (8 latent
 * coordinates, each weighting one of 8 random directions of the 1,536) plus two noise
 * vectors shared with other rows. Nearest neighbours are then well defined, as they are for
 * text embeddings. (The generator used before, 1,000 mutually orthogonal cluster centres,
 * left a tenant holding a fraction of each cluster with top-10s of near-ties at distance
 * ~0.85: no index can rank noise.) Generated in SQL (vector arithmetic), then the shared
 * HNSW index is built over them in one pass (building beats inserting row by row).
 */
async function ensureVectors(featureIds: string[]) {
  const owner = ownerSql();
  const [have] = await owner`SELECT count(*)::int AS n FROM ai_feature_embeddings_online
                             WHERE tenant_id = ANY (${`{${tenants.join(",")}}`}::uuid[]) AND dimension = ${dim}`;
  if (have!.n === total) return { generated: false, buildSeconds: null };
  const started = Date.now();
  const ids = `{${featureIds.join(",")}}`;
  const tenantList = `{${tenants.join(",")}}`;
  await owner.transaction([
    owner`DELETE FROM ai_feature_embeddings_online WHERE tenant_id = ANY (${tenantList}::uuid[])`,
    owner`DROP INDEX IF EXISTS idx_ai_feature_embeddings_online_hnsw_1536`,
    // "+ 0 * d" keeps each aggregate in its subquery (arguments naming only outer columns
    // would make it an aggregate of the outer query) and evaluated once per (kind, i).
    owner.query(`CREATE TEMP TABLE pool ON COMMIT DROP AS
      SELECT kind, i, (SELECT array_agg((random() - 0.5) * CASE kind WHEN 0 THEN 1 WHEN 1 THEN 0.35 ELSE 0.15 END + 0 * d)
                       FROM generate_series(1, ${dim}) AS d WHERE i >= 0)::vector(${dim}) AS v
      FROM generate_series(0, 2) AS kind, generate_series(0, 999) AS i`),
    owner.query(
      `INSERT INTO ai_feature_embeddings_online (tenant_id, feature_id, entity_type, entity_id, embedding, event_timestamp)
       SELECT ($1::uuid[])[${tenantCase}], ($2::uuid[])[${tenantCase}], 'message', 'm' || n,
              c.v + a.v + b.v, now()
       FROM generate_series(0, ${total - 1}) AS n
       -- Naming n makes the sum a subquery evaluated per row, with its own random weights.
       CROSS JOIN LATERAL (
         SELECT sum(p.v * array_fill((random() * 2 - 1 + 0 * n)::real, ARRAY[${dim}])::vector) AS v
         FROM pool p WHERE p.kind = 0 AND p.i < 8) AS c
       JOIN pool a ON a.kind = 1 AND a.i = (n * 7 + n / 1000) % 1000
       JOIN pool b ON b.kind = 2 AND b.i = (n * 13) % 997`,
      [tenantList, ids],
    ),
  ]);
  console.log(`vectors: ${total} generated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const building = Date.now();
  await owner.transaction([
    owner`SET LOCAL maintenance_work_mem = '2GB'`,
    owner`SET LOCAL max_parallel_maintenance_workers = 2`,
    owner`SELECT ensure_embedding_index(${dim})`,
    owner`ANALYZE ai_feature_embeddings_online`,
  ]);
  // What autovacuum does after a bulk load: the visibility map lets counts be index-only.
  await owner`VACUUM ai_feature_embeddings_online`;
  const buildSeconds = (Date.now() - building) / 1000;
  console.log(`shared HNSW index (m = 16, ef_construction = 64) built in ${buildSeconds.toFixed(1)} s`);
  return { generated: true, buildSeconds };
}

/** Query vectors near the tenant's data: one of its vectors plus a fifth of another of its own. */
async function queryVectors(count: number, t: number): Promise<number[][]> {
  const own = Array.from({ length: total }, (_, n) => n).filter((n) => tenantOf(n) === t);
  const pick = (s: number, step: number) => `m${own[(s * step + t) % own.length]}`;
  const firsts = Array.from({ length: count }, (_, s) => pick(s + 1, 104_729));
  const seconds = Array.from({ length: count }, (_, s) => pick(s + 1, 15_485_863));
  const rows = await ownerSql().query(
    `SELECT (a.embedding + b.embedding * array_fill(0.2::real, ARRAY[${dim}])::vector)::text AS q
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS p(first, second, s)
     JOIN ai_feature_embeddings_online a ON a.tenant_id = $3 AND a.entity_id = p.first
     JOIN ai_feature_embeddings_online b ON b.tenant_id = $3 AND b.entity_id = p.second
     ORDER BY p.s`,
    [`{${firsts.join(",")}}`, `{${seconds.join(",")}}`, tenants[t]],
  );
  expect(rows).toHaveLength(count);
  return rows.map((r) => JSON.parse(r.q as string) as number[]);
}

async function exactSearch(tenantId: string, featureId: string, vector: number[]): Promise<string[]> {
  const ctx = testTenantContext(tenantId);
  const [, rows] = await withTenantSql(ctx.db, tenantId, (sql) => [
    // No HNSW: the tenant's rows through the primary key, every distance computed, sorted.
    sql`SET LOCAL enable_indexscan = off`,
    sql.query(
      `SELECT entity_id FROM ai_feature_embeddings_online
       WHERE feature_id = $1 AND dimension = ${dim}
       ORDER BY (embedding::vector(${dim})) <=> $2::vector(${dim}), entity_id LIMIT ${k}`,
      [featureId, JSON.stringify(vector)],
    ),
  ]);
  return rows!.map((r) => r.entity_id as string);
}

it("embedding search: route vs exact search, recall@10 and latency per tenant share", async () => {
  const featureIds: string[] = [];
  for (const t of tenants) featureIds.push(await ensureFeature(t));
  const { buildSeconds } = await ensureVectors(featureIds);
  // The cron worker's upkeep, as in production: each feature version over the exact-search
  // threshold gets its own index (already there when the vectors were kept from a last run).
  const cron = parseEnv(env, cronEnv);
  const upkeepStarted = Date.now();
  const upkeep = await runSearchIndexUpkeep(cron, { minRows: cron.EXACT_SEARCH_MAX_ROWS, budgetMs: 900_000 });
  for (const b of upkeep.built) console.log(`own index: ${b.vectors} vectors in ${(b.ms / 1000).toFixed(1)} s`);
  const ownIndexSeconds = upkeep.built.length ? (Date.now() - upkeepStarted) / 1000 : null;
  for (let t = 0; t < tenantCount; t++) {
    const [rows] = await withTenantSql(testTenantContext(tenants[t]!).db, tenants[t]!, (sql) => [
      sql`SELECT count(*)::int AS n FROM ai_feature_embeddings_online WHERE dimension = ${dim}`,
    ]);
    const expected = Array.from({ length: total }, (_, n) => n).filter((n) => tenantOf(n) === t).length;
    expect(rows![0]!.n).toBe(expected);
  }

  const noop = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
  interface TenantRun {
    tenant: number;
    recall: number;
    route: number[];
    direct: number[];
    exact: number[];
    strategies: Set<string>;
    efSearch: Set<number>;
  }
  const perTenant: TenantRun[] = [];
  // Every tenant with the product's settings, then the 1% tenant again forced through the
  // shared index (threshold 0), to show what exact search buys it.
  const runs = [
    ...tenants.map((_, t) => ({ t, bindings: env, exactMaxRows: cron.EXACT_SEARCH_MAX_ROWS })),
    { t: 0, bindings: { ...env, EXACT_SEARCH_MAX_ROWS: "0" }, exactMaxRows: 0 },
  ];
  for (const { t, bindings, exactMaxRows } of runs) {
    const tenantId = tenants[t]!;
    const ctx = testTenantContext(tenantId);
    const feature = (await loadRegistryFeatures(ctx.db, tenantId)).find(
      (f) => f.qualifiedName === "bench_emb.embedding",
    )!;
    const strategies = new Set<string>();
    const efSearch = new Set<number>();
    const token = await signToken({ tenantId, scopes: ["features:read"], expiresIn: 3600 });
    const vectors = await queryVectors(queriesPerTenant, t);
    // The same queries three ways, each timed in a pass of its own after an untimed one of
    // the same kind: the route, the same search called directly, then exact search.
    // Interleaved, every exact search read thousands of vectors through shared_buffers and
    // pushed the index's pages out before the next route call, which showed as "route
    // overhead" (7-12 ms against 3-5 ms direct). A tenant that searches keeps its index warm.
    const route: number[] = [];
    const direct: number[] = [];
    const exact: number[] = [];
    const answers: string[][] = [];
    const timed = (pass: number) => pass === 1;
    for (let pass = 0; pass < 2; pass++)
      for (const vector of vectors) {
        const body = JSON.stringify({ feature: "bench_emb.embedding", vector, k });
        const started = performance.now();
        const response = await worker.fetch(
          new Request("http://serving/v1/embeddings/search", {
            method: "POST",
            // The Content-Length an HTTP client sends: without it the body-size limit has to
            // count the body as it streams through.
            headers: {
              authorization: `Bearer ${token}`,
              "content-type": "application/json",
              "content-length": String(new TextEncoder().encode(body).byteLength),
            },
            body,
          }),
          bindings,
          noop,
        );
        const answer = (await response.json()) as {
          results: { entityId: string }[];
          metadata: { strategy: string; efSearch: number };
        };
        expect(response.status).toBe(200);
        if (!timed(pass)) continue;
        route.push(performance.now() - started);
        strategies.add(answer.metadata.strategy);
        efSearch.add(answer.metadata.efSearch);
        answers.push(answer.results.map((r) => r.entityId));
      }
    for (let pass = 0; pass < 2; pass++)
      for (const [i, vector] of vectors.entries()) {
        // The same search without the route (no HTTP, JSON, token or registry): its SQL alone.
        const started = performance.now();
        const same = await searchEmbeddings(ctx, { feature, vector, entityId: null, k, exactMaxRows });
        if (!timed(pass)) continue;
        direct.push(performance.now() - started);
        expect(same.results.map((r) => r.entityId)).toEqual(answers[i]);
      }
    let found = 0;
    for (let pass = 0; pass < 2; pass++)
      for (const [i, vector] of vectors.entries()) {
        const started = performance.now();
        const truth = await exactSearch(tenantId, featureIds[t]!, vector);
        if (!timed(pass)) continue;
        exact.push(performance.now() - started);
        expect(truth).toHaveLength(k);
        const got = new Set(answers[i]);
        found += truth.filter((id) => got.has(id)).length;
      }
    const recall = found / (vectors.length * k);
    perTenant.push({ tenant: t, recall, route, direct, exact, strategies, efSearch });
    console.log(
      `tenant ${t} (${shareLabels[t]}, ${[...strategies]}, ef ${[...efSearch]}): recall@${k} ${recall.toFixed(3)}`,
    );
  }

  const index = { m: 16, efConstruction: 64, iterativeScan: "relaxed_order", maxScanTuples: 200_000 };
  const byShare = (share: string) => perTenant.slice(0, tenantCount).filter((r) => shareLabels[r.tenant] === share);
  const groups = [
    { share: "1%", rows: byShare("1%") },
    { share: "1%, forced through the shared HNSW index", rows: [perTenant[tenantCount]!] },
    { share: "2%", rows: byShare("2%") },
    { share: "5%", rows: byShare("5%") },
    { share: "11.5% each (8 tenants)", rows: byShare("11.5%") },
  ];
  for (const g of groups) {
    const recall = Math.min(...g.rows.map((r) => r.recall));
    const strategy = [...new Set(g.rows.flatMap((r) => [...r.strategies]))].join("+");
    const ef = [...new Set(g.rows.flatMap((r) => [...r.efSearch]))].join("+");
    report({
      name: "embedding_search_recall_at_10",
      params: { vectors: total, dim, tenantShare: g.share, strategy, queries: g.rows.length * queriesPerTenant },
      value: Math.round(recall * 1000) / 1000,
      unit: "recall",
      floor: 1,
      floorName: "exact search (recall 1 by definition); the value is the lowest tenant's recall@10",
      extra: { index: { ...index, efSearch: ef }, sharedIndexBuildSeconds: buildSeconds, ownIndexSeconds },
    });
    const route = g.rows.flatMap((r) => r.route);
    const exact = g.rows.flatMap((r) => r.exact);
    const direct = g.rows.flatMap((r) => r.direct);
    for (const p of [50, 99]) {
      report({
        name: `embedding_search_p${p}`,
        params: { vectors: total, dim, k, tenantShare: g.share, strategy },
        value: Math.round(percentile(route, p) * 100) / 100,
        unit: "ms",
        floor: Math.round(percentile(exact, p) * 100) / 100,
        floorName:
          "exact search of the same query in the same run: the tenant's rows by primary key, every cosine distance, sorted (target: ratio ≤ 0.1)",
      });
    }
    report({
      name: "embedding_search_route_overhead_p50",
      params: { vectors: total, dim, k, tenantShare: g.share, strategy },
      value: Math.round(percentile(route, 50) * 100) / 100,
      unit: "ms",
      floor: Math.round(percentile(direct, 50) * 100) / 100,
      floorName:
        "the same search called directly in the same run (the same SQL, one HTTP round trip; no HTTP request, JSON, token or registry lookup)",
      extra: { overheadMs: Math.round((percentile(route, 50) - percentile(direct, 50)) * 100) / 100 },
    });
  }
  for (const r of perTenant) expect(r.recall).toBeGreaterThan(0.5);
});
