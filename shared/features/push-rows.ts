// Pushed rows checked against their definitions: a row with any invalid value, or naming one
// feature version twice (`group.f` and `f`), is rejected whole, with its reasons; the values
// of the valid rows become writes, in request order (later rows are later ingestions).
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import type { EventWrite } from "./events.ts";
import { msFromIso } from "./iso-time.ts";
import { checkValue } from "./values.ts";
import type { FeatureWrite } from "./writes.ts";

/** Events from the future would win newest-wins forever; a little clock skew is fine. */
export const maxFutureSkewMs = 5 * 60 * 1000;

export interface PushedRow {
  entityId: string;
  /** ISO-8601 with an offset, or epoch milliseconds. */
  eventTimestamp: string | number;
  /** The event's identity for aggregated features (duplicates count once, a new value restates it). */
  eventId?: string;
  features: Record<string, unknown>;
}

export interface RowRejection {
  row: number;
  entityId: string;
  reasons: { feature: string | null; reason: string }[];
}

/** `resolved` maps every feature name the rows use to its definition. */
export function checkPushedRows(
  entityType: string,
  rows: readonly PushedRow[],
  resolved: ReadonlyMap<string, ServedFeature>,
  now = Date.now(),
): { writes: FeatureWrite[]; events: EventWrite[]; rejected: RowRejection[] } {
  const writes: FeatureWrite[] = [];
  const events: EventWrite[] = [];
  const rejected: RowRejection[] = [];
  rows.forEach((row, index) => {
    const reasons: RowRejection["reasons"] = [];
    const eventMs = typeof row.eventTimestamp === "number" ? row.eventTimestamp : msFromIso(row.eventTimestamp);
    if (eventMs > now + maxFutureSkewMs) reasons.push({ feature: null, reason: "eventTimestamp is in the future" });
    const rowWrites: FeatureWrite[] = [];
    const rowEvents: EventWrite[] = [];
    const named = new Map<string, string>();
    for (const [name, raw] of Object.entries(row.features)) {
      const feature = resolved.get(name)!;
      const earlier = named.get(feature.field);
      if (earlier !== undefined) {
        reasons.push({ feature: name, reason: `names the same feature version as ${earlier}` });
        continue;
      }
      named.set(feature.field, name);
      if (feature.sourceType === "on_demand" && feature.transformationSql) {
        reasons.push({
          feature: name,
          reason: "is computed when read (on-demand transformationSql): it cannot be pushed",
        });
        continue;
      }
      const checked = checkValue(feature, raw);
      if (!checked.ok) reasons.push({ feature: name, reason: checked.reason });
      else if (feature.window) {
        if (checked.value === null)
          reasons.push({ feature: name, reason: "an aggregated feature's event needs a value" });
        else
          rowEvents.push({
            feature,
            entityType,
            entityId: row.entityId,
            eventId: row.eventId ?? null,
            eventMs,
            value: checked.value,
          });
      } else {
        rowWrites.push({
          feature,
          entityType,
          entityId: row.entityId,
          value: checked.value,
          valueType: checked.valueType,
          eventMs,
        });
      }
    }
    if (reasons.length) rejected.push({ row: index, entityId: row.entityId, reasons });
    else {
      writes.push(...rowWrites);
      events.push(...rowEvents);
    }
  });
  return { writes, events, rejected };
}
