// Hostile input on every route (DESIGN.md, "Errors"), from harness/fuzz.ts: bodies shaped by
// each route's own zod schema with hostile content, and valid bodies with one value or key
// replaced, duplicated or added; hostile path and query values on the GET routes. Every
// answer is 2xx, or a 4xx error envelope: never a 5xx. Fixed seed here; many more runs in
// `npm run reliability` (RELIABILITY.md).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { type Json, routeInputs } from "#harness/fuzz.ts";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import {
  createFeatureBody,
  createGroupBody,
  createJobBody,
  updateFeatureBody,
  updateGroupBody,
} from "#shared/registry/schemas.ts";
import admin from "../workers/admin/src/index.ts";
import serving from "../workers/serving/src/index.ts";
import {
  batchRequest,
  historicalRequest,
  onlineRequest,
  pushRequest,
  searchRequest,
} from "../workers/serving/src/schemas.ts";

const runs = 40;

const servingApi = apiClient(serving);
const adminApi = apiClient(admin);
let tenantId: string;
let groupId: string;
const now = new Date(Date.now() - 60_000).toISOString();

beforeAll(async () => {
  const ctx = testTenantContext();
  tenantId = ctx.tenantId;
  const { groups } = await defineFeatures(ctx, [
    {
      name: "user",
      entityType: "user",
      ttlSeconds: 3600,
      features: [
        { name: "count", dataType: "int64" },
        { name: "score", dataType: "float64", validationRules: { min: 0, max: 1 } },
        { name: "tier", dataType: "string" },
        { name: "seen", dataType: "timestamp" },
        { name: "tags", dataType: "array" },
        { name: "vec", dataType: "embedding", embeddingDimension: 3 },
      ],
    },
  ]);
  groupId = groups.get("user")!.id;
});

const features = ["count", "user.score", "tier", "seen", "tags", "vec"];
interface FuzzedRoute {
  name: string;
  worker: "serving" | "admin";
  method?: "POST" | "PATCH";
  path: string;
  schema: z.ZodType;
  valid: () => any;
  accept?: string;
}

const routes: FuzzedRoute[] = [
  {
    name: "online",
    schema: onlineRequest,
    worker: "serving",
    path: "/v1/features/online",
    valid: () => ({ entityType: "user", entityIds: ["u1", "u2"], features }),
  },
  {
    name: "online as of",
    schema: onlineRequest,
    worker: "serving",
    path: "/v1/features/online",
    valid: () => ({ entityType: "user", entityId: "u1", features, timestamp: now }),
  },
  {
    name: "push",
    schema: pushRequest,
    worker: "serving",
    path: "/v1/features/push",
    valid: () => ({
      entityType: "user",
      rows: [
        {
          entityId: "u1",
          eventTimestamp: now,
          features: { count: 3, "user.score": 0.5, tier: "gold", seen: now, tags: ["a", 1], vec: [1, 0, 0] },
        },
        { entityId: "u2", eventTimestamp: now, features: { count: 4 } },
      ],
    }),
  },
  ...(["application/json", "application/x-ndjson", "text/csv"] as const).map((accept) => ({
    name: `historical (${accept})`,
    schema: historicalRequest,
    worker: "serving" as const,
    path: "/v1/features/historical",
    accept,
    valid: (): Json => ({
      entityType: "user",
      entityTimestampPairs: [
        { entityId: "u1", timestamp: now },
        { entityId: "u2", timestamp: now },
      ],
      features,
      asOfIngestion: false,
    }),
  })),
  {
    name: "batch",
    schema: batchRequest,
    worker: "serving",
    path: "/v1/features/batch",
    valid: () => ({ entityType: "user", entityIds: ["u1"], features, startTime: "2026-01-01T00:00:00Z", limit: 10 }),
  },
  {
    name: "search",
    schema: searchRequest,
    worker: "serving",
    path: "/v1/embeddings/search",
    valid: () => ({ feature: "vec", vector: [1, 0.5, 0], k: 5, entityType: "user" }),
  },
  {
    name: "create group",
    schema: createGroupBody,
    worker: "admin",
    path: "/v1/admin/groups",
    valid: () => ({
      name: `g_${crypto.randomUUID().slice(0, 8)}`,
      displayName: "G",
      entityType: "user",
      ttlSeconds: 60,
    }),
  },
  {
    name: "create feature",
    schema: createFeatureBody,
    worker: "admin",
    path: "/v1/admin/groups/{group}/features",
    valid: () => ({
      name: `f_${crypto.randomUUID().slice(0, 8)}`,
      displayName: "F",
      dataType: "float64",
      sourceType: "stream",
      validationRules: { min: 0, max: 10, allowedValues: [1, 2] },
      tags: ["a"],
    }),
  },
  {
    name: "create job",
    schema: createJobBody,
    worker: "admin",
    path: "/v1/admin/jobs",
    valid: () => ({
      featureGroupId: groupId,
      jobType: "full",
      startTime: "2026-01-01T00:00:00Z",
      endTime: "2026-01-02T00:00:00Z",
    }),
  },
  {
    name: "update group",
    worker: "admin",
    method: "PATCH",
    path: "/v1/admin/groups/{group}",
    schema: updateGroupBody,
    valid: () => ({ description: "d", ttlSeconds: 120, tags: ["t"] }),
  },
  {
    name: "update feature",
    worker: "admin",
    method: "PATCH",
    path: "/v1/admin/features/user.score",
    schema: updateFeatureBody,
    valid: () => ({ description: "d", tags: ["t"], validationRules: { min: 0, max: 1 } }),
  },
];

/** Real names, so some schema-shaped bodies get past the schema into the handlers. */
const words = [...features, "count", "user", "u1", "u2", "full", "stream", "int64"];

describe("hostile input never answers 5xx", () => {
  it.each(routes.map((r) => [r.name, r] as const))("%s", async (_name, route) => {
    const client = (route.worker === "serving" ? servingApi : adminApi).as(tenantId);
    const path = route.path.replace("{group}", groupId);
    const method = route.method ?? "POST";
    const valid = await client.call(path, {
      method,
      rawBody: JSON.stringify(route.valid()),
      headers: { "content-type": "application/json", ...(route.accept ? { accept: route.accept } : {}) },
    });
    expect(valid.status, valid.text.slice(0, 300)).toBeLessThan(300);
    await fc.assert(
      fc.asyncProperty(routeInputs(route.schema, route.valid() as Json, words), async ({ text, what }) => {
        const r = await client.call(path, {
          method,
          rawBody: text,
          headers: { "content-type": "application/json", ...(route.accept ? { accept: route.accept } : {}) },
        });
        const context = `${what} -> ${r.status} ${r.text.slice(0, 300)}`;
        expect(r.status, context).toBeLessThan(500);
        if (r.status >= 400) {
          expect(typeof r.body?.error?.code, context).toBe("string");
          expect(typeof r.body?.error?.requestId, context).toBe("string");
        }
      }),
      { numRuns: runs, seed: 17 },
    );
  });
});
