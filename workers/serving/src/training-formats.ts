// Point-in-time rows as JSON objects, NDJSON lines or CSV records. Statuses follow the
// online route: PRESENT, NOT_FOUND (no value at that time), EXPIRED (older than the TTL).
import { isoFromMs } from "../../../shared/iso-time.ts";
import type { PointInTimeRow } from "../../../shared/point-in-time.ts";
import type { ServedFeature } from "../../../shared/registry/snapshot.ts";

export interface TrainingRowObject {
  entityId: string;
  timestamp: string;
  features: Record<string, unknown>;
  eventTimestamps: Record<string, string | null>;
  statuses: Record<string, "PRESENT" | "NOT_FOUND" | "EXPIRED">;
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
    const cell = row.cells[i];
    const ttl = features[i]!.ttlSeconds;
    const expired = cell && ttl !== null && row.timestampMs - cell.eventMs > ttl * 1000;
    out.statuses[name] = !cell ? "NOT_FOUND" : expired ? "EXPIRED" : "PRESENT";
    out.features[name] = cell && !expired ? cell.value : null;
    out.eventTimestamps[name] = cell && !expired ? isoFromMs(cell.eventMs) : null;
  });
  return out;
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break; non-strings as JSON. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvHeader(names: string[]): string {
  return `${["entity_id", "timestamp", ...names].map(csvField).join(",")}\r\n`;
}

export function toCsvRecord(row: TrainingRowObject, names: string[]): string {
  return `${[row.entityId, row.timestamp, ...names.map((n) => row.features[n])].map(csvField).join(",")}\r\n`;
}
