// Hostile input on every JSON route (DESIGN.md, "Errors"): a valid body with one value or key
// replaced by something hostile — any code point (U+0000, lone surrogates, RTL marks), 10 KB
// strings, numbers at and beyond every range (1e309, 2^53 + 1, int64 + 1, JS Date's limits),
// dates that do not exist, deep nesting, null — or with a duplicated or unknown key. Every
// answer is 2xx, or a 4xx error envelope: never a 5xx. Fixed seed; more runs in the bench.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import admin from "../workers/admin/src/index.ts";
import serving from "../workers/serving/src/index.ts";

const runs = 40;
const PLACEHOLDER = "\u0001HOSTILE\u0001";

/** JSON texts JSON.stringify cannot produce, and values that sit at or past a limit. */
const hostileLeaf: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }).map((s) => JSON.stringify(s)),
  fc
    .constantFrom("\u0000", "\\ud800", "\\udfff", "a\u202eb", "\u200f", "\ufeff", "", " ", "%00", "../", "\\u0000")
    .map((s) => (s.startsWith("\\") ? `"${s}"` : JSON.stringify(s))),
  fc.constant(JSON.stringify("x".repeat(10_240))),
  fc.constantFrom(
    "1e309",
    "-1e309",
    "9007199254740993",
    "9223372036854775808",
    "-9223372036854775809",
    "8.64e15",
    "8640000000000001",
    "-8.64e15",
    "1e-400",
    "-0",
    "0.5",
    "1E2",
    "123456789012345678901234567890",
  ),
  fc.constantFrom(
    '"2024-02-30T00:00:00Z"',
    '"0000-01-01T00:00:00Z"',
    '"9999-12-31T23:59:59.999999Z"',
    '"+275760-09-13T00:00:00Z"',
    '"2026-01-01T00:00:00"',
    '"2026-01-01T25:00:00Z"',
    '"2026-11-25T12:00:00.123456789+14:00"',
  ),
  fc.constantFrom("null", "true", "false", "[]", "{}", '{"":null}', "[null]", '["a",1,{}]'),
  fc.integer({ min: 1, max: 2_000 }).map((depth) => `${"[".repeat(depth)}${"]".repeat(depth)}`),
  fc.integer({ min: 1, max: 2_000 }).map((depth) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`),
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a value in `body`, the root excluded. */
function paths(body: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(body)) return body.flatMap((v, i) => [[...prefix, i], ...paths(v, [...prefix, i])]);
  if (body && typeof body === "object")
    return Object.entries(body).flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])]);
  return [];
}

function replaced(body: Json, path: (string | number)[], value: Json): Json {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (Array.isArray(body)) return body.map((v, i) => (i === head ? replaced(v, rest, value) : v));
  const copy = { ...(body as Record<string, Json>) };
  copy[head as string] = replaced(copy[head as string]!, rest, value);
  return copy;
}

/** A mutation of a valid body, as the JSON text to send. */
function mutations(valid: Json): fc.Arbitrary<{ text: string; what: string }> {
  const all = paths(valid);
  const atPath = fc.tuple(fc.constantFrom(...all), hostileLeaf).map(([path, leaf]) => ({
    text: JSON.stringify(replaced(valid, path, PLACEHOLDER)).replace(JSON.stringify(PLACEHOLDER), leaf),
    what: `${path.join(".")} = ${leaf.slice(0, 60)}`,
  }));
  const atKey = fc
    .tuple(fc.constantFrom(...all.filter((p) => typeof p.at(-1) === "string")), hostileLeaf)
    .filter(([, leaf]) => leaf.startsWith('"'))
    .map(([path, leaf]) => {
      const text = JSON.stringify(replaced(valid, path, PLACEHOLDER));
      // The key of that value becomes the hostile string (its value moves along).
      const key = JSON.stringify(path.at(-1));
      const at = text.indexOf(`${key}:${JSON.stringify(PLACEHOLDER)}`);
      const original = JSON.stringify(path.reduce<Json>((v, k) => (v as any)[k], valid));
      return {
        text: `${text.slice(0, at)}${leaf}:${original}${text.slice(at + key.length + 1 + JSON.stringify(PLACEHOLDER).length)}`,
        what: `key ${path.join(".")} -> ${leaf.slice(0, 60)}`,
      };
    });
  const duplicated = fc.constantFrom(...Object.keys(valid as object)).map((key) => ({
    text: `{${JSON.stringify(key)}:${JSON.stringify((valid as any)[key])},${JSON.stringify(valid).slice(1)}`,
    what: `duplicated key ${key}`,
  }));
  const unknown = hostileLeaf.map((leaf) => ({
    text: `{"unexpected":${leaf},${JSON.stringify(valid).slice(1)}`,
    what: `unknown key = ${leaf.slice(0, 60)}`,
  }));
  return fc.oneof(
    { weight: 6, arbitrary: atPath },
    { weight: 2, arbitrary: atKey },
    { weight: 1, arbitrary: duplicated },
    { weight: 1, arbitrary: unknown },
  );
}

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
const routes: { name: string; worker: "serving" | "admin"; path: string; valid: () => any; accept?: string }[] = [
  {
    name: "online",
    worker: "serving",
    path: "/v1/features/online",
    valid: () => ({ entityType: "user", entityIds: ["u1", "u2"], features }),
  },
  {
    name: "online as of",
    worker: "serving",
    path: "/v1/features/online",
    valid: () => ({ entityType: "user", entityId: "u1", features, timestamp: now }),
  },
  {
    name: "push",
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
    worker: "serving",
    path: "/v1/features/batch",
    valid: () => ({ entityType: "user", entityIds: ["u1"], features, startTime: "2026-01-01T00:00:00Z", limit: 10 }),
  },
  {
    name: "search",
    worker: "serving",
    path: "/v1/embeddings/search",
    valid: () => ({ feature: "vec", vector: [1, 0.5, 0], k: 5, entityType: "user" }),
  },
  {
    name: "create group",
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
    worker: "admin",
    path: "/v1/admin/jobs",
    valid: () => ({
      featureGroupId: groupId,
      jobType: "full",
      startTime: "2026-01-01T00:00:00Z",
      endTime: "2026-01-02T00:00:00Z",
    }),
  },
];

describe("hostile input never answers 5xx", () => {
  it.each(routes.map((r) => [r.name, r] as const))("%s", async (_name, route) => {
    const client = (route.worker === "serving" ? servingApi : adminApi).as(tenantId);
    const path = route.path.replace("{group}", groupId);
    const valid = await client.call(path, {
      method: "POST",
      rawBody: JSON.stringify(route.valid()),
      headers: { "content-type": "application/json", ...(route.accept ? { accept: route.accept } : {}) },
    });
    expect(valid.status, valid.text.slice(0, 300)).toBeLessThan(300);
    await fc.assert(
      fc.asyncProperty(mutations(route.valid()), async ({ text, what }) => {
        const r = await client.call(path, {
          method: "POST",
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
