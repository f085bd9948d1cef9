// The hot path: latest values of F features for E entities. With the registry warm this is
// one Redis round trip (a script that checks the registry revision and HMGETs every cell).
// Cells Redis does not have are read from Postgres in one round trip (under RLS) and
// written back to Redis after the response. Redis down or slower than REDIS_TIMEOUT_MS:
// everything is read from Postgres, and the answer says so.
import { sql } from "drizzle-orm";
import { tenantRows } from "../../../shared/db.ts";
import { AppError } from "../../../shared/errors.ts";
import {
  type CellsRequest,
  type CellWrite,
  decodeCell,
  readCells,
  valueKey,
  writeCells,
} from "../../../shared/online-cache.ts";
import { connectRedis, withDeadline } from "../../../shared/redis.ts";
import type { ServedFeature } from "../../../shared/registry/snapshot.ts";
import type { TenantContext } from "../../../shared/tenant-context.ts";
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
  resolved: Map<string, ServedFeature>;
  /** One Redis hash per (entity, group), entity-major: the features of that group it holds. */
  keys: { key: string; entityId: string; features: ServedFeature[] }[];
  request: CellsRequest;
}

async function planRead(ctx: TenantContext, resolved: Map<string, ServedFeature>, entityIds: string[]): Promise<Plan> {
  const byGroup = new Map<string, ServedFeature[]>();
  for (const f of new Set(resolved.values())) byGroup.set(f.groupId, [...(byGroup.get(f.groupId) ?? []), f]);
  const keys: Plan["keys"] = [];
  for (const entityId of entityIds) {
    for (const [groupId, features] of byGroup) {
      keys.push({ key: await valueKey(ctx.tenantId, groupId, entityId), entityId, features });
    }
  }
  const groupFields = [...byGroup.values()].map((features) => features.map((f) => f.id));
  return { resolved, keys, request: { groupFields, keys: keys.map((k) => k.key) } };
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

function statusOf(feature: ServedFeature, cell: Cell | undefined, now: number): FeatureStatus {
  if (!cell) return "NOT_FOUND";
  if (feature.ttlSeconds !== null && now - cell.eventMs > feature.ttlSeconds * 1000) return "EXPIRED";
  return "PRESENT";
}

export async function readOnlineFeatures(
  ctx: TenantContext,
  request: { entityType: string; entityIds: string[]; features: string[] },
): Promise<OnlineReadResult> {
  const redis = connectRedis(ctx.env);
  const timeout = ctx.env.REDIS_TIMEOUT_MS;
  let redisRoundTrips = 0;
  let postgresRoundTrips = 0;
  let redisState: OnlineReadResult["redis"] = redis ? "hit" : "disabled";

  const { registry, resolved } = await resolveFeatures(ctx, request.features, request.entityType);
  let plan = await planRead(ctx, resolved, request.entityIds);
  let cached: (string | null)[][] | null = null;

  if (redis) {
    try {
      let read = await withDeadline(readCells(redis, ctx.tenantId, plan.request), timeout);
      redisRoundTrips++;
      if (registry.revision !== read.revision) {
        // The registry changed since this isolate loaded it: reload, re-resolve, re-read.
        forgetRegistry(ctx.tenantId);
        const reloaded = await resolveFeatures(ctx, request.features, request.entityType);
        plan = await planRead(ctx, reloaded.resolved, request.entityIds);
        read = await withDeadline(readCells(redis, ctx.tenantId, plan.request), timeout);
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

  const cells = new Map<string, Cell>();
  let fromRedis = 0;
  const missing: { feature: ServedFeature; entityId: string }[] = [];
  plan.keys.forEach((k, i) => {
    k.features.forEach((feature, j) => {
      const cell = cached ? decodeCell(cached[i]?.[j]) : null;
      if (cell) {
        cells.set(`${feature.id}\u0000${k.entityId}`, cell);
        fromRedis++;
      } else missing.push({ feature, entityId: k.entityId });
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
      cells.set(`${m.feature.id}\u0000${m.entityId}`, cell);
      fills.push({
        key: await valueKey(ctx.tenantId, m.feature.groupId, m.entityId),
        field: m.feature.id,
        eventMs: cell.eventMs,
        value: cell.value,
        expiresAtMs: m.feature.ttlSeconds === null ? null : cell.eventMs + m.feature.ttlSeconds * 1000,
      });
    }
    // Refill after the response; newest-wins, so a fill never overwrites a newer push.
    if (redis && redisState !== "unavailable" && fills.length) ctx.defer(withDeadline(writeCells(redis, fills), 5000));
  }

  const now = Date.now();
  const entities = request.entityIds.map((entityId) => {
    const result: EntityFeatures = { entityId, features: {}, timestamps: {}, statuses: {} };
    for (const name of request.features) {
      const feature = plan.resolved.get(name)!;
      const cell = cells.get(`${feature.id}\u0000${entityId}`);
      const status = statusOf(feature, cell, now);
      result.statuses[name] = status;
      result.features[name] = status === "PRESENT" ? cell!.value : null;
      result.timestamps[name] = status === "PRESENT" ? new Date(cell!.eventMs).toISOString() : null;
    }
    return result;
  });

  const servedFrom = postgresRoundTrips === 0 ? "redis" : fromRedis === 0 ? "postgres" : "redis+postgres";
  return { entities, servedFrom, redis: redisState, redisRoundTrips, postgresRoundTrips };
}
