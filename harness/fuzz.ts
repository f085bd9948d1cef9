// Hostile inputs for every JSON route, shared by the test (test/hostile-input.test.ts, fixed
// seed) and the reliability run (bench/reliability.ts, many more runs over HTTP):
//   - bodies shaped by the route's own request schema (z.toJSONSchema of the zod schema the
//     worker validates with): every field of its type, filled with edge and hostile content;
//   - a valid body with one value or key replaced by something hostile — any code point
//     (U+0000, lone surrogates, RTL marks), 10 KB strings, numbers at and beyond every range
//     (1e309, 2^53 + 1, int64 + 1, JS Date's limits), dates that do not exist, deep nesting,
//     null — or with a duplicated or unknown key.
import fc from "fast-check";
import { z } from "zod";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface FuzzInput {
  /** The JSON text sent. */
  text: string;
  /** What was done to it, for the failure message. */
  what: string;
}

const PLACEHOLDER = "\u0001HOSTILE\u0001";

const hostileNumbers = [
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
];

const hostileDates = [
  "2024-02-30T00:00:00Z",
  "0000-01-01T00:00:00Z",
  "9999-12-31T23:59:59.999999Z",
  "+275760-09-13T00:00:00Z",
  "2026-01-01T00:00:00",
  "2026-01-01T25:00:00Z",
  "2026-11-25T12:00:00.123456789+14:00",
  "2024-12-31T23:59:59.9999999Z",
];

/** JSON texts JSON.stringify cannot produce, and values that sit at or past a limit. */
export const hostileLeaf: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }).map((s) => JSON.stringify(s)),
  fc
    .constantFrom("\u0000", "\\ud800", "\\udfff", "a\u202eb", "\u200f", "\ufeff", "", " ", "%00", "../", "\\u0000")
    .map((s) => (s.startsWith("\\") ? `"${s}"` : JSON.stringify(s))),
  fc.constant(JSON.stringify("x".repeat(10_240))),
  fc.constantFrom(...hostileNumbers),
  fc.constantFrom(...hostileDates.map((d) => JSON.stringify(d))),
  fc.constantFrom("null", "true", "false", "[]", "{}", '{"":null}', "[null]", '["a",1,{}]'),
  fc.integer({ min: 1, max: 2_000 }).map((depth) => `${"[".repeat(depth)}${"]".repeat(depth)}`),
  fc.integer({ min: 1, max: 2_000 }).map((depth) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`),
);

/** Every path to a value in `body`, the root excluded. */
export function paths(body: Json, prefix: (string | number)[] = []): (string | number)[][] {
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
export function mutations(valid: Json): fc.Arbitrary<FuzzInput> {
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

type JsonSchema = {
  type?: string | string[];
  enum?: Json[];
  const?: Json;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  format?: string;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
};

/**
 * Bodies of the shape `schema` (a zod request schema) describes: required fields always,
 * optional ones sometimes, each leaf of its JSON type but with edge and hostile content;
 * `words` (real feature names, entity ids) are mixed in so some bodies get past the schema.
 */
export function fromSchema(schema: z.ZodType, words: readonly string[] = []): fc.Arbitrary<Json> {
  const root = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const defs = root.$defs ?? {};
  const text = fc.oneof(
    { weight: 3, arbitrary: words.length ? fc.constantFrom(...words) : fc.string({ maxLength: 8 }) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
    { weight: 1, arbitrary: fc.constantFrom("\u0000", "\ud800", "a\u202eb", "", "x".repeat(10_240)) },
  );
  const number = (s: JsonSchema, integer: boolean) =>
    fc.oneof(
      integer
        ? fc.integer({ min: Math.max(s.minimum ?? -1e6, -1e6), max: Math.min(s.maximum ?? 1e6, 1e6) })
        : fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(0, -1, 2 ** 53, -(2 ** 53), 8.64e15, 1e308, -0, 5e-324),
    );
  const build = (s: JsonSchema, depth: number): fc.Arbitrary<Json> => {
    if (s.$ref) return build(defs[s.$ref.replace("#/$defs/", "")] ?? {}, depth);
    if (s.const !== undefined) return fc.constant(s.const);
    if (s.enum) return fc.constantFrom(...s.enum);
    const choices = s.anyOf ?? s.oneOf;
    if (choices) return fc.oneof(...choices.map((c) => build(c, depth)));
    if (s.allOf?.length) return build(Object.assign({}, ...s.allOf), depth);
    const type = Array.isArray(s.type) ? s.type[0] : s.type;
    switch (type) {
      case "string":
        return s.format === "date-time"
          ? fc.oneof(
              fc
                .date({ min: new Date("0001-01-01"), max: new Date("9999-12-31"), noInvalidDate: true })
                .map((d) => d.toISOString()),
              fc.constantFrom(...hostileDates),
            )
          : text;
      case "integer":
        return number(s, true);
      case "number":
        return number(s, false);
      case "boolean":
        return fc.boolean();
      case "null":
        return fc.constant(null);
      case "array": {
        if (depth > 4) return fc.constant([]);
        if (s.prefixItems) return fc.tuple(...s.prefixItems.map((p) => build(p, depth + 1)));
        const min = s.minItems ?? 0;
        return fc.array(build(s.items ?? {}, depth + 1), {
          minLength: min,
          maxLength: Math.max(min, Math.min(s.maxItems ?? 3, 3)),
        });
      }
      case "object": {
        if (depth > 4) return fc.constant({});
        const required = new Set(s.required ?? []);
        const fields = Object.fromEntries(
          Object.entries(s.properties ?? {}).map(([k, p]) => [k, build(p, depth + 1)] as const),
        );
        const record = fc.record(fields, { requiredKeys: Object.keys(fields).filter((k) => required.has(k)) });
        const extra = s.additionalProperties;
        if (extra && typeof extra === "object")
          return fc
            .tuple(record, fc.dictionary(text, build(extra, depth + 1), { maxKeys: 3 }))
            .map(([known, more]) => ({ ...more, ...known }) as Json);
        return record as fc.Arbitrary<Json>;
      }
      default:
        return fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>;
    }
  };
  return build(root, 0);
}

/** Everything a route is fuzzed with: schema-shaped bodies and mutations of a valid one. */
export function routeInputs(schema: z.ZodType, valid: Json, words: readonly string[] = []): fc.Arbitrary<FuzzInput> {
  const shaped = fromSchema(schema, words).map((body) => {
    const text = JSON.stringify(body);
    return { text, what: `schema-shaped ${text.slice(0, 120)}` };
  });
  return fc.oneof({ weight: 1, arbitrary: shaped }, { weight: 2, arbitrary: mutations(valid) });
}
