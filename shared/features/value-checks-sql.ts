// The checks of values.ts (checkValue), written in SQL for set-based materialization: a
// transformation's rows are checked where they are, in Postgres, so a unit of any size never
// crosses the isolate. Same rules, same stored form, same failure reasons (a parity test
// holds the two together: value-checks-sql.test.ts).
//
// Input: a relation with `raw` (jsonb: to_jsonb of the transformation's value column, SQL
// NULL when the value is NULL). Output columns: `checked` (the stored form, jsonb) and
// `reason` (NULL when the value is accepted).
import { EMBEDDING_ITEMS, FLOAT4_MAX, type ValueDefinition } from "./values.ts";

const INT64_MAX = "9223372036854775807";
const INT64_MIN = "-9223372036854775808";
const SAFE_INTEGER = "9007199254740991";
const MAX_STRING = 64 * 1024;
const MAX_ARRAY = 10_000;
// float64: what a double holds; embeddings are float4 in pgvector.
const DOUBLE_MAX = "1.7976931348623157e308";
// Below this a double underflows to 0, which Postgres' cast refuses rather than rounds.
const DOUBLE_MIN = "2.5e-324";
// values.ts' ISO form, with its field checks (hours to 23, minutes and seconds to 59) in the
// pattern: Postgres reads 24:00 and second 60 as the next day or minute.
const ISO_WITH_OFFSET =
  "^\\d{4}-\\d{2}-\\d{2}T([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:?\\d{2})$";

/** A SQL string literal (standard_conforming_strings is on: only quotes need doubling). */
export function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** describe() of values.ts: how a refused value is named in a reason. */
const describe = (v: string) => `CASE jsonb_typeof(${v})
    WHEN 'null' THEN 'null' WHEN 'array' THEN 'an array' WHEN 'object' THEN 'object'
    WHEN 'number' THEN 'number' WHEN 'boolean' THEN 'boolean'
    ELSE CASE WHEN char_length(${v} #>> '{}') > 40 THEN 'a string' ELSE ${v}::text END END`;

interface TypedCheck {
  /** The reason a non-null value is refused, or NULL. */
  reason: string;
  /** Its stored form when accepted. */
  value: string;
}

// Integers: a JSON number or a decimal string, within int64; stored as a number up to 2^53,
// beyond as a decimal string (JSON numbers are doubles in JavaScript).
function int64Check(v: string): TypedCheck {
  const n = `(CASE WHEN jsonb_typeof(${v}) = 'number' THEN (${v})::numeric
                   WHEN jsonb_typeof(${v}) = 'string' AND (${v} #>> '{}') ~ '^-?\\d{1,19}$' THEN (${v} #>> '{}')::numeric END)`;
  return {
    reason: `CASE WHEN ${n} IS NULL THEN 'expected an int64 (number or decimal string), got ' || ${describe(v)}
                  WHEN ${n} <> trunc(${n}) THEN 'expected an integer, got ' || (${v})::text
                  WHEN ${n} > ${INT64_MAX} OR ${n} < ${INT64_MIN} THEN 'outside the int64 range' END`,
    value: `CASE WHEN abs(${n}) <= ${SAFE_INTEGER} THEN to_jsonb(${n}::bigint) ELSE to_jsonb(${n}::bigint::text) END`,
  };
}

function float64Check(v: string): TypedCheck {
  const finite = `(jsonb_typeof(${v}) = 'number' AND abs((${v})::numeric) <= ${DOUBLE_MAX}
                   AND ((${v})::numeric = 0 OR abs((${v})::numeric) >= ${DOUBLE_MIN}))`;
  return {
    reason: `CASE WHEN NOT ${finite} THEN 'expected a finite number, got ' || ${describe(v)} END`,
    value: `to_jsonb((${v})::float8)`,
  };
}

// Timestamps: an ISO-8601 string with an offset that exists, or epoch milliseconds; stored
// in UTC with milliseconds, or microseconds when it has them, as values.ts does.
function timestampCheck(v: string): TypedCheck {
  // Digits past the microsecond are dropped, as msFromIso does: PostgreSQL would round
  // 23:59:59.9999999 into the next day.
  const text = `regexp_replace(${v} #>> '{}', '(\\.\\d{6})\\d+', '\\1')`;
  const ts = `(CASE WHEN jsonb_typeof(${v}) = 'string' AND ${text} ~ ${sqlLiteral(ISO_WITH_OFFSET)} THEN fs_try_timestamptz(${text})
                    WHEN jsonb_typeof(${v}) = 'number' AND (${v})::numeric = trunc((${v})::numeric)
                         AND abs((${v})::numeric) <= 8640000000000000
                      THEN to_timestamp((${v})::numeric / 1000) END)`;
  return {
    reason: `CASE WHEN jsonb_typeof(${v}) = 'string' AND ${text} ~ ${sqlLiteral(ISO_WITH_OFFSET)} AND ${ts} IS NULL
                    THEN (${v})::text || ' does not exist (day or time out of range)'
                  WHEN ${ts} IS NULL THEN 'expected an ISO-8601 timestamp with an offset, or epoch milliseconds, got ' || ${describe(v)}
                  WHEN ${ts} < '0001-01-01T00:00:00Z' OR ${ts} >= '10000-01-01T00:00:00Z' THEN 'timestamp out of range' END`,
    value: `to_jsonb(to_char(${ts} AT TIME ZONE 'UTC',
                     CASE WHEN extract(microseconds FROM ${ts})::int % 1000 = 0 THEN 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'
                          ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END))`,
  };
}

function arrayCheck(v: string): TypedCheck {
  return {
    reason: `CASE WHEN jsonb_typeof(${v}) <> 'array' THEN 'expected an array, got ' || ${describe(v)}
                  WHEN jsonb_array_length(${v}) > ${MAX_ARRAY} THEN 'array longer than ${MAX_ARRAY} items'
                  WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(${v}) AS item(x)
                               WHERE jsonb_typeof(x) NOT IN ('number', 'string', 'boolean', 'null'))
                    THEN 'array items must be finite numbers, strings, booleans or null' END`,
    value: v,
  };
}

// Embeddings: an array of exactly `dimension` finite numbers; a pgvector value arrives as
// its text form ("[1,2,3]"), which is JSON too.
function embeddingCheck(raw: string, dimension: number | null): TypedCheck {
  const v = `(CASE WHEN jsonb_typeof(${raw}) = 'string' AND (${raw} #>> '{}') ~ '^\\[.*\\]$'
                   THEN COALESCE(fs_try_jsonb(${raw} #>> '{}'), ${raw}) ELSE ${raw} END)`;
  return {
    reason: `CASE WHEN jsonb_typeof(${v}) <> 'array' THEN 'expected an embedding (array of numbers), got ' || ${describe(v)}
                  WHEN jsonb_array_length(${v}) <> ${dimension ?? -1}
                    THEN 'expected ${dimension} dimensions, got ' || jsonb_array_length(${v})
                  WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(${v}) AS item(x)
                               WHERE jsonb_typeof(x) <> 'number' OR abs(x::numeric) > ${FLOAT4_MAX})
                    THEN ${sqlLiteral(EMBEDDING_ITEMS)} END`,
    value: v,
  };
}

function typedCheck(definition: ValueDefinition, v: string): TypedCheck {
  switch (definition.dataType) {
    case "int64":
      return int64Check(v);
    case "float64":
      return float64Check(v);
    case "string":
      return {
        reason: `CASE WHEN jsonb_typeof(${v}) <> 'string' THEN 'expected a string, got ' || ${describe(v)}
                      WHEN char_length(${v} #>> '{}') > ${MAX_STRING} THEN 'string longer than ${MAX_STRING} characters' END`,
        value: v,
      };
    case "bool":
      return {
        reason: `CASE WHEN jsonb_typeof(${v}) <> 'boolean' THEN 'expected a boolean, got ' || ${describe(v)} END`,
        value: v,
      };
    case "timestamp":
      return timestampCheck(v);
    case "array":
      return arrayCheck(v);
    case "embedding":
      return embeddingCheck(v, definition.embeddingDimension);
    default:
      return { reason: sqlLiteral(`unsupported data type ${definition.dataType}`), value: v };
  }
}

/** The validation rules on an accepted value `c` (its stored form). */
function rulesReason(definition: ValueDefinition, c: string): string | null {
  const rules = definition.validationRules;
  if (!rules) return null;
  const checks: string[] = [];
  const number = `(CASE WHEN jsonb_typeof(${c}) = 'number' THEN (${c})::numeric END)`;
  if (rules.min !== undefined)
    checks.push(`WHEN ${number} < ${Number(rules.min)} THEN (${c})::text || ' is below the minimum ${rules.min}'`);
  if (rules.max !== undefined)
    checks.push(`WHEN ${number} > ${Number(rules.max)} THEN (${c})::text || ' is above the maximum ${rules.max}'`);
  if (rules.pattern !== undefined) {
    checks.push(`WHEN jsonb_typeof(${c}) = 'string' AND fs_try_regex_match(${c} #>> '{}', ${sqlLiteral(rules.pattern)}) IS NOT TRUE
                   THEN ${sqlLiteral(`does not match the pattern ${rules.pattern}`)}`);
  }
  if (rules.allowedValues !== undefined) {
    checks.push(`WHEN NOT (${sqlLiteral(JSON.stringify(rules.allowedValues))}::jsonb @> jsonb_build_array(${c}))
                   THEN ${describe(c)} || ' is not one of the allowed values'`);
  }
  return checks.length ? `CASE ${checks.join(" ")} END` : null;
}

/**
 * `SELECT <columns of source>, checked, reason FROM source`: each row's value checked
 * against the definition, in one pass. `source` must have a `raw jsonb` column.
 */
export function checkedValuesSql(definition: ValueDefinition, source: string): string {
  const notNull = definition.validationRules?.notNull === true;
  const nullReason = notNull
    ? sqlLiteral("null is not allowed (notNull)")
    : definition.dataType === "embedding"
      ? sqlLiteral("an embedding cannot be null")
      : "NULL";
  const typed = typedCheck(definition, "t.raw");
  const reason = typedCheck(definition, "s.raw").reason;
  const rules = rulesReason(definition, "c.checked");
  // OFFSET 0 keeps each level from being flattened into the next, which would evaluate
  // the type check once per reference.
  return `
    SELECT c.*, COALESCE(c.type_reason, ${rules ? `CASE WHEN c.checked = 'null'::jsonb THEN NULL ELSE ${rules} END` : "NULL"}) AS reason
    FROM (
      SELECT t.*,
             CASE WHEN t.raw IS NULL OR t.raw = 'null'::jsonb THEN 'null'::jsonb
                  WHEN t.type_reason IS NULL THEN ${typed.value} END AS checked
      FROM (
        SELECT s.*, CASE WHEN s.raw IS NULL OR s.raw = 'null'::jsonb THEN ${nullReason} ELSE ${reason} END AS type_reason
        FROM ${source} s OFFSET 0
      ) t OFFSET 0
    ) c`;
}
