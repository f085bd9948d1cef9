// Nearest entities by cosine distance, this tenant's rows only. A tenant with few vectors of
// the feature version is searched exactly; one with many walks the version's own HNSW index
// (built by the cron worker, migration 0016), or until it exists the shared index of the
// dimension, which RLS filters and pgvector's iterative scan walks until k rows pass.
import { type StatementParam, type TenantContext, tenantStatement, withTenantSql } from "#shared/db/tenant.ts";
import { AppError } from "#shared/http/errors.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { isoFromMs } from "./iso-time.ts";
import { EMBEDDING_ITEMS, FLOAT4_MAX } from "./values.ts";

interface SqlStatement {
  text: string;
  values: unknown[];
}

export interface EmbeddingSearch {
  feature: ServedFeature;
  /** The query vector, or null to search by `entityId`'s own embedding. */
  vector: number[] | null;
  entityId: string | null;
  k: number;
  /** Up to this many vectors of the feature, every distance is computed (exact search). */
  exactMaxRows: number;
}

export interface EmbeddingNeighbour {
  entityId: string;
  distance: number;
  eventTimestamp: string;
}

export interface EmbeddingSearchResult {
  results: EmbeddingNeighbour[];
  strategy: "hnsw" | "exact";
  efSearch: number;
}

/** The query's own problems (not an embedding, wrong dimension, zero vector) as a 400. */
function checkEmbeddingQuery(feature: ServedFeature, vector: number[] | undefined): number {
  if (feature.dataType !== "embedding" || !feature.embeddingDimension) {
    throw new AppError("VALIDATION_FAILED", `${feature.qualifiedName} is not an embedding feature`, [
      { path: "feature", message: `is ${feature.dataType}` },
    ]);
  }
  const dim = feature.embeddingDimension;
  if (vector) {
    if (vector.length !== dim) {
      throw new AppError("VALIDATION_FAILED", `The vector must have ${dim} dimensions`, [
        { path: "vector", message: `expected ${dim} dimensions, got ${vector.length}` },
      ]);
    }
    const outOfRange = vector.findIndex((x) => !(Math.abs(x) <= FLOAT4_MAX));
    if (outOfRange >= 0) {
      throw new AppError("VALIDATION_FAILED", "The vector does not fit pgvector's float4", [
        { path: `vector.${outOfRange}`, message: EMBEDDING_ITEMS },
      ]);
    }
    // Compared as float4, what pgvector computes with: 1e-46 is 0 there.
    if (vector.every((x) => Math.fround(x) === 0)) {
      throw new AppError("VALIDATION_FAILED", "Cosine distance is undefined for a zero vector", [
        { path: "vector", message: "all zeros (as float4)" },
      ]);
    }
  }
  return dim;
}

/**
 * The search's two statements, run in one tenant transaction: the settings (the first
 * chooses the beam by whether the feature version has its own index) and the query.
 * Exported so a test can EXPLAIN exactly what runs.
 */
export function searchStatements(search: EmbeddingSearch): {
  settings: SqlStatement;
  query: SqlStatement;
  ownIndex: { settings: Record<string, string>; query: { text: string; values: StatementParam[] } };
} {
  const { feature, k, exactMaxRows } = search;
  const dim = checkEmbeddingQuery(feature, search.vector ?? undefined);
  // Candidates examined per query. A feature version with many vectors has its own HNSW
  // index (migration 0016, built by the cron worker): nothing in it is filtered out, so a
  // narrow beam finds the k nearest. Until it is built, the shared index of the dimension
  // is walked through every tenant's vectors and needs a wide beam. Measured on
  // 100,000 x 1,536 (bench/embedding-search.bench.ts): shared index, 11% tenants, ef 100 →
  // recall@10 0.78, ef 300 → 0.963; own index, ef 40 → see BENCHMARKS.md.
  const ownIndexEf = Math.max(40, k * 4);
  const sharedIndexEf = Math.max(300, k * 4);
  // The expression and predicate repeat the partial indexes': (embedding::vector(dim))
  // WHERE dimension = dim (the shared one), and feature_id = $2 AND feature_version = $5
  // (the feature's own, proved from the bound values).
  const vectorType = `vector(${dim})`;
  const query = search.vector ? JSON.stringify(search.vector) : null;
  // Two plans, one chosen at run time by how many vectors this tenant has for the feature
  // (counted up to the threshold): few → every distance computed (exact, and cheaper than
  // walking a graph); many → the HNSW index.
  // The planner cannot choose itself: RLS hides the tenant from its estimates, and it sorts
  // the tenant's rows (120 ms for 11,000) rather than walk the index (1–2 ms). Sorting is
  // discouraged so the index branch walks the index; "+ 0" keeps the exact branch off it.
  return {
    // One statement for the five settings (each statement is a round trip to Postgres).
    settings: {
      text: `SELECT set_config('hnsw.ef_search',
                 CASE WHEN to_regclass(feature_search_index_name($1, $2)) IS NULL
                      THEN '${sharedIndexEf}' ELSE '${ownIndexEf}' END, true) AS ef_search,
               to_regclass(feature_search_index_name($1, $2)) IS NOT NULL AS own_index,
               set_config('hnsw.iterative_scan', 'relaxed_order', true),
               set_config('hnsw.max_scan_tuples', '200000', true),
               set_config('enable_sort', 'off', true),
               set_config('jit', 'off', true)`,
      values: [feature.id, feature.version],
    },
    query: {
      text: `WITH target AS MATERIALIZED (
         SELECT COALESCE($1::text, (SELECT embedding::text FROM ai_feature_embeddings_online
                                     WHERE feature_id = $2 AND feature_version = $5 AND entity_id = $3
                                     LIMIT 1))::${vectorType} AS q
       ), population AS MATERIALIZED (
         -- A version with its own index is searched through it whatever its size, without
         -- counting (CASE evaluates the count only when there is none). Every vector of a
         -- feature has its dimension (push checks it): counting on the primary key alone
         -- stays an index-only scan.
         SELECT CASE WHEN to_regclass(feature_search_index_name($2, $5)) IS NOT NULL THEN ${exactMaxRows + 1}
                     ELSE (SELECT count(*) FROM (
                             SELECT 1 FROM ai_feature_embeddings_online WHERE feature_id = $2 AND feature_version = $5
                             LIMIT ${exactMaxRows + 1}) AS capped) END AS n
       ), exact AS (
         SELECT e.entity_id, e.event_timestamp, (e.embedding::${vectorType}) <=> (SELECT q FROM target) AS distance
         FROM ai_feature_embeddings_online e
         WHERE (SELECT n FROM population) <= ${exactMaxRows} AND (SELECT q FROM target) IS NOT NULL
           AND e.feature_id = $2 AND e.feature_version = $5 AND e.dimension = ${dim}
           AND ($3::text IS NULL OR e.entity_id <> $3)
         ORDER BY ((e.embedding::${vectorType}) <=> (SELECT q FROM target)) + 0
         LIMIT $4
       ), approximate AS (
         SELECT e.entity_id, e.event_timestamp, (e.embedding::${vectorType}) <=> (SELECT q FROM target) AS distance
         FROM ai_feature_embeddings_online e
         WHERE (SELECT n FROM population) > ${exactMaxRows} AND (SELECT q FROM target) IS NOT NULL
           AND e.dimension = ${dim} AND e.feature_id = $2 AND e.feature_version = $5
           AND ($3::text IS NULL OR e.entity_id <> $3)
         ORDER BY (e.embedding::${vectorType}) <=> (SELECT q FROM target)
         LIMIT $4
       )
       -- relaxed_order may return neighbours slightly out of order: sort the k found.
       SELECT entity_id, distance, (extract(epoch FROM event_timestamp) * 1000)::float8 AS event_ms, (SELECT n FROM population) > ${exactMaxRows} AS approximate
       FROM (SELECT * FROM exact UNION ALL SELECT * FROM approximate) AS found
       ORDER BY distance, entity_id`,
      values: [query, feature.id, search.entityId, k, feature.version],
    },
    ownIndex: {
      // Set by fs_tenant_rows (migration 0019) before the query, in the same statement.
      settings: {
        "hnsw.ef_search": String(ownIndexEf),
        "hnsw.iterative_scan": "relaxed_order",
        enable_sort: "off",
        jit: "off",
      },
      // Only the index walk: half the planning of the general query (measured ~0.6 vs ~1.2 ms).
      // One statement through tenantStatement: its parameters arrive as text, hence the casts.
      query: {
        text: `WITH target AS MATERIALIZED (
           SELECT COALESCE($1::text, (SELECT embedding::text FROM ai_feature_embeddings_online
                                       WHERE feature_id = $2::uuid AND feature_version = $5::int AND entity_id = $3::text
                                       LIMIT 1))::${vectorType} AS q
         )
         SELECT entity_id, distance, (extract(epoch FROM event_timestamp) * 1000)::float8 AS event_ms, true AS approximate,
                to_regclass(feature_search_index_name($2::uuid, $5::int)) IS NOT NULL AS own_index
         FROM (
           SELECT e.entity_id, e.event_timestamp, (e.embedding::${vectorType}) <=> (SELECT q FROM target) AS distance
           FROM ai_feature_embeddings_online e
           WHERE (SELECT q FROM target) IS NOT NULL
             AND e.dimension = ${dim} AND e.feature_id = $2::uuid AND e.feature_version = $5::int
             AND ($3::text IS NULL OR e.entity_id <> $3::text)
           ORDER BY (e.embedding::${vectorType}) <=> (SELECT q FROM target)
           LIMIT $4::int) AS found
         ORDER BY distance, entity_id`,
        values: [query, feature.id, search.entityId, k, feature.version],
      },
    },
  };
}

/**
 * Feature versions this isolate has seen with their own index (`<id>@<version>`): their
 * searches are one statement without a transaction block (tenantStatement: one Postgres round
 * trip instead of four) and skip the settings statement and the exact branch. Learned from
 * each search's answer, so an index built or dropped is noticed on the next search.
 */
const ownIndexes = new Set<string>();
const maxKnownIndexes = 10_000;

export async function searchEmbeddings(ctx: TenantContext, search: EmbeddingSearch): Promise<EmbeddingSearchResult> {
  const { feature } = search;
  const statements = searchStatements(search);
  const key = feature.field;
  let rows: Record<string, unknown>[];
  let efSearch: number;
  let ownIndex: boolean | undefined;
  if (ownIndexes.has(key)) {
    const { settings, query } = statements.ownIndex;
    rows = await tenantStatement(ctx.db, ctx.tenantId, query.text, query.values, { settings });
    efSearch = Number(settings["hnsw.ef_search"]);
    ownIndex = rows[0] ? Boolean(rows[0].own_index) : undefined;
  } else {
    const { settings: setup, query } = statements;
    const [settings, found] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql.query(setup.text, setup.values),
      sql.query(query.text, query.values),
    ]);
    rows = found!;
    efSearch = Number(settings![0]!.ef_search);
    ownIndex = Boolean(settings![0]!.own_index);
  }
  if (ownIndex === true && ownIndexes.size < maxKnownIndexes) ownIndexes.add(key);
  if (ownIndex === false) ownIndexes.delete(key);
  if (search.entityId && rows.length === 0) {
    // Either the entity has no embedding, or no other entity does: tell them apart.
    const [found] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
      sql`SELECT 1 FROM ai_feature_embeddings_online
          WHERE feature_id = ${feature.id} AND feature_version = ${feature.version} AND entity_id = ${search.entityId!}`,
    ]);
    if (!found!.length)
      throw new AppError("NOT_FOUND", `Entity ${search.entityId} has no ${feature.qualifiedName} embedding`);
  }
  return {
    results: rows.map((r) => ({
      entityId: r.entity_id as string,
      distance: Number(r.distance),
      eventTimestamp: isoFromMs(Number(r.event_ms)),
    })),
    strategy: rows[0]?.approximate ? "hnsw" : "exact",
    efSearch,
  };
}
