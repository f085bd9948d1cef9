// Values checked against their definition: what push and materialization both accept.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkValue, fromTransformation, type ValueDefinition } from "./values.ts";

const def = (dataType: string, extra: Partial<ValueDefinition> = {}): ValueDefinition => ({
  dataType,
  embeddingDimension: null,
  validationRules: null,
  ...extra,
});

const accepted = (definition: ValueDefinition, value: unknown) => {
  const checked = checkValue(definition, value);
  if (!checked.ok) throw new Error(`refused ${JSON.stringify(value)}: ${checked.reason}`);
  return checked.value;
};
const refusal = (definition: ValueDefinition, value: unknown) => {
  const checked = checkValue(definition, value);
  return checked.ok ? null : checked.reason;
};

describe("int64", () => {
  it("keeps safe integers as numbers and larger ones as exact decimal strings", () => {
    expect(accepted(def("int64"), 42)).toBe(42);
    expect(accepted(def("int64"), "9007199254740993")).toBe("9007199254740993");
    expect(accepted(def("int64"), "-9223372036854775808")).toBe("-9223372036854775808");
    expect(accepted(def("int64"), "12")).toBe(12);
  });

  it("refuses fractions, unsafe numbers, out-of-range strings and other types", () => {
    expect(refusal(def("int64"), 1.5)).toMatch(/integer/);
    expect(refusal(def("int64"), 2 ** 60)).toMatch(/decimal strings/);
    expect(refusal(def("int64"), "9223372036854775808")).toMatch(/int64 range/);
    expect(refusal(def("int64"), "1e3")).toMatch(/int64/);
    expect(refusal(def("int64"), true)).toMatch(/int64/);
  });

  it("round-trips every int64 as a decimal string without losing a digit", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
        const value = accepted(def("int64"), n.toString());
        expect(BigInt(value as string | number)).toBe(n);
      }),
      { seed: 14, numRuns: 500 },
    );
  });
});

describe("timestamp", () => {
  it("normalises to UTC ISO with milliseconds, from ISO with an offset or epoch milliseconds", () => {
    expect(accepted(def("timestamp"), "2026-11-25T23:43:55+01:00")).toBe("2026-11-25T22:43:55.000Z");
    expect(accepted(def("timestamp"), 0)).toBe("1970-01-01T00:00:00.000Z");
  });

  it("refuses a time without an offset, and dates that do not exist instead of rolling them over", () => {
    expect(refusal(def("timestamp"), "2026-11-25T23:43:55")).toMatch(/offset/);
    expect(refusal(def("timestamp"), "2024-02-30T00:00:00Z")).toMatch(/does not exist/);
    expect(refusal(def("timestamp"), "2023-02-29T00:00:00Z")).toMatch(/does not exist/);
    expect(refusal(def("timestamp"), "2026-11-25T24:00:00Z")).toMatch(/does not exist/);
    expect(accepted(def("timestamp"), "2024-02-29T12:00:00Z")).toBe("2024-02-29T12:00:00.000Z");
  });
});

describe("other types", () => {
  it("checks floats, strings, booleans and arrays", () => {
    expect(accepted(def("float64"), 0.5)).toBe(0.5);
    expect(refusal(def("float64"), "0.5")).toMatch(/finite number/);
    expect(refusal(def("string"), "x".repeat(64 * 1024 + 1))).toMatch(/longer/);
    expect(accepted(def("bool"), false)).toBe(false);
    expect(accepted(def("array"), [1, "a", null, true])).toEqual([1, "a", null, true]);
    expect(refusal(def("array"), [{}])).toMatch(/array items/);
  });

  it("wants an embedding of exactly its dimension, of finite numbers, never null", () => {
    const embedding = def("embedding", { embeddingDimension: 3 });
    expect(checkValue(embedding, [1, 2, 3])).toEqual({ ok: true, value: [1, 2, 3], valueType: "embedding" });
    expect(refusal(embedding, [1, 2])).toMatch(/3 dimensions, got 2/);
    expect(refusal(embedding, [1, 2, "3"])).toMatch(/finite numbers/);
    expect(refusal(embedding, null)).toMatch(/cannot be null/);
  });

  it("stores null as a value unless the rules say notNull", () => {
    expect(checkValue(def("string"), null)).toEqual({ ok: true, value: null, valueType: "scalar" });
    expect(refusal(def("string", { validationRules: { notNull: true } }), null)).toMatch(/notNull/);
  });
});

describe("validation rules", () => {
  it("apply min, max, pattern and allowed values to the checked value", () => {
    const bounded = def("float64", { validationRules: { min: 0, max: 1 } });
    expect(refusal(bounded, -0.1)).toMatch(/below the minimum/);
    expect(refusal(bounded, 1.1)).toMatch(/above the maximum/);
    expect(accepted(bounded, 1)).toBe(1);
    expect(refusal(def("string", { validationRules: { pattern: "^[a-z]+$" } }), "A")).toMatch(/pattern/);
    expect(refusal(def("string", { validationRules: { allowedValues: ["web"] } }), "sms")).toMatch(/allowed/);
  });
});

describe("fromTransformation", () => {
  it("turns what the Neon driver gives for SQL types into what checkValue expects", () => {
    expect(fromTransformation("float64", "1.25")).toBe(1.25);
    expect(fromTransformation("int64", "15.000")).toBe("15");
    expect(fromTransformation("timestamp", "2026-11-25 23:43:55.046+00")).toBe("2026-11-25T23:43:55.046+00:00");
    expect(fromTransformation("bool", "t")).toBe(true);
    expect(fromTransformation("string", null)).toBeNull();
    expect(accepted(def("timestamp"), fromTransformation("timestamp", "2026-11-25 23:43:55.046+00"))).toBe(
      "2026-11-25T23:43:55.046Z",
    );
  });
});
