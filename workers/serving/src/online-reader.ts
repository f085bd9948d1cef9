// The hot path: latest values of F features for E entities. With the registry warm this is
// one online-store round trip (the registry revision and every cell together). Cells the
// online store does not have are read from Postgres in one round trip (under RLS) and
// written back after the response. Online store down or slower than REDIS_TIMEOUT_MS:
// everything is read from Postgres, and the answer says so.
import type { TenantContext } from "#shared/db/tenant.ts";
import { isoFromMs } from "#shared/features/iso-time.ts";
import { latestValueKey, readLatestValues } from "#shared/features/latest-values.ts";
import { AppError } from "#shared/http/errors.ts";
import { readPointInTime } from "#shared/offline-store/point-in-time.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";
import type { Cell, CellsRequest, CellWrite } from "#shared/online-store/store.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { forgetRegistry, resolveFeatures } from "./registry-cache.ts";
import { toObject } from "./training-formats.ts";

export type FeatureStatus = "PRESENT" | "NOT_FOUND" | "EXPIRED";

export interface EntityFeatures {
  entityId: string;
  features: Record<string, unknown>;
  timestamps: Record<string, string | null>;
  statuses: Record<string, FeatureStatus>;
}

export interface OnlineReadResult {
  entities: EntityFeatures[];
  /** Where the values came from: all from Redis, all from Postgres, or both. */
  servedFrom: "redis" | "postgres" | "redis+postgres";
  redis: "hit" | "partial" | "unavailable" | "disabled";
  redisRoundTrips: number;
  postgresRoundTrips: number;
}

interface Plan {
  /** The features read from each group's hash, in group order. */
  groups: ServedFeature[][];
  /** For each requested name, where its cell is in a hash: group index and field index. */
  slots: { feature: ServedFeature; group: number; field: number }[];
  request: CellsRequest;
}

// Cells are addressed by position (hash, field) rather than by a "feature|entity" string:
// a 100 x 10 read would otherwise build and hash 2,000 strings per request.
function planRead(
  ctx: TenantContext,
  resolved: Map<string, ServedFeature>,
  names: readonly string[],
  entityIds: string[],
): Plan {
  const groupIndex = new Map<string, number>();
  const groups: ServedFeature[][] = [];
  const fieldOf = new Map<ServedFeature, { group: number; field: number }>();
  for (const feature of resolved.values()) {
    if (fieldOf.has(feature)) continue;
    let group = groupIndex.get(feature.groupId);
    if (group === undefined) {
      group = groups.length;
      groupIndex.set(feature.groupId, group);
      groups.push([]);
    }
    fieldOf.set(feature, { group, field: groups[group]!.push(feature) - 1 });
  }
  const slots = names.map((name) => {
    const feature = resolved.get(name)!;
    return { feature, ...fieldOf.get(feature)! };
  });
  // Embeddings are what make an answer big (~12 bytes a float as text).
  let bytesPerEntity = 0;
  for (const feature of fieldOf.keys())
    bytesPerEntity += feature.dataType === "embedding" ? (feature.embeddingDimension ?? 0) * 12 : 0;
  return {
    groups,
    slots,
    request: {
      tenantId: ctx.tenantId,
      entityIds,
      groups: groups.map((features) => ({ groupId: features[0]!.groupId, fields: features.map((f) => f.field) })),
      expectedBytes: bytesPerEntity * entityIds.length,
    },
  };
}

function statusOf(feature: ServedFeature, cell: Cell | null, now: number): FeatureStatus {
  if (!cell) return "NOT_FOUND";
  if (feature.ttlSeconds !== null && now - cell.eventMs > feature.ttlSeconds * 1000) return "EXPIRED";
  return "PRESENT";
}

export async function readOnlineFeatures(
  ctx: TenantContext,
  request: { entityType: string; entityIds: string[]; features: string[] },
): Promise<OnlineReadResult> {
  const store = connectOnlineStore(ctx.env);
  let redisRoundTrips = 0;
  let postgresRoundTrips = 0;
  let redisState: OnlineReadResult["redis"] = store.enabled ? "hit" : "disabled";

  const { registry, resolved } = await resolveFeatures(ctx, request.features, request.entityType);
  let plan = planRead(ctx, resolved, request.features, request.entityIds);
  let cached: (Cell | null)[][] | null = null;

  if (store.enabled) {
    try {
      let read = await store.read(plan.request);
      redisRoundTrips++;
      if (registry.revision !== read.revision) {
        // The registry changed since this isolate loaded it: reload, re-resolve, re-read.
        forgetRegistry(ctx.tenantId);
        const reloaded = await resolveFeatures(ctx, request.features, request.entityType);
        plan = planRead(ctx, reloaded.resolved, request.features, request.entityIds);
        read = await store.read(plan.request);
        redisRoundTrips++;
      }
      cached = read.cells;
    } catch (error) {
      // A feature removed by the change is the caller's error, not the store's.
      if (error instanceof AppError) throw error;
      console.warn("redis read failed, answering from postgres:", (error as Error).message);
      redisState = "unavailable";
    }
  }

  // cells[hash][field], as the plan laid them out.
  const groupCount = plan.groups.length;
  const hashCount = request.entityIds.length * groupCount;
  let fromRedis = 0;
  const missing: { hash: number; field: number; feature: ServedFeature; entityId: string }[] = [];
  const cells: (Cell | null)[][] = new Array(hashCount);
  for (let hash = 0; hash < hashCount; hash++) {
    const features = plan.groups[hash % groupCount]!;
    // The store's own arrays are used as they are: the hot path allocates nothing per hash.
    const found = cached?.[hash] ?? new Array<Cell | null>(features.length).fill(null);
    for (let field = 0; field < features.length; field++) {
      if (found[field]) fromRedis++;
      else {
        found[field] = null;
        missing.push({
          hash,
          field,
          feature: features[field]!,
          entityId: request.entityIds[Math.floor(hash / groupCount)]!,
        });
      }
    }
    cells[hash] = found;
  }

  if (missing.length) {
    const fromPostgres = await readLatestValues(
      ctx,
      request.entityType,
      missing.map((m) => ({ featureId: m.feature.id, version: m.feature.version, entityId: m.entityId })),
    );
    postgresRoundTrips++;
    if (redisState === "hit") redisState = "partial";
    const fills: CellWrite[] = [];
    for (const m of missing) {
      const cell = fromPostgres.get(latestValueKey(m.feature.id, m.feature.version, m.entityId));
      if (!cell) continue;
      cells[m.hash]![m.field] = cell;
      fills.push({
        groupId: m.feature.groupId,
        entityId: m.entityId,
        field: m.feature.field,
        eventMs: cell.eventMs,
        seq: cell.seq!,
        value: cell.value,
        expiresAtMs: m.feature.ttlSeconds === null ? null : cell.eventMs + m.feature.ttlSeconds * 1000,
      });
    }
    // Refill after the response; newest-wins, so a fill never overwrites a newer push.
    if (store.enabled && redisState !== "unavailable" && fills.length)
      ctx.defer(store.write(ctx.tenantId, fills, 5000));
  }

  const now = Date.now();
  const entities = request.entityIds.map((entityId, e) => {
    const result: EntityFeatures = { entityId, features: {}, timestamps: {}, statuses: {} };
    request.features.forEach((name, n) => {
      const slot = plan.slots[n]!;
      const cell = cells[e * groupCount + slot.group]![slot.field] ?? null;
      const status = statusOf(slot.feature, cell, now);
      result.statuses[name] = status;
      result.features[name] = status === "PRESENT" ? cell!.value : null;
      result.timestamps[name] = status === "PRESENT" ? isoFromMs(cell!.eventMs) : null;
    });
    return result;
  });

  const servedFrom = postgresRoundTrips === 0 ? "redis" : fromRedis === 0 ? "postgres" : "redis+postgres";
  return { entities, servedFrom, redis: redisState, redisRoundTrips, postgresRoundTrips };
}

/**
 * The values of F features for E entities as of `timestamp`, from the offline store (the
 * online route with `timestamp`): the same point-in-time rule as training sets.
 */
export async function readOnlineFeaturesAsOf(
  ctx: TenantContext,
  request: { entityType: string; entityIds: string[]; features: string[]; timestamp: string },
): Promise<OnlineReadResult> {
  const { resolved } = await resolveFeatures(ctx, request.features, request.entityType);
  const features = request.features.map((n) => resolved.get(n)!);
  const entities: EntityFeatures[] = [];
  let postgresRoundTrips = 0;
  const chunks = readPointInTime(ctx, {
    entityType: request.entityType,
    features,
    pairs: request.entityIds.map((entityId) => ({ entityId, timestamp: request.timestamp })),
    asOfIngestion: false,
  });
  for await (const chunk of chunks) {
    postgresRoundTrips++;
    for (const row of chunk) {
      const o = toObject(row, request.features, features);
      entities.push({
        entityId: o.entityId,
        features: o.features,
        timestamps: o.eventTimestamps,
        statuses: o.statuses,
      });
    }
  }
  return { entities, servedFrom: "postgres", redis: "disabled", redisRoundTrips: 0, postgresRoundTrips };
}
