// The online store: where the latest value of each (feature, entity) is served from in one
// round trip. Postgres keeps the truth (ai_feature_online); the online store is a cache in
// front of it with newest-event-wins writes, so a missed or late write is never wrong for
// long. The Redis implementation is redis.ts; a worker without one gets disabled.ts.
// A new store (Cloudflare KV, DynamoDB) is one file implementing OnlineStore plus a case in
// connect.ts.

/** How long a cached value lives at most, whatever its group's TTL: Postgres is the truth, and this bounds how long a cell can stay stale if the store missed a write. */
export const cacheTtlMs = 3600 * 1000;

/** One read: for each entity, each group's fields (feature ids), in one round trip. */
export interface CellsRequest {
  tenantId: string;
  entityIds: readonly string[];
  /** The groups read, each with the fields (feature versions, `<id>@<version>`) read from it, in group order. */
  groups: readonly { groupId: string; fields: readonly string[] }[];
  /**
   * The answer's expected size, when it is known to be big (embeddings): the read's deadline
   * grows with it, since moving 15 MB takes longer than any small read's deadline.
   */
  expectedBytes?: number;
  /**
   * Aggregated stream features, by group: for every entity, each group's windows folded from
   * its tiles in the same round trip. The field lists travel once, not once per entity.
   */
  windowGroups?: readonly { groupId: string; windows: readonly WindowRequest[] }[];
}

/** One window to fold: tiles `from`..`to` (windows.windowTiles) of one feature version. */
export interface WindowRequest {
  /** The feature version, `<id>@<version>`. */
  field: string;
  from: number;
  to: number;
}

export interface Cell {
  eventMs: number;
  /**
   * Ingestion order: at equal event times the later ingestion (a restatement) wins. Known for
   * cells read from Postgres (a refill writes it); the store compares it itself on writes.
   */
  seq?: number;
  value: unknown;
}

export interface CellsRead {
  /** The tenant's registry revision, read in the same round trip (null when never bumped). */
  revision: string | null;
  /** cells[entity * groups + group][field], null where the store has nothing. */
  cells: (Cell | null)[][];
  /**
   * Each window's fold (windows.decodeFolded's text), entity by entity, then group by group
   * and window by window as requested; null when the store does not hold that (feature
   * version, entity)'s tiles completely: read it from Postgres and fill.
   */
  windows: (string | null)[];
}

/**
 * Tiles of one (feature version, entity), each `revision`-stamped: a push's changed tiles
 * (applied newest-wins, only onto a complete set), a fill (the whole set from Postgres,
 * refused when the store already saw a later revision), or an invalidation (drops the set
 * and refuses fills for a while, for writes whose tiles were not computed).
 */
export interface TileWrite {
  mode: "push" | "fill" | "invalidate";
  groupId: string;
  field: string;
  entityId: string;
  /** The (feature version, entity)'s latest ingestion sequence this write reflects. */
  revision: number;
  /** Tiles below it are outside every window from now on: dropped. */
  horizon: number;
  /** How many tiles a window spans (the set is pruned once it outgrows that); 0: never prune. */
  maxTiles: number;
  tiles: readonly { id: number; encoded: string }[];
}

export interface CellWrite {
  groupId: string;
  entityId: string;
  /** The feature version's field, `<id>@<version>`. */
  field: string;
  eventMs: number;
  /** The ingestion sequence Postgres gave the value. */
  seq: number;
  value: unknown;
  /** When the value stops being served (group TTL), or null. */
  expiresAtMs: number | null;
}

export interface OnlineStore {
  /** false for the disabled store: reads answer from Postgres and say so. */
  readonly enabled: boolean;
  /**
   * The cells and the registry revision in one round trip. Rejects when the store is
   * unreachable or slower than the read deadline (REDIS_TIMEOUT_MS).
   */
  read(request: CellsRequest): Promise<CellsRead>;
  /**
   * Writes cells newest-wins by (event time, ingestion sequence); resolves with the number
   * written. Requests are cut at `maxRequestBytes` (default small, for latency; bulk
   * refreshes pass more, never above the store's own request limit).
   */
  write(
    tenantId: string,
    cells: readonly CellWrite[],
    deadlineMs: number,
    options?: { maxRequestBytes?: number },
  ): Promise<number>;
  /**
   * Drops these cells, so the next read of them misses and refills from Postgres. For a write
   * whose Postgres outcome is unknown (the answer was lost): the cache must not keep an older
   * value than Postgres may now hold.
   */
  forget(
    tenantId: string,
    cells: readonly Pick<CellWrite, "groupId" | "entityId" | "field">[],
    deadlineMs: number,
  ): Promise<void>;
  /** Writes tiles (see TileWrite); resolves when done. */
  writeTiles(tenantId: string, writes: readonly TileWrite[], deadlineMs: number): Promise<void>;
  /** The registry revision alone (serving reads it before loading a registry snapshot). */
  registryRevision(tenantId: string): Promise<string | null>;
  /** Marks the tenant's registry changed: every serving isolate reloads it on its next read. */
  bumpRegistryRevision(tenantId: string, deadlineMs: number): Promise<void>;
  ping(deadlineMs: number): Promise<void>;
  /** Adds request counts to tenants' minute hashes (serving health); each kept 2 hours. */
  addServingCounts(entries: readonly ServingCounts[], deadlineMs: number): Promise<void>;
  /** A tenant's request counts of these minutes, in their order (empty where none). */
  servingCounts(tenantId: string, minutes: readonly number[]): Promise<Record<string, number>[]>;
}

export class OnlineStoreDisabled extends Error {
  override name = "OnlineStoreDisabled";
}

/** Request counts of one tenant in one minute, by "route|source|outcome". */
export interface ServingCounts {
  tenantId: string;
  minute: number;
  counts: Record<string, number>;
}

/** Invalidations of the tile sets of these (feature version, entity) pairs, each once. */
export function tileInvalidations(pairs: Iterable<{ groupId: string; field: string; entityId: string }>): TileWrite[] {
  const seen = new Set<string>();
  const out: TileWrite[] = [];
  for (const { groupId, field, entityId } of pairs) {
    const key = `${field}\u0000${entityId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ mode: "invalidate", groupId, field, entityId, revision: 0, horizon: 0, maxTiles: 0, tiles: [] });
  }
  return out;
}
