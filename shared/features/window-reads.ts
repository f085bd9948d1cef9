// Aggregated stream features read from Postgres when the online store lacks their tiles (or
// is down): the tiles of each (feature version, entity) from the window's start on, in one
// round trip, with the revision a fill of the online store is stamped with (the latest
// ingestion of that feature version and entity: what the fill's snapshot includes).
import { type TenantContext, withTenantSql } from "#shared/db/tenant.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { currentEventsSql, tileColumnsSql, tileFromRow, tileSql } from "./aggregates-sql.ts";
import { isoFromMs } from "./iso-time.ts";
import { type Tile, windowTiles } from "./windows.ts";

export interface WindowTiles {
  /** The tiles from the window's start on (the ones a fill keeps), by tile id. */
  tiles: Map<number, Tile>;
  /** The latest ingestion sequence of this feature version and entity (0: none). */
  revision: number;
}

const statement = `
WITH req AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(i int, feature_id uuid, feature_version int, entity_id text,
                                                   step int, after timestamptz)
)
SELECT r.i,
       (SELECT max(h.ingest_seq) FROM ai_feature_values h
        WHERE h.feature_id = r.feature_id AND h.feature_version = r.feature_version
          AND h.entity_type = $2 AND h.entity_id = r.entity_id)::text AS revision,
       t.*
FROM req r LEFT JOIN LATERAL (
  SELECT e.tile::text AS tile, ${tileColumnsSql("e")}
  FROM (SELECT c.event_timestamp, c.ingest_seq, c.value, ${tileSql("c.event_timestamp", "r.step")} AS tile
        FROM ${currentEventsSql(`v.feature_id = r.feature_id AND v.feature_version = r.feature_version
          AND v.entity_type = $2 AND v.entity_id = r.entity_id
          AND (r.after IS NULL OR v.event_timestamp > r.after)`)} c) e
  GROUP BY e.tile
) t ON true`;

/** For each (aggregated feature version, entity), its tiles of the window answered at `atMs` and on. */
export async function readWindowTiles(
  ctx: TenantContext,
  entityType: string,
  requests: readonly { feature: ServedFeature; entityId: string }[],
  atMs: number,
): Promise<WindowTiles[]> {
  const out: WindowTiles[] = requests.map(() => ({ tiles: new Map(), revision: 0 }));
  if (requests.length === 0) return out;
  const rows = requests.map(({ feature, entityId }, i) => {
    const window = feature.window!;
    const { from } = windowTiles(atMs, window);
    return {
      i,
      feature_id: feature.id,
      feature_version: feature.version,
      entity_id: entityId,
      step: window.intervalSeconds,
      after: from === Number.NEGATIVE_INFINITY ? null : isoFromMs((from - 1) * window.intervalSeconds * 1000),
    };
  });
  const [result] = await withTenantSql(
    ctx.db,
    ctx.tenantId,
    (sql) => [sql.query(statement, [JSON.stringify(rows), entityType])],
    { readOnly: true },
  );
  for (const row of result!) {
    const target = out[Number(row.i)]!;
    target.revision = Number(row.revision ?? 0);
    if (row.tile !== null && row.tile !== undefined && Number(row.n) > 0)
      target.tiles.set(Number(row.tile), tileFromRow(row));
  }
  return out;
}
