// On-demand features (DESIGN.md, "Source types mean what they say"): computed when read from
// the source tables, with NOW() = the read time and no job run; each value served is logged
// to the offline store, so a later training set holds it; the sandbox still contains
// hostile SQL, and another tenant's rows stay invisible.
import { beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectError } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { createTenant, ownerSql } from "#harness/stack.ts";
import { isoFromMs, msFromIso } from "#shared/features/iso-time.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const impatient = apiClient(worker, { ON_DEMAND_TIMEOUT_MS: "200" });

const durationSql = `
  SELECT id AS entity_id,
         EXTRACT(EPOCH FROM (LEAST(COALESCE(updated_at, created_at), NOW()) - created_at))::int AS value
  FROM ai_conversations
  WHERE created_at < NOW()`;
const ageSql = `SELECT id AS entity_id, EXTRACT(EPOCH FROM NOW() - created_at)::float8 AS value FROM ai_conversations`;
const slowSql = `SELECT id AS entity_id, length(pg_sleep(2)::text) AS value FROM ai_conversations`;

let tenantId: string;
const conversation = crypto.randomUUID();
const createdMs = Date.now() - 600_000;

async function setUpdatedAt(id: string, ms: number) {
  await ownerSql()`UPDATE ai_conversations SET updated_at = ${new Date(ms).toISOString()} WHERE id = ${id}`;
}

beforeAll(async () => {
  tenantId = await createTenant("on-demand");
  await ownerSql()`INSERT INTO ai_conversations (id, tenant_id, channel, created_at, updated_at)
    VALUES (${conversation}, ${tenantId}, 'web', ${new Date(createdMs).toISOString()}, ${new Date(createdMs + 50_000).toISOString()})`;
  await defineFeatures(testTenantContext(tenantId), [
    {
      name: "conv",
      entityType: "conversation",
      features: [
        { name: "duration", dataType: "int64", sourceType: "on_demand", transformationSql: durationSql },
        { name: "age", dataType: "float64", sourceType: "on_demand", transformationSql: ageSql },
        { name: "slow", dataType: "int64", sourceType: "on_demand", transformationSql: slowSql },
        {
          name: "vec",
          dataType: "embedding",
          embeddingDimension: 3,
          sourceType: "on_demand",
          transformationSql: "SELECT id AS entity_id, ARRAY[0.5, 0.25, 1]::float8[] AS value FROM ai_conversations",
        },
        { name: "status", dataType: "string", sourceType: "stream" },
      ],
    },
  ]);
});

describe("on-demand features", () => {
  it("are computed when read, fresh, with NOW() = the read time, beside pushed features", async () => {
    await api.as(tenantId).post("/v1/features/push", {
      entityType: "conversation",
      rows: [{ entityId: conversation, eventTimestamp: new Date().toISOString(), features: { "conv.status": "open" } }],
    });
    const request = {
      entityType: "conversation",
      entityIds: [conversation, "no-such-conversation"],
      features: ["conv.duration", "conv.age", "conv.status"],
    };
    const before = Date.now();
    const first = await api.as(tenantId).post("/v1/features/online", request);
    const after = Date.now();
    expect(first.status, first.text).toBe(200);
    const [found, missing] = first.body.results;
    expect(found.features["conv.duration"]).toBe(50);
    expect(found.features["conv.status"]).toBe("open");
    // NOW() is the read time: the age lies between the read's start and end.
    expect(found.features["conv.age"]).toBeGreaterThanOrEqual((before - createdMs) / 1000 - 0.001);
    expect(found.features["conv.age"]).toBeLessThanOrEqual((after - createdMs) / 1000 + 0.001);
    const servedAt = msFromIso(found.timestamps["conv.duration"]);
    expect(servedAt).toBeGreaterThanOrEqual(before);
    expect(servedAt).toBeLessThanOrEqual(after);
    expect(missing.statuses["conv.duration"]).toBe("NOT_FOUND");

    // The source changes; no job runs; the next read sees it.
    await setUpdatedAt(conversation, createdMs + 80_000);
    const second = await api.as(tenantId).post("/v1/features/online", request);
    expect(second.body.results[0].features["conv.duration"]).toBe(80);
  });

  it("logs each served value, so a later training set holds what was served", async () => {
    await setUpdatedAt(conversation, createdMs + 120_000);
    const read = await api
      .as(tenantId)
      .post("/v1/features/online", { entityType: "conversation", entityId: conversation, features: ["conv.duration"] });
    const servedAt = msFromIso(read.body.timestamps["conv.duration"]);
    await setUpdatedAt(conversation, createdMs + 300_000);
    const training = await api.as(tenantId).post("/v1/features/historical", {
      entityType: "conversation",
      entityTimestampPairs: [
        { entityId: conversation, timestamp: isoFromMs(servedAt) },
        { entityId: conversation, timestamp: isoFromMs(servedAt - 0.001) },
      ],
      features: ["conv.duration"],
    });
    expect(training.status, training.text).toBe(200);
    expect(training.body.rows[0].features["conv.duration"]).toBe(120);
    expect(training.body.rows[0].eventTimestamps["conv.duration"]).toBe(isoFromMs(servedAt));
    // Just before, the earlier read's value (80 or 50), never the one served later.
    expect([50, 80]).toContain(training.body.rows[1].features["conv.duration"]);
  });

  it("logs an on-demand embedding where embeddings live, so training sets find it", async () => {
    const read = await api
      .as(tenantId)
      .post("/v1/features/online", { entityType: "conversation", entityId: conversation, features: ["conv.vec"] });
    expect(read.body.features["conv.vec"]).toEqual([0.5, 0.25, 1]);
    const training = await api.as(tenantId).post("/v1/features/historical", {
      entityType: "conversation",
      entityTimestampPairs: [{ entityId: conversation, timestamp: read.body.timestamps["conv.vec"] }],
      features: ["conv.vec"],
    });
    expect(training.body.rows[0].features["conv.vec"]).toEqual([0.5, 0.25, 1]);
  });

  it("answers 422 naming the feature when the computation overruns its statement timeout", async () => {
    const started = Date.now();
    const slow = await impatient
      .as(tenantId)
      .post("/v1/features/online", { entityType: "conversation", entityId: conversation, features: ["conv.slow"] });
    const details = expectError(slow, 422, "UNPROCESSABLE");
    expect(details[0].feature).toBe("conv.slow");
    expect(Date.now() - started).toBeLessThan(1_800);
  });

  it("refuses pushes of a computed feature, and hostile SQL when it is saved", async () => {
    const push = await api.as(tenantId).post("/v1/features/push", {
      entityType: "conversation",
      rows: [{ entityId: conversation, eventTimestamp: new Date().toISOString(), features: { "conv.duration": 1 } }],
    });
    expect(push.body.errors[0].reasons[0].reason).toMatch(/computed when read/);
    await expect(
      defineFeatures(testTenantContext(tenantId), [
        {
          name: "conv2",
          entityType: "conversation",
          features: [
            {
              name: "evil",
              dataType: "int64",
              sourceType: "on_demand",
              transformationSql:
                "SELECT id AS entity_id, 1 AS value FROM ai_conversations; DELETE FROM ai_conversations",
            },
          ],
        },
      ]),
    ).rejects.toThrow(/does not plan|cannot insert multiple commands/);
  });

  it("never sees another tenant's rows", async () => {
    const other = await createTenant("on-demand-other");
    await defineFeatures(testTenantContext(other), [
      {
        name: "conv",
        entityType: "conversation",
        features: [{ name: "duration", dataType: "int64", sourceType: "on_demand", transformationSql: durationSql }],
      },
    ]);
    const theirs = await api
      .as(other)
      .post("/v1/features/online", { entityType: "conversation", entityId: conversation, features: ["conv.duration"] });
    expect(theirs.status).toBe(200);
    expect(theirs.body.statuses["conv.duration"]).toBe("NOT_FOUND");
    const noScope = await api
      .as(tenantId, ["features:write"])
      .post("/v1/features/online", { entityType: "conversation", entityId: conversation, features: ["conv.duration"] });
    expectError(noScope, 403, "FORBIDDEN");
  });
});
