// Reads whose answers are over the real services' limits (the local Neon and Upstash
// endpoints enforce them): 1,000 entities x a 1,536-float embedding is ~15 MB.
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { createTenant, ownerSql } from "#harness/stack.ts";
import worker from "../index.ts";

const dimension = 1536;
const entities = 1000;

describe("an online read larger than one Neon answer", () => {
  it("answers 1,000 embeddings from Postgres in parts, refills Redis under its request limit, then serves them from Redis", async () => {
    const tenantId = await createTenant("large reads");
    const ctx = testTenantContext(tenantId);
    const { features } = await defineFeatures(ctx, [
      {
        name: "doc",
        entityType: "message",
        features: [{ name: "vec", dataType: "embedding", embeddingDimension: dimension, sourceType: "stream" }],
      },
    ]);
    const featureId = features.get("doc.vec")!.id;
    // Written straight into Postgres: Redis has none of them, so the first read falls back.
    await ownerSql().query(
      `INSERT INTO ai_feature_embeddings_online (tenant_id, feature_id, feature_version, entity_type, entity_id,
         embedding, event_timestamp, ingest_seq)
       SELECT $1, $2, 1, 'message', 'm' || g,
              (SELECT array_agg(round(((g * 7919 + i * 104729) % 1000000) / 1000000.0, 6))::real[] FROM generate_series(1, $3) i)::vector,
              now() - interval '1 minute', nextval('ai_feature_ingest_seq')
       FROM generate_series(1, $4) g`,
      [tenantId, featureId, dimension, entities],
    );
    const entityIds = Array.from({ length: entities }, (_, i) => `m${i + 1}`);
    const api = apiClient(worker).as(tenantId, ["features:read"]);
    const first = await api.post("/v1/features/online", { entityType: "message", entityIds, features: ["doc.vec"] });
    expect(first.status).toBe(200);
    expect(first.body.metadata.servedFrom).toBe("postgres");
    const vectors = first.body.results.map((r: { features: Record<string, number[]> }) => r.features["doc.vec"]);
    expect(vectors.every((v: number[]) => v.length === dimension)).toBe(true);
    // Entity m1, coordinate 1: ((1 * 7919 + 104729) % 1e6) / 1e6.
    expect(vectors[0][0]).toBeCloseTo(((7919 + 104729) % 1_000_000) / 1_000_000, 6);

    const second = await api.post("/v1/features/online", { entityType: "message", entityIds, features: ["doc.vec"] });
    expect(second.status).toBe(200);
    expect(second.body.metadata.servedFrom).toBe("redis");
    expect(second.body.results.map((r: { features: Record<string, number[]> }) => r.features["doc.vec"])).toEqual(
      vectors,
    );
  });
});
