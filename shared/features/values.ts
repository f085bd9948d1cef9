// Feature values checked against their definition and put in their stored form. Used by
// push ingestion and materialization alike, so both accept exactly the same values.
//
// Representation (also what reads return):
//   int64      JSON number when |v| <= 2^53 - 1; beyond that a decimal string, so no
//              precision is lost (JSON numbers are doubles in JavaScript)
//   float64    finite JSON number (NaN and Infinity are not JSON and are refused)
//   string     string (at most 64 KiB)
//   bool       true / false
//   timestamp  ISO-8601 string in UTC with milliseconds ("2026-11-25T22:33:06.123Z"), or
//              microseconds when it has them (".123456Z"; digits past them are dropped);
//              accepted as any ISO-8601 string with an offset, or epoch milliseconds
//   array      JSON array (at most 10,000 items) of numbers, strings, booleans or null
//   embedding  array of exactly embeddingDimension numbers within float4 range, answered as
//              float4 (0.123456789 reads back as 0.12345679, as pgvector stores it)
//   null       allowed unless validationRules.notNull
import { unstorableMessage, unstorablePath } from "#shared/db/storable.ts";
import type { ValidationRules } from "#shared/registry/schemas.ts";
import { isoFromMs, msFromIso } from "./iso-time.ts";

export interface ValueDefinition {
  dataType: string;
  embeddingDimension: number | null;
  validationRules: ValidationRules | null;
}

export type ValueType = "scalar" | "vector" | "embedding";

export type CheckedValue = { ok: true; value: unknown; valueType: ValueType } | { ok: false; reason: string };

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MAX_STRING = 64 * 1024;
const MAX_ARRAY = 10_000;
const isoWithOffset = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

const fail = (reason: string): CheckedValue => ({ ok: false, reason });

/** The largest finite float4: pgvector refuses what would overflow it. */
export const FLOAT4_MAX = 3.4028234663852886e38;
export const EMBEDDING_ITEMS = "embedding items must be finite numbers within float4 range (|x| <= 3.4028235e38)";

/** `x` as float4, in the shortest decimal that reads back as the same float4 (pgvector's output). */
export function float4(x: number): number {
  const f = Math.fround(x);
  for (let digits = 1; digits < 9; digits++) {
    const shortest = Number(f.toPrecision(digits));
    if (Math.fround(shortest) === f) return shortest;
  }
  return Number(f.toPrecision(9));
}

function checkInt64(value: unknown): CheckedValue {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return fail(`expected an integer, got ${value}`);
    if (!Number.isSafeInteger(value)) return fail("integers beyond 2^53 must be sent as decimal strings");
    return { ok: true, value, valueType: "scalar" };
  }
  if (typeof value === "string" && /^-?\d{1,19}$/.test(value)) {
    const big = BigInt(value);
    if (big < INT64_MIN || big > INT64_MAX) return fail("outside the int64 range");
    const asNumber = Number(big);
    return { ok: true, value: Number.isSafeInteger(asNumber) ? asNumber : big.toString(), valueType: "scalar" };
  }
  return fail(`expected an int64 (number or decimal string), got ${describe(value)}`);
}

function checkTimestamp(value: unknown): CheckedValue {
  let ms: number;
  if (typeof value === "number" && Number.isSafeInteger(value)) ms = value;
  else if (typeof value === "string" && isoWithOffset.test(value)) {
    if (!calendarDateExists(value)) return fail(`${JSON.stringify(value)} does not exist (day or time out of range)`);
    ms = msFromIso(value);
  } else return fail(`expected an ISO-8601 timestamp with an offset, or epoch milliseconds, got ${describe(value)}`);
  if (!Number.isFinite(ms) || ms < -62_135_596_800_000 || ms >= 253_402_300_800_000)
    return fail("timestamp out of range");
  return { ok: true, value: isoFromMs(ms), valueType: "scalar" };
}

/** Date.parse rolls 2024-02-30 over to March 1st: check the fields themselves first. */
function calendarDateExists(iso: string): boolean {
  const [, y, mo, d, h, mi, sec] = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(iso) ?? [];
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1) return false;
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const daysInMonth = new Date(new Date(0).setUTCFullYear(year, month, 0)).getUTCDate();
  return day <= daysInMonth && Number(h) <= 23 && Number(mi) <= 59 && Number(sec ?? 0) <= 59;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value.length > 40 ? "a string" : JSON.stringify(value);
  return typeof value;
}

function checkType(definition: ValueDefinition, value: unknown): CheckedValue {
  switch (definition.dataType) {
    case "int64":
      return checkInt64(value);
    case "float64":
      if (typeof value !== "number" || !Number.isFinite(value))
        return fail(`expected a finite number, got ${describe(value)}`);
      return { ok: true, value, valueType: "scalar" };
    case "string":
      if (typeof value !== "string") return fail(`expected a string, got ${describe(value)}`);
      if (value.length > MAX_STRING) return fail(`string longer than ${MAX_STRING} characters`);
      return { ok: true, value, valueType: "scalar" };
    case "bool":
      if (typeof value !== "boolean") return fail(`expected a boolean, got ${describe(value)}`);
      return { ok: true, value, valueType: "scalar" };
    case "timestamp":
      return checkTimestamp(value);
    case "array":
      if (!Array.isArray(value)) return fail(`expected an array, got ${describe(value)}`);
      if (value.length > MAX_ARRAY) return fail(`array longer than ${MAX_ARRAY} items`);
      for (const item of value) {
        const okItem =
          item === null ||
          typeof item === "string" ||
          typeof item === "boolean" ||
          (typeof item === "number" && Number.isFinite(item));
        if (!okItem) return fail("array items must be finite numbers, strings, booleans or null");
      }
      return { ok: true, value, valueType: "vector" };
    case "embedding": {
      if (!Array.isArray(value)) return fail(`expected an embedding (array of numbers), got ${describe(value)}`);
      if (value.length !== definition.embeddingDimension) {
        return fail(`expected ${definition.embeddingDimension} dimensions, got ${value.length}`);
      }
      if (!value.every((x) => typeof x === "number" && Math.abs(x) <= FLOAT4_MAX)) return fail(EMBEDDING_ITEMS);
      // Stored as pgvector's float4: answer what Postgres will hold, so a read gives the same
      // numbers from Redis and from Postgres.
      return { ok: true, value: value.map(float4), valueType: "embedding" };
    }
    default:
      return fail(`unsupported data type ${definition.dataType}`);
  }
}

function checkRules(rules: ValidationRules, value: unknown): string | null {
  if (typeof value === "number") {
    if (rules.min !== undefined && value < rules.min) return `${value} is below the minimum ${rules.min}`;
    if (rules.max !== undefined && value > rules.max) return `${value} is above the maximum ${rules.max}`;
  }
  if (typeof value === "string" && rules.pattern !== undefined && !new RegExp(rules.pattern, "u").test(value)) {
    return `does not match the pattern ${rules.pattern}`;
  }
  if (rules.allowedValues !== undefined && !rules.allowedValues.includes(value as string | number | boolean)) {
    return `${describe(value)} is not one of the allowed values`;
  }
  return null;
}

export function checkValue(definition: ValueDefinition, value: unknown): CheckedValue {
  const rules = definition.validationRules;
  if (value === null || value === undefined) {
    if (rules?.notNull) return fail("null is not allowed (notNull)");
    if (definition.dataType === "embedding") return fail("an embedding cannot be null");
    return { ok: true, value: null, valueType: "scalar" };
  }
  const unstorable = unstorablePath(value);
  if (unstorable) return fail(`${unstorable.length ? `item ${unstorable.join(".")} ` : ""}${unstorableMessage}`);
  const typed = checkType(definition, value);
  if (!typed.ok || !rules) return typed;
  const problem = checkRules(rules, typed.value);
  return problem ? fail(problem) : typed;
}

/**
 * A value as Postgres returned it from a transformation (through the Neon driver: bigint
 * and numeric as strings, timestamps as Postgres text), turned into what checkValue expects.
 */
export function fromTransformation(dataType: string, raw: unknown): unknown {
  if (raw === null || raw === undefined) return null;
  if (dataType === "float64" && typeof raw === "string" && raw.trim() !== "") {
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw;
  }
  if (dataType === "int64" && typeof raw === "string" && /^-?\d+\.0+$/.test(raw)) return raw.replace(/\.0+$/, "");
  if (dataType === "timestamp" && typeof raw === "string" && /^\d{4}-\d{2}-\d{2} /.test(raw)) {
    const iso = raw.replace(" ", "T").replace(/([+-]\d{2})$/, "$1:00");
    return Number.isNaN(Date.parse(iso)) ? raw : iso;
  }
  if (dataType === "bool" && (raw === "t" || raw === "f")) return raw === "t";
  return raw;
}
