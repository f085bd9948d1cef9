// The SQL value checks (set-based materialization) against checkValue (push, the reference):
// the same values accepted, stored in the same form, the same ones refused.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { testTenantContext } from "#harness/registry.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import type { ValidationRules } from "#shared/registry/schemas.ts";
import { checkedValuesSql } from "./value-checks-sql.ts";
import { checkValue, float4, type ValueDefinition } from "./values.ts";

const SAFE = Number.MAX_SAFE_INTEGER;

async function checkInSql(definition: ValueDefinition, values: unknown[]) {
  const ctx = testTenantContext();
  const source = `(SELECT ord, raw FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS v(raw, ord))`;
  const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [
    sql.query(`SELECT ord, checked, reason FROM (${checkedValuesSql(definition, source)}) x ORDER BY ord`, [
      JSON.stringify(values),
    ]),
  ]);
  return rows!.map((r) => ({ checked: r.checked, reason: r.reason as string | null }));
}

const definition = (dataType: string, extra: Partial<ValueDefinition> = {}): ValueDefinition => ({
  dataType,
  embeddingDimension: null,
  validationRules: null,
  ...extra,
});

/** Values of every JSON shape, and the edges of each type. */
const edgeValues: unknown[] = [
  null,
  0,
  -0,
  1,
  -1,
  1.5,
  SAFE,
  -SAFE,
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775808",
  "12345678901234567890",
  "42",
  "4.2",
  "",
  "x".repeat(41),
  "2024-02-29T12:00:00Z",
  "2024-02-30T12:00:00Z",
  "2023-02-29T00:00:00+01:00",
  "2024-01-01T24:00:00Z",
  "2024-01-01T23:59:60Z",
  "2024-01-01T10:00Z",
  "2024-06-01T10:00:00.123456+05:30",
  "2024-06-01T10:00:00+0530",
  "0000-01-01T00:00:00Z",
  "9999-12-31T23:59:59.999Z",
  "2024-06-01T10:00:00",
  "2024-06-01",
  0,
  1_700_000_000_000,
  -62_135_596_800_001,
  253_402_300_800_000,
  true,
  false,
  [],
  [1, "a", true, null],
  [1, [2]],
  [{ a: 1 }],
  [0.5, 0.25, 1],
  [0.1, 0.123456789, 1e-46],
  [3.4028234663852886e38, -3.4028234663852886e38, 0],
  [3.5e38, 0, 0],
  [-1e39, 1, 1],
  [1, 2],
  { a: 1 },
  "[1, 2, 3]",
];

const definitions: [string, ValueDefinition][] = [
  ["int64", definition("int64")],
  ["float64", definition("float64")],
  ["string", definition("string")],
  ["bool", definition("bool")],
  ["timestamp", definition("timestamp")],
  ["array", definition("array")],
  ["embedding(3)", definition("embedding", { embeddingDimension: 3 })],
  ["int64 with min/max", definition("int64", { validationRules: { min: 0, max: 100 } as ValidationRules })],
  ["string with a pattern", definition("string", { validationRules: { pattern: "^[a-z]+$" } as ValidationRules })],
  [
    "string with allowed values",
    definition("string", { validationRules: { allowedValues: ["web", "whatsapp"] } as ValidationRules }),
  ],
  ["float64 not null", definition("float64", { validationRules: { notNull: true } as ValidationRules })],
];

/**
 * Where SQL knows more than JSON: Postgres hands over a bigint as an exact number, so an
 * integer beyond 2^53 that JSON would have had to send as a string is accepted in SQL (within
 * int64); push must refuse it, as a double has already lost its digits.
 */
function expectedInSql(def: ValueDefinition, value: unknown) {
  // A pgvector value arrives as its text, "[1,2,3]": read as the array it is.
  if (def.dataType === "embedding" && typeof value === "string" && /^\[.*\]$/.test(value)) {
    return checkValue(def, JSON.parse(value));
  }
  const js = checkValue(def, value);
  if (!js.ok && def.dataType === "int64" && /beyond 2\^53/.test(js.reason) && typeof value === "number") {
    return checkValue(def, BigInt(value).toString());
  }
  return js;
}

async function expectParity(def: ValueDefinition, values: unknown[]) {
  const sqlResults = await checkInSql(def, values);
  values.forEach((value, i) => {
    const js = expectedInSql(def, value);
    const inSql = sqlResults[i]!;
    const label = `${def.dataType} ${JSON.stringify(value)?.slice(0, 80)}`;
    if (js.ok) {
      expect(inSql.reason, label).toBeNull();
      // Through JSON, as both travel (-0 is 0 there). An embedding becomes float4 when SQL
      // casts it to vector on the write, as push does before.
      const checked =
        def.dataType === "embedding" && Array.isArray(inSql.checked) ? inSql.checked.map(float4) : inSql.checked;
      expect(checked, label).toEqual(JSON.parse(JSON.stringify(js.value)));
    } else {
      expect(inSql.reason, `${label} (checkValue: ${js.reason})`).not.toBeNull();
    }
  });
  return { sqlResults };
}

describe("SQL value checks = checkValue", () => {
  it.each(definitions)("%s: edge values", async (_name, def) => {
    await expectParity(def, edgeValues);
  });

  it.each(definitions)("%s: random JSON values (fixed seed)", async (_name, def) => {
    // Numbers within what both sides represent exactly; strings without U+0000 (Postgres
    // text cannot hold it: a transformation cannot produce it).
    const scalar = fc.oneof(
      fc.integer({ min: -1e9, max: 1e9 }),
      fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e30, max: 1e30 }),
      fc.string().filter((s) => !s.includes("\u0000")),
      fc.boolean(),
      fc.constant(null),
      fc
        .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true })
        .map((d) => d.toISOString()),
    );
    const value = fc.oneof(
      scalar,
      fc.array(scalar, { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 3 }), scalar, { maxKeys: 2 }),
    );
    const values = fc.sample(value, { seed: 16, numRuns: 300 });
    await expectParity(def, values);
  });

  it("gives the reasons checkValue gives for the common refusals", async () => {
    const cases: [ValueDefinition, unknown][] = [
      [definition("int64"), 1.5],
      [definition("int64"), "abc"],
      [definition("float64"), "NaN"],
      [definition("string"), 3],
      [definition("bool"), "t"],
      [definition("array"), [{ a: 1 }]],
      [definition("embedding", { embeddingDimension: 3 }), [1, 2]],
      [definition("embedding", { embeddingDimension: 3 }), null],
      [definition("embedding", { embeddingDimension: 3 }), [3.5e38, 0, 0]],
      [definition("float64", { validationRules: { notNull: true } as ValidationRules }), null],
      [definition("int64", { validationRules: { min: 0, max: 100 } as ValidationRules }), 101],
      [definition("string", { validationRules: { allowedValues: ["web"] } as ValidationRules }), "sms"],
      [definition("timestamp"), "2024-02-30T00:00:00Z"],
    ];
    for (const [def, value] of cases) {
      const [inSql] = await checkInSql(def, [value]);
      const js = checkValue(def, value);
      expect(js.ok).toBe(false);
      expect(inSql!.reason, JSON.stringify(value)).toBe((js as { reason: string }).reason);
    }
  });
});
