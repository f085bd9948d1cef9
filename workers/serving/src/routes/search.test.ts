import { beforeAll, describe, expect, it } from "vitest";
import { apiClient, detailPaths, expectError } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { cosineDistance } from "#harness/vectors.ts";
import { seededRandom } from "../../../../scripts/lib/random.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const dim = 8;

/** Deterministic pseudo-random vectors (mulberry32), so a failure can be replayed. */
function vectors(count: number, seed: number): number[][] {
  const next = seededRandom(seed);
  return Array.from({ length: count }, () => Array.from({ length: dim }, () => next() - 0.5));
}

async function tenantWithVectors(count: number, seed: number) {
  const ctx = testTenantContext();
  await defineFeatures(ctx, [
    {
      name: "message",
      entityType: "message",
      features: [
        { name: "embedding", dataType: "embedding", embeddingDimension: dim },
        { name: "length", dataType: "int64" },
      ],
    },
  ]);
  const t = api.as(ctx.tenantId);
  const vs = vectors(count, seed);
  for (let start = 0; start < count; start += 1000) {
    const rows = vs.slice(start, start + 1000).map((v, i) => ({
      entityId: `m${start + i}`,
      eventTimestamp: new Date().toISOString(),
      features: { embedding: v },
    }));
    const r = await t.post("/v1/features/push", { entityType: "message", rows });
    expect(r.body.accepted).toBe(rows.length);
  }
  return { t, vs };
}

function bruteForce(vs: number[][], query: number[], k: number, exclude?: string) {
  return vs
    .map((v, i) => ({ entityId: `m${i}`, distance: cosineDistance(v, query) }))
    .filter((r) => r.entityId !== exclude)
    .sort((a, b) => a.distance - b.distance || a.entityId.localeCompare(b.entityId))
    .slice(0, k);
}

describe("embedding search", () => {
  let small: Awaited<ReturnType<typeof tenantWithVectors>>;
  beforeAll(async () => {
    small = await tenantWithVectors(60, 7);
  });

  it("returns the exact top-k by cosine distance on a small set", async () => {
    const query = vectors(1, 99)[0]!;
    const r = await small.t.post("/v1/embeddings/search", { feature: "message.embedding", vector: query, k: 10 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const expected = bruteForce(small.vs, query, 10);
    expect(r.body.results.map((x: any) => x.entityId)).toEqual(expected.map((x) => x.entityId));
    r.body.results.forEach((x: any, i: number) => {
      expect(x.distance).toBeCloseTo(expected[i]!.distance, 5);
    });
  });

  it("searches by an entity's stored embedding, leaving the entity out", async () => {
    const r = await small.t.post("/v1/embeddings/search", { feature: "embedding", entityId: "m3", k: 5 });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: any) => x.entityId)).toEqual(
      bruteForce(small.vs, small.vs[3]!, 5, "m3").map((x) => x.entityId),
    );
  });

  it("gives k results to a tenant holding 1% of the index", async () => {
    const big = await tenantWithVectors(3000, 11);
    const tiny = await tenantWithVectors(30, 12);
    const query = vectors(1, 5)[0]!;
    const r = await tiny.t.post("/v1/embeddings/search", { feature: "message.embedding", vector: query, k: 10 });
    expect(r.body.results).toHaveLength(10);
    expect(r.body.results.map((x: any) => x.entityId)).toEqual(bruteForce(tiny.vs, query, 10).map((x) => x.entityId));
    expect(r.body.metadata.strategy).toBe("exact"); // 30 vectors: every distance is computed
    // The same tenant through the index (threshold 0): the iterative scan still finds all k.
    const viaIndex = apiClient(worker, { EXACT_SEARCH_MAX_ROWS: "0" }).as(tiny.t.tenantId);
    const indexed = await viaIndex.post("/v1/embeddings/search", {
      feature: "message.embedding",
      vector: query,
      k: 10,
    });
    expect(indexed.body.metadata.strategy).toBe("hnsw");
    expect(indexed.body.results).toHaveLength(10);
    const tinyExact = bruteForce(tiny.vs, query, 10).map((x) => x.entityId);
    expect(indexed.body.results.filter((x: any) => tinyExact.includes(x.entityId)).length).toBeGreaterThanOrEqual(9);

    const fromBig = await big.t.post("/v1/embeddings/search", { feature: "message.embedding", vector: query, k: 10 });
    expect(fromBig.body.metadata.strategy).toBe("hnsw"); // 3,000 vectors: over the default threshold of 1,500
    const exact = bruteForce(big.vs, query, 10).map((x) => x.entityId);
    const recall = fromBig.body.results.filter((x: any) => exact.includes(x.entityId)).length / 10;
    expect(recall).toBeGreaterThanOrEqual(0.9);
  });

  it.each([
    ["a vector of the wrong length", { feature: "message.embedding", vector: [1, 2, 3] }, "vector"],
    ["k over 100", { feature: "message.embedding", vector: Array(dim).fill(1), k: 101 }, "k"],
    ["k of zero", { feature: "message.embedding", vector: Array(dim).fill(1), k: 0 }, "k"],
    [
      "both vector and entityId",
      { feature: "message.embedding", vector: Array(dim).fill(1), entityId: "m1" },
      "vector",
    ],
    ["neither vector nor entityId", { feature: "message.embedding" }, "vector"],
    ["a non-embedding feature", { feature: "message.length", vector: Array(dim).fill(1) }, "feature"],
    ["a zero vector", { feature: "message.embedding", vector: Array(dim).fill(0) }, "vector"],
    ["a vector that is zero as float4", { feature: "message.embedding", vector: Array(dim).fill(1e-46) }, "vector"],
    [
      "a value beyond float4",
      { feature: "message.embedding", vector: [3.5e38, ...Array(dim - 1).fill(1)] },
      "vector.0",
    ],
    ["a string in the vector", { feature: "message.embedding", vector: [..."abcdefgh"] }, "vector.0"],
  ])("rejects %s with 400", async (_label, body, path) => {
    const r = await small.t.post("/v1/embeddings/search", body);
    expectError(r, 400, "VALIDATION_FAILED");
    expect(detailPaths(r)).toContain(path);
  });

  it("rejects an unknown feature with UNKNOWN_FEATURE and a missing entity with 404", async () => {
    expectError(
      await small.t.post("/v1/embeddings/search", { feature: "message.nope", vector: Array(dim).fill(1) }),
      400,
      "UNKNOWN_FEATURE",
    );
    expectError(
      await small.t.post("/v1/embeddings/search", { feature: "message.embedding", entityId: "m-404" }),
      404,
      "NOT_FOUND",
    );
  });

  it("requires a token and features:read, and never returns another tenant's entities", async () => {
    expectError(
      await api.call("/v1/embeddings/search", { method: "POST", body: { feature: "x", entityId: "y" } }),
      401,
      "UNAUTHORIZED",
    );
    const writer = api.as(small.t.tenantId, ["features:write"]);
    expectError(
      await writer.post("/v1/embeddings/search", { feature: "message.embedding", entityId: "m1" }),
      403,
      "FORBIDDEN",
    );
    const other = await tenantWithVectors(5, 3);
    expectError(
      await other.t.post("/v1/embeddings/search", { feature: "message.embedding", entityId: "m40" }),
      404,
      "NOT_FOUND",
    );
    const r = await other.t.post("/v1/embeddings/search", {
      feature: "message.embedding",
      vector: small.vs[0],
      k: 100,
    });
    expect(r.body.results.map((x: any) => x.entityId).sort()).toEqual(["m0", "m1", "m2", "m3", "m4"]);
  });
});
