// The hot path: latest values of F features for E entities. With the registry warm this is
// one Redis round trip (a script that checks the registry revision and HMGETs every cell).
// Cells Redis does not have are read from Postgres in one round trip (under RLS) and
// written back to Redis after the response. Redis down or slower than REDIS_TIMEOUT_MS:
// everything is read from Postgres, and the answer says so.
import { sql } from "drizzle-orm";
import { tenantRows } from "#shared/db/tenant.ts";
import { isoFromMs } from "#shared/features/iso-time.ts";
import { AppError } from "#shared/http/errors.ts";
import type { TenantContext } from "#shared/http/tenant-context.ts";
import {
  type CellsRequest,
  type CellWrite,
  decodeCell,
  readCells,
  valueKeys,
  writeCells,
} from "#shared/online-store/redis.ts";
import { connectRedis, connectRedisReader, withDeadline } from "#shared/online-store/redis-client.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { forgetRegistry, resolveFeatures } from "./registry-cache.ts";

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

interface Cell {
  eventMs: number;
  value: unknown;
}

interface Plan {
  /** The features read from each group's hash, in group order. */
  groups: ServedFeature[][];
  /** One hash per (entity, group), entity-major: keys[entity * groups.length + group]. */
  keys: string[];
  /** For each requested name, where its cell is in a hash: group index and field index. */
  slots: { feature: ServedFeature; group: number; field: number }[];
  request: CellsRequest;
}

// Cells are addressed by position (hash, field) rather than by a "feature|entity" string:
// a 100 x 10 read would otherwise build and hash 2,000 strings per request.
async function planRead(
  ctx: TenantContext,
  resolved: Map<string, ServedFeature>,
  names: readonly string[],
  entityIds: string[],
): Promise<Plan> {
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
  const groupIds = groups.map((features) => features[0]!.groupId);
  const keys = await valueKeys(ctx.tenantId, entityIds, groupIds);
  return {
    groups,
    keys,
    slots,
    request: { groupFields: groups.map((features) => features.map((f) => f.id)), keys },
  };
}

/** Latest values from Postgres for the given (feature, entity) cells, in one round trip. */
async function readFromPostgres(
  ctx: TenantContext,
  entityType: string,
  wanted: { feature: ServedFeature; entityId: string }[],
): Promise<Map<string, Cell>> {
  const found = new Map<string, Cell>();
  if (wanted.length === 0) return found;
  // Lists travel as one JSON parameter: drizzle would expand an array into a row of parameters.
  const pairs = JSON.stringify(wanted.map((w) => ({ feature_id: w.feature.id, entity_id: w.entityId })));
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`WITH wanted AS (
          SELECT * FROM jsonb_to_recordset(${pairs}::jsonb) AS w(feature_id uuid, entity_id text)
        )
        SELECT o.feature_id, o.entity_id, o.value, (extract(epoch FROM o.event_timestamp) * 1000)::bigint AS event_ms
        FROM ai_feature_online o JOIN wanted w USING (feature_id, entity_id)
        WHERE o.entity_type = ${entityType}
        UNION ALL
        SELECT e.feature_id, e.entity_id, e.embedding::text::jsonb, (extract(epoch FROM e.event_timestamp) * 1000)::bigint
        FROM ai_feature_embeddings_online e JOIN wanted w USING (feature_id, entity_id)
        WHERE e.entity_type = ${entityType}`,
  ]);
  for (const r of rows!) {
    found.set(`${r.feature_id}\u0000${r.entity_id}`, { eventMs: Number(r.event_ms), value: r.value });
  }
  return found;
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
  const redis = connectRedisReader(ctx.env);
  let redisRoundTrips = 0;
  let postgresRoundTrips = 0;
  let redisState: OnlineReadResult["redis"] = redis ? "hit" : "disabled";

  const { registry, resolved } = await resolveFeatures(ctx, request.features, request.entityType);
  let plan = await planRead(ctx, resolved, request.features, request.entityIds);
  let cached: (string | null)[][] | null = null;

  if (redis) {
    try {
      let read = await readCells(redis, ctx.tenantId, plan.request);
      redisRoundTrips++;
      if (registry.revision !== read.revision) {
        // The registry changed since this isolate loaded it: reload, re-resolve, re-read.
        forgetRegistry(ctx.tenantId);
        const reloaded = await resolveFeatures(ctx, request.features, request.entityType);
        plan = await planRead(ctx, reloaded.resolved, request.features, request.entityIds);
        read = await readCells(redis, ctx.tenantId, plan.request);
        redisRoundTrips++;
      }
      cached = read.cells;
    } catch (error) {
      // A feature removed by the change is the caller's error, not Redis'.
      if (error instanceof AppError) throw error;
      console.warn("redis read failed, answering from postgres:", (error as Error).message);
      redisState = "unavailable";
    }
  }

  // cells[hash][field], as the plan laid them out.
  const groupCount = plan.groups.length;
  let fromRedis = 0;
  const missing: { hash: number; field: number; feature: ServedFeature; entityId: string }[] = [];
  const cells: (Cell | null)[][] = plan.keys.map((_, hash) => {
    const features = plan.groups[hash % groupCount]!;
    const raw = cached?.[hash];
    return features.map((feature, field) => {
      const cell = raw ? decodeCell(raw[field]) : null;
      if (cell) fromRedis++;
      else missing.push({ hash, field, feature, entityId: request.entityIds[Math.floor(hash / groupCount)]! });
      return cell;
    });
  });

  if (missing.length) {
    const fromPostgres = await readFromPostgres(ctx, request.entityType, missing);
    postgresRoundTrips++;
    if (redisState === "hit") redisState = "partial";
    const fills: CellWrite[] = [];
    for (const m of missing) {
      const cell = fromPostgres.get(`${m.feature.id}\u0000${m.entityId}`);
      if (!cell) continue;
      cells[m.hash]![m.field] = cell;
      fills.push({
        key: plan.keys[m.hash]!,
        field: m.feature.id,
        eventMs: cell.eventMs,
        value: cell.value,
        expiresAtMs: m.feature.ttlSeconds === null ? null : cell.eventMs + m.feature.ttlSeconds * 1000,
      });
    }
    // Refill after the response; newest-wins, so a fill never overwrites a newer push.
    const writer = connectRedis(ctx.env);
    if (writer && redisState !== "unavailable" && fills.length)
      ctx.defer(withDeadline(writeCells(writer, fills), 5000));
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
