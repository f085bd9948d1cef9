// The hot path: latest values of F features for E entities. With the registry warm this is
// one online-store round trip (the registry revision, every cell and every aggregated
// window's fold together). Cells and windows the online store does not have are read from
// Postgres in one round trip (under RLS) and written back after the response. On-demand
// features are computed in one more Postgres round trip started beside the online store's
// read, and logged to the offline store after the response. Online store down or slower
// than REDIS_TIMEOUT_MS: everything is read from Postgres, and the answer says so.
import type { TenantContext } from "#shared/db/tenant.ts";
import { isoFromMs } from "#shared/features/iso-time.ts";
import { latestValueKey, readLatestValues } from "#shared/features/latest-values.ts";
import { computeOnDemand, isOnDemand, logServedValues } from "#shared/features/on-demand.ts";
import { readWindowTiles } from "#shared/features/window-reads.ts";
import {
  decodeFolded,
  encodeTile,
  foldTiles,
  onlineHorizon,
  type Tile,
  windowTileCount,
  windowTiles,
  windowValue,
} from "#shared/features/windows.ts";
import { AppError } from "#shared/http/errors.ts";
import { readPointInTime } from "#shared/offline-store/point-in-time.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";
import type { Cell, CellsRequest, CellWrite, TileWrite } from "#shared/online-store/store.ts";
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
  /** Where each plain feature's cell is in a hash: group index and field index. */
  fieldOf: Map<ServedFeature, { group: number; field: number }>;
  /** Aggregated features, in window order: window e * windowed.length + w is entity e's feature w. */
  windowed: ServedFeature[];
  /** Computed when read. */
  onDemand: ServedFeature[];
  request: CellsRequest;
}

// Cells are addressed by position (hash, field) rather than by a "feature|entity" string:
// a 100 x 10 read would otherwise build and hash 2,000 strings per request.
function planRead(ctx: TenantContext, resolved: Map<string, ServedFeature>, entityIds: string[], readMs: number): Plan {
  const groupIndex = new Map<string, number>();
  const groups: ServedFeature[][] = [];
  const fieldOf = new Map<ServedFeature, { group: number; field: number }>();
  const windowed: ServedFeature[] = [];
  const onDemand: ServedFeature[] = [];
  const seen = new Set<ServedFeature>();
  for (const feature of resolved.values()) {
    if (seen.has(feature)) continue;
    seen.add(feature);
    if (feature.window) {
      windowed.push(feature);
      continue;
    }
    if (isOnDemand(feature)) {
      onDemand.push(feature);
      continue;
    }
    let group = groupIndex.get(feature.groupId);
    if (group === undefined) {
      group = groups.length;
      groupIndex.set(feature.groupId, group);
      groups.push([]);
    }
    fieldOf.set(feature, { group, field: groups[group]!.push(feature) - 1 });
  }
  // Embeddings are what make an answer big (~12 bytes a float as text).
  let bytesPerEntity = 0;
  for (const feature of fieldOf.keys())
    bytesPerEntity += feature.dataType === "embedding" ? (feature.embeddingDimension ?? 0) * 12 : 0;
  // Windowed features ordered by group: the store answers entity by entity, group by group.
  const windowGroupIndex = new Map<string, ServedFeature[]>();
  for (const f of windowed) windowGroupIndex.set(f.groupId, [...(windowGroupIndex.get(f.groupId) ?? []), f]);
  windowed.splice(0, windowed.length, ...[...windowGroupIndex.values()].flat());
  const windowGroups = [...windowGroupIndex].map(([groupId, features]) => ({
    groupId,
    windows: features.map((f) => ({ field: f.field, ...windowTiles(readMs, f.window!) })),
  }));
  return {
    groups,
    fieldOf,
    windowed,
    onDemand,
    request: {
      tenantId: ctx.tenantId,
      entityIds,
      groups: groups.map((features) => ({ groupId: features[0]!.groupId, fields: features.map((f) => f.field) })),
      expectedBytes: bytesPerEntity * entityIds.length,
      ...(windowGroups.length ? { windowGroups } : {}),
    },
  };
}

function statusOf(feature: ServedFeature, eventMs: number | null, now: number): FeatureStatus {
  if (feature.ttlSeconds !== null && eventMs !== null && now - eventMs > feature.ttlSeconds * 1000) return "EXPIRED";
  return "PRESENT";
}

/** A window's answer and its tiles' write-back, from the tiles Postgres gave. */
function windowFromPostgres(
  feature: ServedFeature,
  entityId: string,
  read: { tiles: Map<number, Tile>; revision: number },
  readMs: number,
): { answer: ReturnType<typeof windowValue>; fill: TileWrite } {
  const window = feature.window!;
  const { from, to } = windowTiles(readMs, window);
  const inWindow = [...read.tiles].filter(([id]) => id >= from && id <= to).map(([, tile]) => tile);
  return {
    answer: windowValue(window.aggregation, foldTiles(inWindow)),
    fill: {
      mode: "fill",
      groupId: feature.groupId,
      field: feature.field,
      entityId,
      revision: read.revision,
      horizon: onlineHorizon(readMs, window),
      maxTiles: windowTileCount(window),
      tiles: [...read.tiles].map(([id, tile]) => ({ id, encoded: encodeTile(read.revision, tile) })),
    },
  };
}

export async function readOnlineFeatures(
  ctx: TenantContext,
  request: { entityType: string; entityIds: string[]; features: string[]; onDemandTimeoutMs?: number },
): Promise<OnlineReadResult> {
  const store = connectOnlineStore(ctx.env);
  let redisRoundTrips = 0;
  let postgresRoundTrips = 0;
  let redisState: OnlineReadResult["redis"] = store.enabled ? "hit" : "disabled";
  const readMs = Date.now();

  const { registry, resolved } = await resolveFeatures(ctx, request.features, request.entityType);
  let names = resolved;
  let plan = planRead(ctx, resolved, request.entityIds, readMs);
  // Started now, beside the online store's read: one Postgres round trip, not after it.
  const computeFor = (features: ServedFeature[]) => {
    const work = computeOnDemand(ctx, features, request.entityIds, readMs, request.onDemandTimeoutMs ?? 1000);
    work.catch(() => {}); // observed here; awaited (and thrown) below
    return work;
  };
  let onDemand = computeFor(plan.onDemand);
  let cached: (Cell | null)[][] | null = null;
  let folds: (string | null)[] | null = null;

  if (store.enabled) {
    try {
      let read = await store.read(plan.request);
      redisRoundTrips++;
      if (registry.revision !== read.revision) {
        // The registry changed since this isolate loaded it: reload, re-resolve, re-read.
        forgetRegistry(ctx.tenantId);
        const reloaded = await resolveFeatures(ctx, request.features, request.entityType);
        names = reloaded.resolved;
        plan = planRead(ctx, names, request.entityIds, readMs);
        onDemand = computeFor(plan.onDemand);
        read = await store.read(plan.request);
        redisRoundTrips++;
      }
      cached = read.cells;
      folds = read.windows;
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

  // Windows: folded by the store, or read from Postgres (and filled back) where it lacks them.
  const windowCount = request.entityIds.length * plan.windowed.length;
  const windows: ReturnType<typeof windowValue>[] = new Array(windowCount);
  const missingWindows: { index: number; feature: ServedFeature; entityId: string }[] = [];
  for (let index = 0; index < windowCount; index++) {
    const fold = folds?.[index];
    const feature = plan.windowed[index % plan.windowed.length]!;
    if (fold === null || fold === undefined) {
      missingWindows.push({ index, feature, entityId: request.entityIds[Math.floor(index / plan.windowed.length)]! });
    } else {
      windows[index] = windowValue(feature.window!.aggregation, decodeFolded(fold));
      fromRedis++;
    }
  }

  if (missing.length || missingWindows.length) {
    const [fromPostgres, windowReads] = await Promise.all([
      missing.length
        ? readLatestValues(
            ctx,
            request.entityType,
            missing.map((m) => ({ featureId: m.feature.id, version: m.feature.version, entityId: m.entityId })),
          )
        : null,
      missingWindows.length ? readWindowTiles(ctx, request.entityType, missingWindows, readMs) : null,
    ]);
    postgresRoundTrips++;
    if (redisState === "hit") redisState = "partial";
    const fills: CellWrite[] = [];
    for (const m of missing) {
      const cell = fromPostgres!.get(latestValueKey(m.feature.id, m.feature.version, m.entityId));
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
    const tileFills: TileWrite[] = [];
    missingWindows.forEach((m, i) => {
      const { answer, fill } = windowFromPostgres(m.feature, m.entityId, windowReads![i]!, readMs);
      windows[m.index] = answer;
      if (m.feature.onlineEnabled) tileFills.push(fill);
    });
    // Refill after the response; newest-wins, so a fill never overwrites a newer push.
    if (store.enabled && redisState !== "unavailable") {
      if (fills.length) ctx.defer(store.write(ctx.tenantId, fills, 5000));
      if (tileFills.length) ctx.defer(store.writeTiles(ctx.tenantId, tileFills, 5000));
    }
  }

  const computed = plan.onDemand.length ? await onDemand : null;
  if (computed) postgresRoundTrips++;
  const served: Parameters<typeof logServedValues>[2][number][] = [];

  const now = Date.now();
  const windowIndex = new Map(plan.windowed.map((f, i) => [f, i]));
  // Where each requested name's answer is, worked out once rather than per entity.
  const columns = request.features.map((name) => {
    const feature = names.get(name)!;
    return { name, feature, slot: plan.fieldOf.get(feature), window: windowIndex.get(feature) };
  });
  const entities = request.entityIds.map((entityId, e) => {
    const result: EntityFeatures = { entityId, features: {}, timestamps: {}, statuses: {} };
    for (const { name, feature, slot, window } of columns) {
      let value: unknown = null;
      let eventMs: number | null = null;
      let found = false;
      if (slot) {
        const cell = cells[e * groupCount + slot.group]![slot.field] ?? null;
        if (cell) [found, value, eventMs] = [true, cell.value, cell.eventMs];
      } else if (window !== undefined) {
        const answer = windows[e * plan.windowed.length + window];
        if (answer) [found, value, eventMs] = [true, answer.value, answer.eventMs];
      } else {
        const values = computed!.get(feature.field)!;
        const computedValue = values.get(entityId);
        if (computedValue) {
          [found, value, eventMs] = [true, computedValue.value, readMs];
          served.push({ feature, entityId, computed: computedValue });
        }
      }
      const status = found ? statusOf(feature, eventMs, now) : "NOT_FOUND";
      result.statuses[name] = status;
      result.features[name] = status === "PRESENT" ? value : null;
      result.timestamps[name] = status === "PRESENT" && eventMs !== null ? isoFromMs(eventMs) : null;
    }
    return result;
  });
  logServedValues(ctx, request.entityType, served, readMs);

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
