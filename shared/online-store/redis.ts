// The online store on Upstash Redis. One hash per (tenant, group, entity) (keys.ts), field
// = feature version (`<id>@<version>`), value = "<eventMs>|<seq>|<json>", so a read of E entities x F features is E x G
// HMGETs, all inside one server-side script (one round trip, together with the registry
// revision); writes go through a script that keeps the newest (event time, ingestion
// sequence), the order Postgres keeps too.
import type { Redis } from "@upstash/redis/cloudflare";
import { withDeadline } from "#shared/deadline.ts";
import { registryRevisionKey, servingCountsKey, tileSetKey, tileSetKeyNow, valueKey, valueKeys } from "./keys.ts";
import {
  type Cell,
  type CellsRead,
  type CellsRequest,
  type CellWrite,
  cacheTtlMs,
  type OnlineStore,
  type ServingCounts,
  type TileWrite,
} from "./store.ts";

export function encodeCell(eventMs: number, seq: number, value: unknown): string {
  return `${eventMs}|${seq}|${JSON.stringify(value)}`;
}

/** A stored cell's event time and value (its sequence only matters to the write script). */
export function decodeCell(cell: string | null | undefined): Cell | null {
  if (!cell) return null;
  const bar = cell.indexOf("|");
  const second = cell.indexOf("|", bar + 1);
  if (bar < 0 || second < 0) return null;
  return { eventMs: Number(cell.slice(0, bar)), value: JSON.parse(cell.slice(second + 1)) };
}

// KEYS[1] = registry revision, KEYS[2..] = value hashes, cycling through the groups
// (entity 1 group 1, entity 1 group 2, ..., entity 2 group 1, ...), then k tile sets (one
// per entity and group of aggregated features).
// ARGV = group count g, then for each group: field count n and its n fields (the field
// lists travel once, not once per entity, which keeps a 1,000-entity request small), then
// the window group count wg, then for each: its window count n and n x (field, first tile,
// last tile), then "cache" when the script runs as EVAL (windowed reads) and may keep folds.
// Returns { revision or false, { cells of hash 1 }, ..., each window's fold or false }.
// A feature's tiles fold only when complete (c:<field>, set by a fill): otherwise false, and
// the reader goes to Postgres. The fold is windows.ts's foldTiles: count and sum add, min
// and max compare, first and last compare (event time, ingestion). Numbers leave as %.17g
// text: exact for doubles.
export const readScript = `
local out = { redis.call('GET', KEYS[1]) or false }
local groups = tonumber(ARGV[1])
local first, last = {}, {}
local a = 2
for g = 1, groups do
  local n = tonumber(ARGV[a])
  first[g], last[g] = a + 1, a + n
  a = a + n + 1
end
-- Window groups: each a list of (field, first tile, last tile); the tile sets cycle through
-- them (entity 1 group 1, entity 1 group 2, ...), as value hashes cycle through groups.
local wg = tonumber(ARGV[a] or '0')
local wFirst, wCount = {}, {}
local b = a + 1
for g = 1, wg do
  wCount[g] = tonumber(ARGV[b])
  wFirst[g] = b + 1
  b = b + 1 + 3 * wCount[g]
end
-- KEYS = 1 + E x groups + E x wg, so the tile sets are the last E x wg.
local k = 0
if wg > 0 then k = (#KEYS - 1) / (groups + wg) * wg end
-- Set by the caller when the script may write (EVAL, not EVAL_RO): folds are then kept.
local cacheFolds = ARGV[#ARGV] == 'cache'
for i = 2, #KEYS - k do
  local g = (i - 2) % groups + 1
  out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV, first[g], last[g]))
end
local fmt = '%.17g'
-- Folds the tiles of \`field\` between lo and hi from a tile set's fields; nil when the
-- feature's tiles are not complete there.
local function fold(all, field, lo, hi)
  local complete = false
  local count, sum, mn, mx = 0, 0, nil, nil
  local fMs, fSeq, fJson, lMs, lSeq, lJson
  local marker, tiles = 'c:' .. field, field .. ':'
  for i = 1, #all, 2 do
    local f = all[i]
    if f == marker then complete = true
    elseif string.sub(f, 1, #tiles) == tiles then
      local id = tonumber(string.sub(f, #tiles + 1))
      if id and id >= lo and id <= hi then
        local c, s, x, y, fm, fs, lm, ls, js = string.match(all[i + 1],
          '^%d+|(%d+)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
        if c then
          count = count + tonumber(c)
          sum = sum + tonumber(s)
          x, y = tonumber(x), tonumber(y)
          if x and (not mn or x < mn) then mn = x end
          if y and (not mx or y > mx) then mx = y end
          fm, fs, lm, ls = tonumber(fm), tonumber(fs), tonumber(lm), tonumber(ls)
          local tab = string.find(js, '\t', 1, true)
          if not fMs or fm < fMs or (fm == fMs and fs < fSeq) then
            fMs, fSeq, fJson = fm, fs, string.sub(js, 1, tab - 1)
          end
          if not lMs or lm > lMs or (lm == lMs and ls > lSeq) then
            lMs, lSeq, lJson = lm, ls, string.sub(js, tab + 1)
          end
        end
      end
    end
  end
  if not complete then return nil end
  if count == 0 then return '0' end
  return table.concat({ string.format('%d', count), string.format(fmt, sum),
    mn and string.format(fmt, mn) or '', mx and string.format(fmt, mx) or '',
    string.format(fmt, fMs), string.format(fmt, lMs), fJson .. '\t' .. lJson }, '|')
end
for j = 1, k do
  local key = KEYS[#KEYS - k + j]
  local g = (j - 1) % wg + 1
  local n, t = wCount[g], wFirst[g]
  local names = {}
  for q = 0, n - 1 do names[q + 1] = 'w:' .. ARGV[t + 3 * q] end
  -- The fold of each window, kept by the last read of it (w:<field> = "<last tile>|<fold>"):
  -- a window moves once per interval, so most reads fold nothing.
  local kept = redis.call('HMGET', key, unpack(names))
  local all = nil
  for q = 0, n - 1 do
    local field, hiText = ARGV[t + 3 * q], ARGV[t + 3 * q + 2]
    local prefix = hiText .. '|'
    local r = #out + 1
    local w = kept[q + 1]
    if w and string.sub(w, 1, #prefix) == prefix then
      out[r] = string.sub(w, #prefix + 1)
    else
      if not all then all = redis.call('HGETALL', key) end
      local folded = fold(all, field, tonumber(ARGV[t + 3 * q + 1]), tonumber(hiText))
      if folded then
        out[r] = folded
        if cacheFolds then redis.call('HSET', key, names[q + 1], prefix .. folded) end
      else
        out[r] = false
      end
    end
  end
end
return out`;

// Tiles of one (feature version, entity) per entry, in the tile set of the entity and the
// feature's group. KEYS = the tile set of each entry (repeated for several features);
// ARGV = for each: mode (p push, f fill, x invalidate), field, revision, horizon, maxTiles
// (0: never prune), nowMs, expireAtMs, n, then n x (tile, text).
// A feature's fields: c:<field> = the revision of the fill that made its tiles complete,
// r:<field> = the latest revision seen, x:<field> = until when fills are refused,
// w:<field> = the last read's fold, <field>:<tile> = "<revision>|..." per tile.
// A push applies a tile only onto complete tiles and only if newer than the tile there (or
// than c), and drops the kept fold; incomplete tiles just remember r. A fill replaces the
// feature's tiles, unless a newer revision was seen (it would lose that write) or an
// invalidation is recent. An invalidation drops them and refuses fills for 30 s: fills
// computed before the invalidating write committed are refused, later ones succeed.
export const tileWriteScript = `
local function dropFeature(key, field)
  local tiles = field .. ':'
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, #tiles) == tiles or f == 'c:' .. field or f == 'w:' .. field or f == 'r:' .. field then
      redis.call('HDEL', key, f)
    end
  end
end
local a = 1
for i = 1, #KEYS do
  local key = KEYS[i]
  local mode, field, rev, horizon = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local maxTiles, now, expireAt, n = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
  local t = a + 8
  a = t + 2 * n
  local seenKey, completeKey = 'r:' .. field, 'c:' .. field
  if mode == 'x' then
    dropFeature(key, field)
    redis.call('HSET', key, 'x:' .. field, now + 30000)
  else
    local seen = tonumber(redis.call('HGET', key, seenKey) or '0')
    local complete = tonumber(redis.call('HGET', key, completeKey) or 'nil')
    if mode == 'f' then
      local refusedUntil = tonumber(redis.call('HGET', key, 'x:' .. field) or '0')
      if refusedUntil <= now and rev >= seen and (not complete or rev >= complete) then
        dropFeature(key, field)
        for j = 0, n - 1 do redis.call('HSET', key, field .. ':' .. ARGV[t + 2 * j], ARGV[t + 2 * j + 1]) end
        redis.call('HSET', key, completeKey, rev, seenKey, rev)
        redis.call('HDEL', key, 'x:' .. field)
      end
    else
      if rev > seen then redis.call('HSET', key, seenKey, rev) end
      if complete then
        local changed = false
        for j = 0, n - 1 do
          local tile = field .. ':' .. ARGV[t + 2 * j]
          local current = redis.call('HGET', key, tile)
          local currentRev = current and tonumber(string.match(current, '^(%d+)|')) or complete
          if rev > currentRev then
            redis.call('HSET', key, tile, ARGV[t + 2 * j + 1])
            changed = true
          end
        end
        if changed then redis.call('HDEL', key, 'w:' .. field) end
        -- Pruned only when the set outgrew its windows: a push does not scan it otherwise.
        if maxTiles > 0 and redis.call('HLEN', key) > 4 * (maxTiles + 8) then
          local tiles = field .. ':'
          for _, f in ipairs(redis.call('HKEYS', key)) do
            if string.sub(f, 1, #tiles) == tiles then
              local id = tonumber(string.sub(f, #tiles + 1))
              if id and id < horizon then redis.call('HDEL', key, f) end
            end
          end
        end
      end
    end
  end
  if redis.call('PEXPIRETIME', key) < expireAt then redis.call('PEXPIREAT', key, expireAt) end
end
return 1`;

// Newest wins, atomically: a cell is replaced only by a strictly newer (event time,
// ingestion sequence): a later event, or a restatement of the same event time.
// KEYS = value hashes. ARGV = for each hash: expireAtMs, cell count n, then
// n x (field, eventMs, seq, cell). Returns the number of cells written.
export const writeScript = `
local written = 0
local a = 1
for i = 1, #KEYS do
  local expireAt = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  for j = 1, n do
    local field, eventMs, seq, cell = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3]
    a = a + 4
    local current = redis.call('HGET', KEYS[i], field)
    local currentMs, currentSeq = nil, nil
    if current then
      local ms, sq = string.match(current, '^(-?[%d.]+)|(%d+)|')
      currentMs, currentSeq = tonumber(ms), tonumber(sq)
    end
    if not currentMs or eventMs > currentMs or (eventMs == currentMs and seq > currentSeq) then
      redis.call('HSET', KEYS[i], field, cell)
      written = written + 1
    end
  end
  local currentExpiry = redis.call('PEXPIRETIME', KEYS[i])
  if currentExpiry < 0 or currentExpiry < expireAt then
    redis.call('PEXPIREAT', KEYS[i], expireAt)
  end
end
return written`;

/** From this expected answer size on, a read's deadline grows with the size. */
const bulkReadBytes = 256 * 1024;

/** Requests of a write, by default: small ones keep a push's latency low. */
const defaultWriteBytes = 512 * 1024;
/** Upstash refuses requests over 10 MB: no request may come near it. */
const maxRequestBytes = 8 * 1024 * 1024;

type KeyedCell = Omit<CellWrite, "groupId" | "entityId">;

export class RedisOnlineStore implements OnlineStore {
  readonly enabled = true;
  // Script objects remember their SHA-1 (EVALSHA first, EVAL only when Redis lacks it).
  private readonly reads;
  private readonly bulkReads;
  private readonly writes;
  private readonly tileWrites;
  private readonly windowReads;

  /**
   * @param reader every command aborted after the read deadline (the read path)
   * @param writer no deadline of its own: callers give one
   */
  constructor(
    private readonly reader: Redis,
    private readonly writer: Redis,
    private readonly readTimeoutMs: number,
  ) {
    this.reads = reader.createScript<[string | null, ...(string | null)[][]], true>(readScript, { readonly: true });
    this.bulkReads = writer.createScript<[string | null, ...(string | null)[][]], true>(readScript, { readonly: true });
    this.writes = writer.createScript<number>(writeScript);
    this.tileWrites = writer.createScript<number>(tileWriteScript);
    // Windowed reads keep each window's fold in its tile set (one HSET per window and
    // interval): EVAL rather than EVAL_RO.
    this.windowReads = reader.createScript<[string | null, ...(string | null)[][]], false>(readScript, {
      readonly: false,
    });
  }

  async read(request: CellsRequest): Promise<CellsRead> {
    const groupIds = request.groups.map((g) => g.groupId);
    const keys = valueKeys(request.tenantId, request.entityIds, groupIds);
    const argv: string[] = [String(request.groups.length)];
    for (const group of request.groups) argv.push(String(group.fields.length), ...group.fields);
    const hashKeys = Array.isArray(keys) ? keys : await keys;
    const scriptKeys = [registryRevisionKey(request.tenantId), ...hashKeys];
    const windowGroups = request.windowGroups ?? [];
    let windowCount = 0;
    if (windowGroups.length) {
      argv.push(String(windowGroups.length));
      for (const group of windowGroups) {
        argv.push(String(group.windows.length));
        for (const w of group.windows)
          argv.push(w.field, String(w.from === Number.NEGATIVE_INFINITY ? -1e18 : w.from), String(w.to));
      }
      for (const entityId of request.entityIds) {
        for (const group of windowGroups) {
          scriptKeys.push(
            tileSetKeyNow(request.tenantId, group.groupId, entityId) ??
              (await tileSetKey(request.tenantId, group.groupId, entityId)),
          );
          windowCount += group.windows.length;
        }
      }
      // A bulk read runs as EVAL_RO (it goes through the bulk client): it folds without keeping.
      if ((request.expectedBytes ?? 0) <= bulkReadBytes) argv.push("cache");
    }
    const expected = request.expectedBytes ?? 0;
    // A big answer (1,000 embeddings: ~15 MB) gets a deadline that grows with its size
    // (10 MB/s), on the client without the small reads' fixed deadline.
    const [revision, ...rest] =
      expected > bulkReadBytes
        ? await withDeadline(this.bulkReads.exec(scriptKeys, argv), this.readTimeoutMs + expected / 10_000)
        : await (windowCount ? this.windowReads : this.reads).exec(scriptKeys, argv);
    const hashes = windowCount ? rest.slice(0, rest.length - windowCount) : rest;
    const windows: (string | null)[] = new Array(windowCount);
    // Redis answers false as null; a fold is text ("0" included: the client may parse it as a number).
    for (let i = 0; i < windowCount; i++) {
      const f = rest[hashes.length + i] as unknown as string | number | null | undefined;
      windows[i] = f === null || f === undefined ? null : String(f);
    }
    return { revision: revision ?? null, cells: hashes.map((fields) => fields.map(decodeCell)), windows };
  }

  async write(
    tenantId: string,
    cells: readonly CellWrite[],
    deadlineMs: number,
    options: { maxRequestBytes?: number } = {},
  ): Promise<number> {
    if (cells.length === 0) return 0;
    const byKey = new Map<string, KeyedCell[]>();
    for (const c of cells) {
      const key = await valueKey(tenantId, c.groupId, c.entityId);
      const cell = { field: c.field, eventMs: c.eventMs, seq: c.seq, value: c.value, expiresAtMs: c.expiresAtMs };
      const list = byKey.get(key);
      if (list) list.push(cell);
      else byKey.set(key, [cell]);
    }
    const limit = Math.min(options.maxRequestBytes ?? defaultWriteBytes, maxRequestBytes);
    return withDeadline(this.writeKeyed(byKey, limit), deadlineMs);
  }

  private async writeKeyed(byKey: Map<string, KeyedCell[]>, maxWriteBytes: number): Promise<number> {
    let written = 0;
    let chunk: [string, KeyedCell[]][] = [];
    let bytes = 0;
    for (const entry of byKey) {
      // An upper bound of the request's bytes: the value's JSON is escaped once more inside
      // the request's JSON (at most doubling it), plus the field and the numbers.
      const size =
        entry[0].length + entry[1].reduce((n, c) => n + c.field.length + 80 + 2 * JSON.stringify(c.value).length, 0);
      if (chunk.length && bytes + size > maxWriteBytes) {
        written += await this.writeChunk(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(entry);
      bytes += size;
    }
    if (chunk.length) written += await this.writeChunk(chunk);
    return written;
  }

  private writeChunk(entries: [string, KeyedCell[]][]): Promise<number> {
    const now = Date.now();
    const keys: string[] = [];
    const argv: string[] = [];
    for (const [key, cells] of entries) {
      const expireAt = Math.min(
        now + cacheTtlMs,
        Math.max(...cells.map((c) => (c.expiresAtMs === null ? now + cacheTtlMs : c.expiresAtMs))),
      );
      keys.push(key);
      argv.push(String(Math.ceil(Math.max(expireAt, now + 1000))), String(cells.length));
      for (const c of cells)
        argv.push(c.field, String(c.eventMs), String(c.seq), encodeCell(c.eventMs, c.seq, c.value));
    }
    return this.writes.exec(keys, argv);
  }

  async forget(
    tenantId: string,
    cells: readonly Pick<CellWrite, "groupId" | "entityId" | "field">[],
    deadlineMs: number,
  ): Promise<void> {
    if (cells.length === 0) return;
    const byKey = new Map<string, Set<string>>();
    for (const c of cells) {
      const key = await valueKey(tenantId, c.groupId, c.entityId);
      byKey.set(key, (byKey.get(key) ?? new Set()).add(c.field));
    }
    const pipeline = this.writer.pipeline();
    for (const [key, fields] of byKey) pipeline.hdel(key, ...fields);
    await withDeadline(pipeline.exec(), deadlineMs);
  }

  async writeTiles(tenantId: string, writes: readonly TileWrite[], deadlineMs: number): Promise<void> {
    if (writes.length === 0) return;
    const keys: string[] = [];
    const argv: string[] = [];
    const now = Date.now();
    const expireAt = String(now + cacheTtlMs);
    for (const w of writes) {
      keys.push(await tileSetKey(tenantId, w.groupId, w.entityId));
      const mode = w.mode === "push" ? "p" : w.mode === "fill" ? "f" : "x";
      const horizon = w.horizon === Number.NEGATIVE_INFINITY ? -1e18 : w.horizon;
      argv.push(mode, w.field, String(w.revision), String(horizon), String(w.maxTiles), String(now), expireAt);
      argv.push(String(w.tiles.length));
      for (const t of w.tiles) argv.push(String(t.id), t.encoded);
    }
    await withDeadline(this.tileWrites.exec(keys, argv), deadlineMs);
  }

  registryRevision(tenantId: string): Promise<string | null> {
    return this.reader.get<string>(registryRevisionKey(tenantId));
  }

  async bumpRegistryRevision(tenantId: string, deadlineMs: number): Promise<void> {
    await withDeadline(this.writer.incr(registryRevisionKey(tenantId)), deadlineMs);
  }

  async ping(deadlineMs: number): Promise<void> {
    await withDeadline(this.writer.ping(), deadlineMs);
  }

  async addServingCounts(entries: readonly ServingCounts[], deadlineMs: number): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.writer.pipeline();
    for (const { tenantId, minute, counts } of entries) {
      const key = servingCountsKey(tenantId, minute);
      for (const [field, count] of Object.entries(counts)) pipeline.hincrby(key, field, count);
      pipeline.expire(key, 7200);
    }
    await withDeadline(pipeline.exec(), deadlineMs);
  }

  async servingCounts(tenantId: string, minutes: readonly number[]): Promise<Record<string, number>[]> {
    if (minutes.length === 0) return [];
    const pipeline = this.reader.pipeline();
    for (const minute of minutes) pipeline.hgetall(servingCountsKey(tenantId, minute));
    const hashes = await pipeline.exec<(Record<string, unknown> | unknown[] | null)[]>();
    // Without automatic deserialization (this client's setting) HGETALL is the flat reply.
    return hashes.map((hash) => {
      const entries = Array.isArray(hash)
        ? Array.from({ length: hash.length / 2 }, (_, i) => [String(hash[2 * i]), hash[2 * i + 1]] as const)
        : Object.entries(hash ?? {});
      return Object.fromEntries(entries.map(([field, n]) => [field, Number(n)]));
    });
  }
}
