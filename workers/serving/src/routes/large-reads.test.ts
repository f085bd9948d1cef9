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

describe("a batch page larger than one Neon answer", () => {
  it("comes back shorter, with a cursor that goes on, until every row is read", async () => {
    const tenantId = await createTenant("large batch");
    const ctx = testTenantContext(tenantId);
    const { features } = await defineFeatures(ctx, [
      { name: "doc", entityType: "message", features: [{ name: "body", dataType: "string", sourceType: "stream" }] },
    ]);
    // 300 values of 60 KB: 18 MB of history, more than one Neon answer may carry.
    await ownerSql().query(
      `INSERT INTO ai_feature_values (tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type,
         event_timestamp, ingest_seq)
       SELECT $1, $2, 1, 'message', 'm' || lpad(g::text, 3, '0'), to_jsonb(repeat(chr(97 + g % 26), 60000)), 'scalar',
              -- whole milliseconds, as pushes and jobs write them: the batch cursor keeps no more (issue 17)
              date_trunc('milliseconds', now()) - interval '1 hour', nextval('ai_feature_ingest_seq')
       FROM generate_series(1, 300) g`,
      [tenantId, features.get("doc.body")!.id],
    );
    const entityIds = Array.from({ length: 300 }, (_, i) => `m${String(i + 1).padStart(3, "0")}`);
    const api = apiClient(worker).as(tenantId, ["features:read"]);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await api.post("/v1/features/batch", {
        entityType: "message",
        entityIds,
        features: ["doc.body"],
        limit: 1000,
        ...(cursor ? { cursor } : {}),
      });
      expect(page.status).toBe(200);
      for (const row of page.body.rows) {
        expect(row.features["doc.body"]).toHaveLength(60000);
        seen.push(row.entityId);
      }
      cursor = page.body.metadata.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(seen).toEqual(entityIds);
  });
});
