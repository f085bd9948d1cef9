// Rows of the online tables (ai_feature_online, ai_feature_embeddings_online) as cells for the
// online store: what a materialization unit's Redis refresh and a cache repair write back.
import { sql } from "drizzle-orm";
import type { CellWrite } from "./store.ts";

export const onlineTable = (embedding: boolean) =>
  embedding ? sql`ai_feature_embeddings_online` : sql`ai_feature_online`;

export const onlineValueText = (embedding: boolean) => (embedding ? sql`embedding::text` : sql`value::text`);

/** What cellFromOnlineRow reads: the value as text, event and expiry times as epoch ms with microseconds. */
export const onlineCellColumns = (embedding: boolean) =>
  sql`entity_id, ${onlineValueText(embedding)} AS value, ingest_seq,
      (extract(epoch FROM event_timestamp) * 1000)::float8 AS event_ms,
      (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms`;

export function cellFromOnlineRow(row: Record<string, unknown>, groupId: string, field: string): CellWrite {
  return {
    groupId,
    entityId: row.entity_id as string,
    field,
    eventMs: Number(row.event_ms),
    seq: Number(row.ingest_seq),
    value: JSON.parse(row.value as string),
    expiresAtMs: row.expires_ms === null ? null : Number(row.expires_ms),
  };
}
