// Point-in-time rows as they travel from Postgres: one delimited text per row instead of a
// column per cell. The driver's cost is partly per column (100,000 rows of 10 features: 23
// columns arrived in 1.45 s, one in 1.2 s over a session), and over HTTP every cell is a
// JSON value to write and parse.
import type { PointInTimeCell, PointInTimeRow } from "./types.ts";

/**
 * Separates the fields of a row's line. JSON text never holds it unescaped, and the entity
 * id, which may, comes last.
 */
const unitSeparator = "\x1f";

/**
 * A statement shaped (ord, entity_id, ts_ms, v<i>, m<i>...) as one text column `line` per row,
 * in ord order: ord, ts_ms, then value and ms per feature ("" for none), then the entity id.
 */
export function lineOf(featureCount: number, text: string): string {
  const cells = Array.from(
    { length: featureCount },
    (_, i) => `coalesce(q.v${i}, '') || E'\\x1f' || coalesce(q.m${i}::text, '')`,
  );
  return `SELECT q.ord::text || E'\\x1f' || q.ts_ms::text || E'\\x1f' || ${cells.map((c) => `${c} || E'\\x1f'`).join(" || ")} || q.entity_id AS line
    FROM (${text}) AS q ORDER BY q.ord`;
}

/** A line of lineOf as a row; its ord goes to ords[at]. */
export function rowOfLine(line: string, featureCount: number, ords: number[], at: number): PointInTimeRow {
  const fields = line.split(unitSeparator);
  ords[at] = Number(fields[0]);
  const cells: (PointInTimeCell | null)[] = new Array(featureCount);
  for (let i = 0; i < featureCount; i++) {
    const json = fields[2 + 2 * i]!;
    const ms = fields[3 + 2 * i]!;
    // An aggregate over no events has a value (count 0) and no event time.
    cells[i] = json === "" ? null : { json, eventMs: ms === "" ? null : Number(ms) };
  }
  const last = 2 + 2 * featureCount;
  return {
    timestampMs: Number(fields[1]),
    cells,
    entityId: fields.length === last + 1 ? fields[last]! : fields.slice(last).join(unitSeparator),
  };
}
