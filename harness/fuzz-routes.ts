// The routes the fuzzer drives (harness/fuzz.ts), shared by test/hostile-input.test.ts and
// bench/reliability.ts: each with its request schema (the zod schema its worker validates
// with) and a valid body, for a tenant holding `fuzzFeatures`; plus GET routes whose path
// and query carry hostile values.
import fc from "fast-check";
import { z } from "zod";
import { registryDeclaration } from "#shared/registry/declaration.ts";
import {
  createFeatureBody,
  createGroupBody,
  createJobBody,
  updateFeatureBody,
  updateGroupBody,
} from "#shared/registry/schemas.ts";
import {
  batchRequest,
  historicalRequest,
  onlineRequest,
  pushRequest,
  searchRequest,
} from "../workers/serving/src/schemas.ts";
import type { Json } from "./fuzz.ts";

/** The group the fuzzed tenant holds (group name "user", entity type "user"). */
export const fuzzFeatures = [
  { name: "count", dataType: "int64" },
  { name: "score", dataType: "float64", validationRules: { min: 0, max: 1 } },
  { name: "tier", dataType: "string" },
  { name: "seen", dataType: "timestamp" },
  { name: "tags", dataType: "array" },
  { name: "vec", dataType: "embedding", embeddingDimension: 3 },
] as const;

const features = ["count", "user.score", "tier", "seen", "tags", "vec"];
export interface FuzzedRoute {
  name: string;
  worker: "serving" | "admin";
  method?: "POST" | "PATCH";
  path: string;
  schema: z.ZodType;
  valid: () => any;
  accept?: string;
}

/** The JSON routes; `{group}` in a path is the fuzzed group's id. */
export function fuzzRoutes(groupId: () => string, now: string): FuzzedRoute[] {
  return [
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
        featureGroupId: groupId(),
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
    {
      // Plan only: an apply would archive what the other fuzzed routes read.
      name: "plan registry",
      worker: "admin",
      path: "/v1/admin/registry/plan",
      schema: z.strictObject({ declaration: registryDeclaration }),
      valid: () => ({
        declaration: {
          groups: [
            {
              name: "user",
              displayName: "U",
              entityType: "user",
              features: [{ name: "count", displayName: "C", dataType: "int64", sourceType: "stream" }],
            },
          ],
        },
      }),
    },
  ];
}

/** Real names, so some schema-shaped bodies get past the schema into the handlers. */
export const fuzzWords = [...features, "count", "user", "u1", "u2", "full", "stream", "int64"];

/** GET routes with a hostile path segment or query value: paths to request. */
export const hostilePaths: fc.Arbitrary<{ worker: "admin"; path: string }> = fc
  .tuple(
    fc.constantFrom(
      "/v1/admin/features/%s",
      "/v1/admin/features/%s/versions",
      "/v1/admin/features/%s/stats",
      "/v1/admin/features/user.score/versions/%s",
      "/v1/admin/features/user.score/diff?from=1&to=%s",
      "/v1/admin/groups/%s",
      "/v1/admin/jobs/%s",
      "/v1/admin/features?limit=%s",
      "/v1/admin/features?cursor=%s",
      "/v1/admin/features?search=%s&tag=%s",
      "/v1/admin/jobs?status=%s",
    ),
    fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }).map(encodeURIComponent),
      fc.constantFrom("%00", "%ZZ", "%ED%A0%80", "..%2F..", "-1", "1e309", "9223372036854775808", "x".repeat(5000), ""),
    ),
  )
  .map(([template, value]) => ({ worker: "admin" as const, path: template.replaceAll("%s", value) }));
