// Hostile input on every route (DESIGN.md, "Errors"), from harness/fuzz.ts: bodies shaped by
// each route's own zod schema with hostile content, and valid bodies with one value or key
// replaced, duplicated or added; hostile path and query values on the GET routes. Every
// answer is 2xx, or a 4xx error envelope: never a 5xx. Fixed seed here; many more runs in
// `npm run reliability` (RELIABILITY.md).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { type Json, routeInputs } from "#harness/fuzz.ts";
import { fuzzFeatures, fuzzRoutes, fuzzWords, hostilePaths } from "#harness/fuzz-routes.ts";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import admin from "../workers/admin/src/index.ts";
import serving from "../workers/serving/src/index.ts";

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
      features: fuzzFeatures.map((f) => ({ ...f })),
    },
  ]);
  groupId = groups.get("user")!.id;
});

describe("hostile input never answers 5xx", () => {
  it.each(fuzzRoutes(() => groupId, now).map((r) => [r.name, r] as const))("%s", async (_name, route) => {
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
      fc.asyncProperty(routeInputs(route.schema, route.valid() as Json, fuzzWords), async ({ text, what }) => {
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

describe("hostile paths and queries never answer 5xx", () => {
  it("GET routes with any value in a path segment or query", async () => {
    const client = adminApi.as(tenantId);
    await fc.assert(
      fc.asyncProperty(hostilePaths, async ({ path }) => {
        const r = await client.get(path);
        const context = `${path.slice(0, 200)} -> ${r.status} ${r.text.slice(0, 300)}`;
        expect(r.status, context).toBeLessThan(500);
        if (r.status >= 400) expect(typeof r.body?.error?.code, context).toBe("string");
      }),
      { numRuns: runs * 4, seed: 18 },
    );
  });
});

describe("hostile headers never answer 5xx", () => {
  it("any Accept on a training set, any Authorization scheme and token", async () => {
    const body = JSON.stringify({
      entityType: "user",
      entityTimestampPairs: [{ entityId: "u1", timestamp: now }],
      features: ["count"],
    });
    const header = fc.oneof(
      // What an HTTP header can carry at all (fetch refuses NUL, CR and LF before sending).
      fc.string({ unit: "binary-ascii", maxLength: 60 }).filter((v) => !/[\0\r\n]/.test(v)),
      fc.constantFrom("text/csv;q=0", "*/*;q=abc", "application/x-ndjson;q=1.5, text/csv;q=-1", "text/*", ";;;,,,"),
    );
    await fc.assert(
      fc.asyncProperty(
        header,
        fc.constantFrom("Bearer", "bearer", "BEARER", "Basic", "", "Bearer\t"),
        async (accept, scheme) => {
          const token = await servingApi.as(tenantId).call("/healthz"); // keeps the isolate's registry warm
          expect(token.status).toBe(200);
          const r = await servingApi.call("/v1/features/historical", {
            method: "POST",
            rawBody: body,
            headers: { "content-type": "application/json", accept, authorization: `${scheme} x.y.z` },
          });
          expect(r.status, `${JSON.stringify(accept)} ${scheme} -> ${r.status} ${r.text.slice(0, 200)}`).toBeLessThan(
            500,
          );
          const signed = await servingApi.as(tenantId).call("/v1/features/historical", {
            method: "POST",
            rawBody: body,
            headers: { "content-type": "application/json", accept },
          });
          expect(
            signed.status,
            `${JSON.stringify(accept)} -> ${signed.status} ${signed.text.slice(0, 200)}`,
          ).toBeLessThan(500);
        },
      ),
      { numRuns: runs, seed: 19 },
    );
  });
});
