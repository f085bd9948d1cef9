// Pushed rows checked against their definitions: a row with any invalid value, or naming one
// feature version twice (`group.f` and `f`), is rejected whole, with its reasons; the values
// of the valid rows become writes, in request order (later rows are later ingestions).
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { msFromIso } from "./iso-time.ts";
import { checkValue } from "./values.ts";
import type { FeatureWrite } from "./writes.ts";

/** Events from the future would win newest-wins forever; a little clock skew is fine. */
export const maxFutureSkewMs = 5 * 60 * 1000;

export interface PushedRow {
  entityId: string;
  /** ISO-8601 with an offset, or epoch milliseconds. */
  eventTimestamp: string | number;
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
): { writes: FeatureWrite[]; rejected: RowRejection[] } {
  const writes: FeatureWrite[] = [];
  const rejected: RowRejection[] = [];
  rows.forEach((row, index) => {
    const reasons: RowRejection["reasons"] = [];
    const eventMs = typeof row.eventTimestamp === "number" ? row.eventTimestamp : msFromIso(row.eventTimestamp);
    if (eventMs > now + maxFutureSkewMs) reasons.push({ feature: null, reason: "eventTimestamp is in the future" });
    const rowWrites: FeatureWrite[] = [];
    const named = new Map<string, string>();
    for (const [name, raw] of Object.entries(row.features)) {
      const feature = resolved.get(name)!;
      const earlier = named.get(feature.field);
      if (earlier !== undefined) {
        reasons.push({ feature: name, reason: `names the same feature version as ${earlier}` });
        continue;
      }
      named.set(feature.field, name);
      const checked = checkValue(feature, raw);
      if (!checked.ok) reasons.push({ feature: name, reason: checked.reason });
      else {
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
    else writes.push(...rowWrites);
  });
  return { writes, rejected };
}
