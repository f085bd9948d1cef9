// Aggregated stream features read from Postgres when the online store lacks their tiles (or
// is down): the tiles of each (feature version, entity) from the window's start on
// (ai_feature_tiles), in one round trip, with the revision a fill of the online store is
// stamped with (the latest ingestion of that feature version and entity: what the fill's
// snapshot includes).
import { type TenantContext, withTenantSql } from "#shared/db/tenant.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { tileFromRow } from "./aggregates-sql.ts";
import { type Tile, windowTiles } from "./windows.ts";

export interface WindowTiles {
  /** The tiles from the window's start on (the ones a fill keeps), by tile id. */
  tiles: Map<number, Tile>;
  /** The latest ingestion sequence of this feature version and entity (0: none). */
  revision: number;
}

// The tiles from the window's start on, and the revision: the latest that changed any tile
// of the feature version and entity (its latest ingestion).
const statement = `
WITH req AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(i int, feature_id uuid, feature_version int, entity_id text,
                                                   from_tile bigint)
)
SELECT r.i,
       (SELECT max(a.rev) FROM ai_feature_tiles a
        WHERE a.feature_id = r.feature_id AND a.feature_version = r.feature_version
          AND a.entity_type = $2 AND a.entity_id = r.entity_id)::text AS revision,
       t.tile::text AS tile, t.n, t.sum, t.min, t.max, t.first_ms, t.first_seq::text, t.first_json,
       t.last_ms, t.last_seq::text, t.last_json
FROM req r LEFT JOIN ai_feature_tiles t
  ON t.feature_id = r.feature_id AND t.feature_version = r.feature_version AND t.entity_type = $2
 AND t.entity_id = r.entity_id AND (r.from_tile IS NULL OR t.tile >= r.from_tile) AND t.n > 0`;

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
      from_tile: from === Number.NEGATIVE_INFINITY ? null : from,
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
