// Point-in-time rows as JSON objects, NDJSON lines or CSV records. Statuses follow the
// online route: PRESENT, NOT_FOUND (no value at that time), EXPIRED (older than the TTL).
// Cells carry their value as the JSON text Postgres gave: the streamed formats write it
// as it is (a training set of a million rows is never parsed and re-serialised), and
// only JSON answers parse it.
import { isoFromMs } from "#shared/features/iso-time.ts";
import type { PointInTimeCell, PointInTimeRow } from "#shared/offline-store/types.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";

type Status = "PRESENT" | "NOT_FOUND" | "EXPIRED";

export interface TrainingRowObject {
  entityId: string;
  timestamp: string;
  features: Record<string, unknown>;
  eventTimestamps: Record<string, string | null>;
  statuses: Record<string, Status>;
}

function statusOf(row: PointInTimeRow, cell: PointInTimeCell | null, feature: ServedFeature): Status {
  if (!cell) return "NOT_FOUND";
  const ttl = feature.ttlSeconds;
  return ttl !== null && cell.eventMs !== null && row.timestampMs - cell.eventMs > ttl * 1000 ? "EXPIRED" : "PRESENT";
}

export function toObject(row: PointInTimeRow, names: string[], features: ServedFeature[]): TrainingRowObject {
  const out: TrainingRowObject = {
    entityId: row.entityId,
    timestamp: isoFromMs(row.timestampMs),
    features: {},
    eventTimestamps: {},
    statuses: {},
  };
  names.forEach((name, i) => {
    const cell = row.cells[i]!;
    const status = statusOf(row, cell, features[i]!);
    out.statuses[name] = status;
    out.features[name] = status === "PRESENT" ? JSON.parse(cell.json) : null;
    out.eventTimestamps[name] = status === "PRESENT" && cell.eventMs !== null ? isoFromMs(cell.eventMs) : null;
  });
  return out;
}

/**
 * Appends a row's line to `out` as parts; the page is `out.join("")`. Joined once, the page
 * is one flat string: built with += it was a rope of ~60 pieces a row that took 3-4x longer
 * to build, kept the GC busy and had to be flattened again by TextEncoder (10,000 rows in
 * Node: 300 + 100 ms against 85 + 4 ms).
 */
export type LineWriter = (row: PointInTimeRow, out: string[]) => void;

/**
 * NDJSON lines, each the JSON of toObject's row, written without building it. A name asked
 * for twice is one key, as in an object.
 */
export function ndjsonEncoder(names: string[], features: ServedFeature[]): LineWriter {
  // Each column's `"name":` with the comma before it, and its three status fields, made once.
  const columns = [...new Map(names.map((name, i) => [name, i])).entries()].map(([name, index], c) => {
    const key = `${c ? "," : ""}${JSON.stringify(name)}:`;
    return {
      key,
      index,
      feature: features[index]!,
      nulls: `${key}null`,
      status: { PRESENT: `${key}"PRESENT"`, NOT_FOUND: `${key}"NOT_FOUND"`, EXPIRED: `${key}"EXPIRED"` },
    };
  });
  const times: string[] = [];
  const statuses: string[] = [];
  return (row, out) => {
    times.length = 0;
    statuses.length = 0;
    out.push(
      '{"entityId":',
      JSON.stringify(row.entityId),
      ',"timestamp":"',
      isoFromMs(row.timestampMs),
      '","features":{',
    );
    for (const column of columns) {
      const cell = row.cells[column.index]!;
      const status = statusOf(row, cell, column.feature);
      statuses.push(column.status[status]);
      if (status === "PRESENT") {
        out.push(column.key, cell.json);
        if (cell.eventMs === null) times.push(column.nulls);
        else times.push(column.key, '"', isoFromMs(cell.eventMs), '"');
      } else {
        out.push(column.nulls);
        times.push(column.nulls);
      }
    }
    out.push('},"eventTimestamps":{', ...times, '},"statuses":{', ...statuses, "}}\n");
  };
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A value's CSV text: strings as themselves, other values as compact JSON, null empty. */
function csvValue(json: string): string {
  const first = json.charCodeAt(0);
  // '"', '[', '{': parsed, so strings lose their quotes and arrays their spaces.
  if (first === 34 || first === 91 || first === 123) {
    const value = JSON.parse(json);
    return csvField(typeof value === "string" ? value : JSON.stringify(value));
  }
  return json === "null" ? "" : json;
}

export function csvHeader(names: string[]): string {
  return `${["entity_id", "timestamp", ...names].map(csvField).join(",")}\r\n`;
}

export function csvEncoder(names: string[], features: ServedFeature[]): LineWriter {
  return (row, out) => {
    out.push(csvField(row.entityId), ",", isoFromMs(row.timestampMs));
    for (let i = 0; i < names.length; i++) {
      const cell = row.cells[i]!;
      out.push(",", statusOf(row, cell, features[i]!) === "PRESENT" ? csvValue(cell.json) : "");
    }
    out.push("\r\n");
  };
}
