// On-demand features (DESIGN.md, "Source types mean what they say"): computed when read, for
// the entities asked, by their transformation SQL in the materialization sandbox with NOW() =
// the read time and a short statement timeout. Every feature of a read is one statement of
// one sandbox transaction: one Postgres round trip, started beside the online store's read.
// Each value served is then logged to the offline store at the read time, so a training set
// built later holds what was served.
import { pgError } from "#shared/db/pg-errors.ts";
import type { TenantContext } from "#shared/db/tenant.ts";
import { AppError } from "#shared/http/errors.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { bindTransformation, inSandbox, windowValues } from "./transformation.ts";
import { checkValue, fromTransformation, type ValueType } from "./values.ts";
import { type FeatureWrite, writeFeatureValues } from "./writes.ts";

/** A value computed when read, with its storage kind (an embedding is logged to the embeddings). */
export interface ComputedValue {
  value: unknown;
  valueType: ValueType;
}

/** A feature computed when read rather than stored. */
export const isOnDemand = (f: ServedFeature) => f.sourceType === "on_demand" && f.transformationSql !== null;

/** The earliest :start_time an on-demand transformation sees: it reads the whole history up to now. */
const beginning = new Date(0);

/**
 * Each feature's values for the entities asked, at `readMs`: a Map per feature version
 * (field) of entity -> value. An entity the SQL gives no row (or an invalid value) is absent;
 * with several rows, the last one counts. A transformation that fails or overruns the timeout
 * answers 422 naming the feature.
 */
export async function computeOnDemand(
  ctx: TenantContext,
  features: readonly ServedFeature[],
  entityIds: readonly string[],
  readMs: number,
  statementTimeoutMs: number,
): Promise<Map<string, Map<string, ComputedValue>>> {
  const out = new Map<string, Map<string, ComputedValue>>();
  if (features.length === 0 || entityIds.length === 0) return out;
  const readAt = new Date(readMs);
  const bound = features.map((f) => bindTransformation(f.transformationSql!));
  let results: unknown[];
  try {
    results = await inSandbox(ctx.db, ctx.tenantId, { asOf: readAt, statementTimeoutMs }, (sql) =>
      bound.map((b) => {
        const ids = `$${b.parameters.length + 1}::text[]`;
        // The entity filter is pushed into the transformation by the planner where it can be.
        return sql.query(
          `SELECT t.entity_id::text AS entity_id, t.value FROM (${b.text}) AS t WHERE t.entity_id::text = ANY(${ids})`,
          [...windowValues(b, beginning, readAt), entityIds],
        );
      }),
    );
  } catch (error) {
    const pg = pgError(error);
    if (!pg) throw error;
    const timedOut = pg.code === "57014";
    throw new AppError(
      "UNPROCESSABLE",
      timedOut
        ? `An on-demand feature took longer than ${statementTimeoutMs} ms to compute`
        : `An on-demand feature could not be computed: ${pg.message}`,
      features.map((f) => ({ feature: f.qualifiedName, message: pg.message, postgresCode: pg.code })),
    );
  }
  features.forEach((feature, i) => {
    const values = new Map<string, ComputedValue>();
    for (const row of results[i] as Record<string, unknown>[]) {
      const checked = checkValue(feature, fromTransformation(feature.dataType, row.value));
      if (checked.ok) values.set(row.entity_id as string, { value: checked.value, valueType: checked.valueType });
      else console.warn(`on-demand ${feature.qualifiedName} gave an invalid value: ${checked.reason}`);
    }
    out.set(feature.field, values);
  });
  return out;
}

/** Logs served on-demand values to the offline store at the read time (after the response). */
export function logServedValues(
  ctx: TenantContext,
  entityType: string,
  served: readonly { feature: ServedFeature; entityId: string; computed: ComputedValue }[],
  readMs: number,
): void {
  const writes: FeatureWrite[] = served.map(({ feature, entityId, computed }) => ({
    // Offline only: the online store has nothing to serve for a feature computed when read.
    feature: { ...feature, onlineEnabled: false },
    entityType,
    entityId,
    value: computed.value,
    valueType: computed.valueType,
    eventMs: readMs,
  }));
  if (writes.length) ctx.defer(writeFeatureValues(ctx, writes));
}
