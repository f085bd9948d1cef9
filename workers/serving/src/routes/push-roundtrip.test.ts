// What a push accepts reads back exactly as stored (values.ts documents each type's stored
// form), from Redis and from Postgres alike, with its event time to the microsecond; a row
// rejected for its values never stops the valid rows beside it. Random rows of random values
// (valid, edge and hostile, for every data type), fixed seed.
import fc from "fast-check";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { isoFromMs, msFromIso } from "#shared/features/iso-time.ts";
import { checkValue, type ValueDefinition } from "#shared/features/values.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const fromPostgres = apiClient(worker, { UPSTASH_REDIS_REST_URL: inject("stalledUrl"), REDIS_TIMEOUT_MS: "50" });

const definitions: Record<string, ValueDefinition> = {
  i: { dataType: "int64", embeddingDimension: null, validationRules: { min: -1000 } },
  f: { dataType: "float64", embeddingDimension: null, validationRules: null },
  s: { dataType: "string", embeddingDimension: null, validationRules: { pattern: "^[^x]*$" } },
  b: { dataType: "bool", embeddingDimension: null, validationRules: { notNull: true } },
  t: { dataType: "timestamp", embeddingDimension: null, validationRules: null },
  a: { dataType: "array", embeddingDimension: null, validationRules: null },
  e: { dataType: "embedding", embeddingDimension: 3, validationRules: null },
};

const edge = fc.constantFrom<unknown>(
  null,
  0,
  -0,
  2 ** 53 - 1,
  2 ** 53,
  "9223372036854775807",
  "9223372036854775808",
  1e308,
  5e-324,
  -1001,
  "12",
  "x",
  "\u0000",
  "\ud800",
  "a\u202eb",
  true,
  "2024-02-29T23:59:59.999999Z",
  "2024-02-30T00:00:00Z",
  "2026-11-30T12:00:00.1234567+14:00",
  1_700_000_000_000,
  [],
  [1, "a", null, true],
  [{ a: 1 }],
  [0.1, 0.123456789, 3.4e38],
  [3.5e38, 0, 0],
  [1e-46, 1, 0],
  { a: 1 },
);
const validValues: Record<string, fc.Arbitrary<unknown>> = {
  i: fc.bigInt({ min: -1000n, max: 2n ** 63n - 1n }).map((b) => (b <= 2n ** 53n - 1n ? Number(b) : b.toString())),
  f: fc.double({ noNaN: true, noDefaultInfinity: true }),
  s: fc.string({ unit: "grapheme", maxLength: 20 }).filter((v) => !v.includes("x")),
  b: fc.boolean(),
  t: fc
    .tuple(
      fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true }),
      fc.integer({ min: 0, max: 999 }),
    )
    .map(([d, us]) => `${d.toISOString().slice(0, -1)}${String(us).padStart(3, "0")}Z`),
  a: fc.array(fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null)), { maxLength: 4 }),
  e: fc.tuple(
    fc.float({ noNaN: true, noDefaultInfinity: true }),
    fc.double({ min: -3e38, max: 3e38, noNaN: true }),
    fc.constant(1),
  ),
};
/** Per feature: mostly a value of its type, sometimes an edge or hostile one. */
const values = fc
  .record(
    Object.fromEntries(
      Object.keys(definitions).map((name) => [
        name,
        fc.oneof({ weight: 4, arbitrary: validValues[name]! }, { weight: 1, arbitrary: edge }),
      ]),
    ),
    { requiredKeys: [] },
  )
  .filter((v) => Object.keys(v).length > 0);

let tenantId: string;
let serial = 0;

beforeAll(async () => {
  const ctx = testTenantContext();
  tenantId = ctx.tenantId;
  await defineFeatures(ctx, [
    {
      name: "g",
      entityType: "user",
      features: Object.entries(definitions).map(([name, d]) => ({
        name,
        dataType: d.dataType as any,
        ...(d.embeddingDimension ? { embeddingDimension: d.embeddingDimension } : {}),
        ...(d.validationRules ? { validationRules: d.validationRules } : {}),
      })),
    },
  ]);
});

describe("push round trip", () => {
  it("accepts exactly the rows whose every value checks, and reads each back as stored, from Redis and Postgres", async () => {
    const rowArbitrary = fc.record({
      values,
      // Within the last day, to the microsecond.
      ageMicros: fc.integer({ min: 1, max: 86_400_000_000 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(rowArbitrary, { minLength: 1, maxLength: 6 }), async (rows) => {
        const nowMs = Date.now();
        const sent = rows.map((r) => ({
          entityId: `e${serial++}`,
          eventTimestamp: isoFromMs(Math.floor((nowMs * 1000 - r.ageMicros) / 1) / 1000),
          features: r.values,
        }));
        const expected = sent.map((row) =>
          Object.fromEntries(
            Object.entries(row.features).map(([name, v]) => [name, checkValue(definitions[name]!, v)]),
          ),
        );
        const accepted = expected.map((checks) => Object.values(checks).every((c) => c.ok));
        const push = await api.as(tenantId).post("/v1/features/push", { entityType: "user", rows: sent });
        expect(push.status, push.text).toBe(200);
        expect(push.body.errors.map((e: any) => e.row)).toEqual(accepted.flatMap((ok, i) => (ok ? [] : [i])));
        expect(push.body.accepted).toBe(accepted.filter(Boolean).length);

        const readIds = sent.filter((_, i) => accepted[i]).map((r) => r.entityId);
        if (readIds.length === 0) return;
        const request = { entityType: "user", entityIds: readIds, features: Object.keys(definitions) };
        for (const client of [api, fromPostgres]) {
          const read = await client.as(tenantId).post("/v1/features/online", request);
          expect(read.status, read.text).toBe(200);
          read.body.results.forEach((result: any) => {
            const i = sent.findIndex((r) => r.entityId === result.entityId);
            for (const [name, check] of Object.entries(expected[i]!)) {
              const stored = JSON.parse(JSON.stringify((check as { value: unknown }).value));
              const label = `${name} = ${JSON.stringify(sent[i]!.features[name])} via ${read.body.metadata.servedFrom}`;
              expect(result.statuses[name], label).toBe("PRESENT");
              expect(result.features[name], label).toEqual(stored);
              expect(result.timestamps[name], label).toBe(isoFromMs(msFromIso(sent[i]!.eventTimestamp)));
            }
          });
        }
      }),
      { numRuns: 40, seed: 1717 },
    );
  });
});
