// A tenant's Worker reading and pushing through its service binding to the serving worker's
// FeatureStore entrypoint: the answers HTTP gives, the same errors, the same isolation.
import { env } from "cloudflare:workers";
import { type FeatureStoreService, featureStoreBinding } from "@tistis/feature-store";
import { beforeAll, describe, expect, it } from "vitest";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { failure } from "#harness/store-errors.ts";
import { signToken } from "#harness/tokens.ts";

const service = env.FEATURES as unknown as FeatureStoreService;

async function tenant() {
  const ctx = testTenantContext();
  await defineFeatures(ctx, [
    {
      name: "user",
      entityType: "user",
      features: [
        { name: "score", dataType: "float64", validationRules: { min: 0, max: 1 } },
        { name: "vec", dataType: "embedding", embeddingDimension: 3 },
      ],
    },
  ]);
  const token = await signToken({ tenantId: ctx.tenantId, scopes: ["features:read", "features:write"], sub: "app" });
  return { tenantId: ctx.tenantId, token, store: featureStoreBinding(service, { token }) };
}

describe("Workers RPC: env.FEATURES through a service binding", () => {
  let a: Awaited<ReturnType<typeof tenant>>;
  beforeAll(async () => {
    a = await tenant();
  });

  it("pushes, then reads online, historical, batch and nearest neighbours, as over HTTP", async () => {
    const at = "2026-11-01T10:00:00.000123Z";
    const pushed = await a.store.push({
      entityType: "user",
      rows: [
        { entityId: "u1", eventTimestamp: at, features: { score: 0.25, vec: [1, 0, 0] } },
        { entityId: "u2", eventTimestamp: at, features: { score: 0.75, vec: [0, 1, 0] } },
      ],
    });
    expect(pushed).toMatchObject({ accepted: 2, rejected: 0, offlineInserted: 4 });

    const online = await a.store.getOnline({
      entityType: "user",
      entityId: "u1",
      features: ["user.score", "user.vec"],
    });
    expect(online.features).toEqual({ "user.score": 0.25, "user.vec": [1, 0, 0] });
    expect(online.timestamps["user.score"]).toBe(at);
    expect(online.statuses).toEqual({ "user.score": "PRESENT", "user.vec": "PRESENT" });
    expect(online.metadata.source).toBe("online");

    const batch = await a.store.getOnlineBatch({
      entityType: "user",
      entityIds: ["u1", "u2", "u3"],
      features: ["user.score"],
    });
    expect(batch.results.map((r) => r.features["user.score"])).toEqual([0.25, 0.75, null]);

    const historical = await a.store.getHistorical({
      entityType: "user",
      entityTimestampPairs: [
        { entityId: "u2", timestamp: "2026-11-01T09:00:00Z" },
        { entityId: "u2", timestamp: "2026-11-02T00:00:00Z" },
      ],
      features: ["user.score"],
    });
    expect(historical.rows.map((r) => r.statuses["user.score"])).toEqual(["NOT_FOUND", "PRESENT"]);

    const rows = await a.store.getBatch({ entityType: "user", entityIds: ["u1"], features: ["user.score"] });
    expect(rows.rows).toEqual([{ entityId: "u1", eventTimestamp: at, features: { "user.score": 0.25 } }]);

    const near = await a.store.searchEmbeddings({ feature: "user.vec", vector: [0.9, 0.1, 0], k: 1 });
    expect(near.results.map((r) => r.entityId)).toEqual(["u1"]);
  });

  it("answers bad input with the envelope's code and paths, thrown as FeatureStoreError", async () => {
    const unknown = await failure(a.store.getOnline({ entityType: "user", entityId: "u1", features: ["user.nope"] }));
    expect([unknown.code, unknown.status]).toEqual(["UNKNOWN_FEATURE", 400]);
    const invalid = await failure(
      a.store.getOnline({ entityType: "robot" as "user", entityId: "u1", features: ["user.score"] }),
    );
    expect([invalid.code, invalid.status]).toEqual(["VALIDATION_FAILED", 400]);
    expect((invalid.details as { path: string }[]).map((d) => d.path)).toEqual(["entityType"]);
    const rejected = await a.store.push({
      entityType: "user",
      rows: [{ entityId: "u1", eventTimestamp: new Date().toISOString(), features: { score: 7 } }],
    });
    expect(rejected).toMatchObject({ accepted: 0, rejected: 1 });
  });

  it("verifies the token on every call: none, forged, expired, or without the scope", async () => {
    const raw = await service.getOnline(42 as unknown as string, {
      entityType: "user",
      entityId: "u1",
      features: ["user.score"],
    });
    expect(raw).toMatchObject({ ok: false, status: 401, error: { code: "UNAUTHORIZED" } });
    const forged = `${a.token.slice(0, -4)}AAAA`;
    const read = { entityType: "user" as const, entityId: "u1", features: ["user.score"] };
    expect((await failure(featureStoreBinding(service, { token: forged }).getOnline(read))).code).toBe("UNAUTHORIZED");
    const expired = await signToken({ tenantId: a.tenantId, scopes: ["features:read"], expiresIn: -60 });
    expect((await failure(featureStoreBinding(service, { token: expired }).getOnline(read))).status).toBe(401);
    const readOnly = await signToken({ tenantId: a.tenantId, scopes: ["features:read"] });
    const push = featureStoreBinding(service, { token: readOnly }).push({
      entityType: "user",
      rows: [{ entityId: "u1", eventTimestamp: new Date().toISOString(), features: { score: 0.5 } }],
    });
    expect([(await failure(push)).code, (await failure(push)).status]).toEqual(["FORBIDDEN", 403]);
  });

  it("keeps tenants apart: another tenant's token neither reads nor changes this tenant's values", async () => {
    const b = await tenant();
    await b.store.push({
      entityType: "user",
      rows: [{ entityId: "u1", eventTimestamp: new Date().toISOString(), features: { score: 0.99 } }],
    });
    const mine = await a.store.getOnline({ entityType: "user", entityId: "u1", features: ["user.score"] });
    expect(mine.features["user.score"]).toBe(0.25);
    const theirs = await b.store.getOnline({ entityType: "user", entityId: "u1", features: ["user.score"] });
    expect(theirs.features["user.score"]).toBe(0.99);
    // A feature only the other tenant has is unknown here, exactly like one that does not exist.
    const c = featureStoreBinding(service, {
      token: await signToken({ tenantId: crypto.randomUUID(), scopes: ["features:read"] }),
    });
    const unknown = await failure(c.getOnline({ entityType: "user", entityId: "u1", features: ["user.score"] }));
    expect(unknown.code).toBe("UNKNOWN_FEATURE");
  });
});
