// Writing feature values: offline history once per (feature, entity, event time), online
// latest value with newest-event-wins in Postgres (conditional upsert) and then in Redis
// (the online store's newest-wins write). Used by push ingestion and by materialization.
import { sql } from "drizzle-orm";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";
import type { CellWrite } from "#shared/online-store/store.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import type { ValueType } from "./values.ts";

export interface FeatureWrite {
  feature: ServedFeature;
  entityType: string;
  entityId: string;
  value: unknown;
  valueType: ValueType;
  eventTime: Date;
}

export interface WriteResult {
  offlineInserted: number;
  onlineUpdated: number;
  cache: "written" | "unavailable" | "disabled";
}

function expiresAt(w: FeatureWrite): Date | null {
  return w.feature.ttlSeconds === null ? null : new Date(w.eventTime.getTime() + w.feature.ttlSeconds * 1000);
}

export async function writeFeatureValues(ctx: TenantContext, writes: FeatureWrite[]): Promise<WriteResult> {
  if (writes.length === 0) return { offlineInserted: 0, onlineUpdated: 0, cache: "disabled" };
  const scalars = writes
    .filter((w) => w.valueType !== "embedding")
    .map((w) => ({
      feature_id: w.feature.id,
      entity_type: w.entityType,
      entity_id: w.entityId,
      value: w.value,
      value_type: w.valueType,
      event_timestamp: w.eventTime.toISOString(),
      expires_at: expiresAt(w)?.toISOString() ?? null,
      online: w.feature.onlineEnabled,
      offline: w.feature.offlineEnabled,
    }));
  const embeddings = writes
    .filter((w) => w.valueType === "embedding")
    .map((w) => ({
      feature_id: w.feature.id,
      entity_type: w.entityType,
      entity_id: w.entityId,
      embedding: JSON.stringify(w.value),
      event_timestamp: w.eventTime.toISOString(),
      expires_at: expiresAt(w)?.toISOString() ?? null,
      online: w.feature.onlineEnabled,
    }));

  // One statement, one round trip. DISTINCT ON keeps the newest event per key, since one
  // INSERT ... ON CONFLICT DO UPDATE may not touch a row twice; the WHERE on the update
  // makes an older event lose against what is stored, whatever order writers commit in.
  const [counts] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`WITH input AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(scalars)}::jsonb) AS r(
            feature_id uuid, entity_type text, entity_id text, value jsonb, value_type text,
            event_timestamp timestamptz, expires_at timestamptz, online boolean, offline boolean)
        ), vectors AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(embeddings)}::jsonb) AS r(
            feature_id uuid, entity_type text, entity_id text, embedding text,
            event_timestamp timestamptz, expires_at timestamptz, online boolean)
        ), offline AS (
          INSERT INTO ai_feature_values (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp)
          SELECT ${ctx.tenantId}, feature_id, entity_type, entity_id, value, value_type, event_timestamp
          FROM input WHERE offline
          ON CONFLICT ON CONSTRAINT ai_feature_values_once DO NOTHING
          RETURNING 1
        ), online AS (
          INSERT INTO ai_feature_online AS o (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp, expires_at)
          SELECT DISTINCT ON (feature_id, entity_type, entity_id)
                 ${ctx.tenantId}, feature_id, entity_type, entity_id, value, value_type, event_timestamp, expires_at
          FROM input WHERE online
          ORDER BY feature_id, entity_type, entity_id, event_timestamp DESC
          ON CONFLICT (tenant_id, feature_id, entity_type, entity_id) DO UPDATE
            SET value = excluded.value, value_type = excluded.value_type, event_timestamp = excluded.event_timestamp,
                expires_at = excluded.expires_at, updated_at = now()
            WHERE excluded.event_timestamp > o.event_timestamp
          RETURNING 1
        ), embedding_history AS (
          INSERT INTO ai_feature_embeddings (tenant_id, feature_id, entity_type, entity_id, embedding, event_timestamp)
          SELECT ${ctx.tenantId}, feature_id, entity_type, entity_id, embedding::vector, event_timestamp FROM vectors
          ON CONFLICT ON CONSTRAINT ai_feature_embeddings_once DO NOTHING
          RETURNING 1
        ), embedding_online AS (
          INSERT INTO ai_feature_embeddings_online AS o (tenant_id, feature_id, entity_type, entity_id, embedding, event_timestamp, expires_at)
          SELECT DISTINCT ON (feature_id, entity_type, entity_id)
                 ${ctx.tenantId}, feature_id, entity_type, entity_id, embedding::vector, event_timestamp, expires_at
          FROM vectors WHERE online
          ORDER BY feature_id, entity_type, entity_id, event_timestamp DESC
          ON CONFLICT (tenant_id, feature_id, entity_type, entity_id) DO UPDATE
            SET embedding = excluded.embedding, event_timestamp = excluded.event_timestamp,
                expires_at = excluded.expires_at, updated_at = now()
            WHERE excluded.event_timestamp > o.event_timestamp
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM offline)::int + (SELECT count(*) FROM embedding_history)::int AS offline_inserted,
               (SELECT count(*) FROM online)::int + (SELECT count(*) FROM embedding_online)::int AS online_updated`,
  ]);

  const store = connectOnlineStore(ctx.env);
  let cache: WriteResult["cache"] = "disabled";
  if (store.enabled) {
    const cells: CellWrite[] = writes
      .filter((w) => w.feature.onlineEnabled)
      .map((w) => ({
        groupId: w.feature.groupId,
        entityId: w.entityId,
        featureId: w.feature.id,
        eventMs: w.eventTime.getTime(),
        value: w.value,
        expiresAtMs: expiresAt(w)?.getTime() ?? null,
      }));
    try {
      await store.write(ctx.tenantId, cells, 2000);
      cache = "written";
    } catch (error) {
      // Postgres has the value; a read that misses the online store or finds it down reads Postgres.
      console.warn("redis write failed after the postgres write:", (error as Error).message);
      cache = "unavailable";
    }
  }
  return {
    offlineInserted: Number(counts![0]!.offline_inserted),
    onlineUpdated: Number(counts![0]!.online_updated),
    cache,
  };
}
