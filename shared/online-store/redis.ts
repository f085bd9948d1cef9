// The online store on Upstash Redis. One hash per (tenant, group, entity) (keys.ts), field
// = feature version (`<id>@<version>`), value = "<eventMs>|<seq>|<json>", so a read of E entities x F features is E x G
// HMGETs, all inside one server-side script (one round trip, together with the registry
// revision); writes go through a script that keeps the newest (event time, ingestion
// sequence), the order Postgres keeps too.
import type { Redis } from "@upstash/redis/cloudflare";
import { withDeadline } from "#shared/deadline.ts";
import { registryRevisionKey, tileKey, tileKeyNow, valueKey, valueKeys } from "./keys.ts";
import {
  type Cell,
  type CellsRead,
  type CellsRequest,
  type CellWrite,
  cacheTtlMs,
  type OnlineStore,
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
// (entity 1 group 1, entity 1 group 2, ..., entity 2 group 1, ...), then w tile hashes.
// ARGV = group count g, then for each group: field count n and its n fields (the field
// lists travel once, not once per entity, which keeps a 1,000-entity request small), then
// w, then each tile hash's first and last tile of its window, then "cache" when the script
// runs as EVAL (windowed reads) and may keep folds.
// Returns { revision or false, { cells of hash 1 }, ..., fold of tile hash 1 or false, ... }.
// A tile hash folds only when complete (field c, set by a fill): otherwise false, and the
// reader goes to Postgres. The fold is windows.ts's foldTiles: count and sum add, min and
// max compare, first and last compare (event time, ingestion). Numbers leave as %.17g
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
local w = tonumber(ARGV[a] or '0')
-- Set by the caller when the script may write (EVAL, not EVAL_RO): folds are then kept.
local cacheFolds = ARGV[a + 2 * w + 1] == 'cache'
for i = 2, #KEYS - w do
  local g = (i - 2) % groups + 1
  out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV, first[g], last[g]))
end
local function num(s) return tonumber(s) end
local fmt = '%.17g'
for j = 1, w do
  local key = KEYS[#KEYS - w + j]
  local loText, hiText = ARGV[a + 2 * j - 1], ARGV[a + 2 * j]
  local r = #out + 1
  -- The fold of this window, kept by the last read of it (field w = "<last tile>|<fold>"):
  -- a window moves once per interval, so most reads fold nothing.
  local cached = redis.call('HGET', key, 'w')
  local prefix = hiText .. '|'
  if cached and string.sub(cached, 1, #prefix) == prefix then
    out[r] = string.sub(cached, #prefix + 1)
  else
    local lo, hi = tonumber(loText), tonumber(hiText)
    local all = redis.call('HGETALL', key)
    local complete = false
    local count, sum, mn, mx = 0, 0, nil, nil
    local fMs, fSeq, fJson, lMs, lSeq, lJson
    for i = 1, #all, 2 do
      local f = all[i]
      if f == 'c' then complete = true else
        local id = tonumber(f)
        if id and id >= lo and id <= hi then
          local c, s, x, y, fm, fs, lm, ls, js = string.match(all[i + 1],
            '^%d+|(%d+)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
          if c then
            count = count + tonumber(c)
            sum = sum + tonumber(s)
            x, y = num(x), num(y)
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
    if not complete then out[r] = false
    else
      if count == 0 then out[r] = '0'
      else
        out[r] = table.concat({ string.format('%d', count), string.format(fmt, sum),
          mn and string.format(fmt, mn) or '', mx and string.format(fmt, mx) or '',
          string.format(fmt, fMs), string.format(fmt, lMs), fJson .. '\t' .. lJson }, '|')
      end
      if cacheFolds then redis.call('HSET', key, 'w', prefix .. out[r]) end
    end
  end
end
return out`;

// Tiles of one (feature version, entity) per key. KEYS = tile hashes; ARGV = for each:
// mode (p push, f fill, x invalidate), revision, horizon, maxTiles (0: never prune),
// expireAtMs, n, then n x (tile, text).
// Fields: c = the revision of the fill that made the set complete, r = the latest revision
// seen, w = the last read's fold (dropped by any tile written), each tile = "<revision>|...". A push applies a tile only onto a complete set and only
// if newer than the tile there (or than c); an incomplete set just remembers r. A fill
// replaces the set, unless a newer revision was seen (it would lose that write). An
// invalidation drops the set and keeps r at "infinity" for 30 s: fills computed before the
// invalidating write committed are refused, later ones come after the key expired.
export const tileWriteScript = `
local a = 1
for i = 1, #KEYS do
  local key = KEYS[i]
  local mode, rev, horizon = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local maxTiles, expireAt, n = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local t = a + 6
  a = t + 2 * n
  if mode == 'x' then
    redis.call('DEL', key)
    redis.call('HSET', key, 'r', '9e18')
    redis.call('PEXPIRE', key, 30000)
  else
    local seen = tonumber(redis.call('HGET', key, 'r') or '0')
    local complete = tonumber(redis.call('HGET', key, 'c') or 'nil')
    if mode == 'f' then
      if rev >= seen and (not complete or rev >= complete) then
        redis.call('DEL', key)
        for j = 0, n - 1 do redis.call('HSET', key, ARGV[t + 2 * j], ARGV[t + 2 * j + 1]) end
        redis.call('HSET', key, 'c', rev, 'r', rev)
        redis.call('PEXPIREAT', key, expireAt)
      end
    else
      if rev > seen then redis.call('HSET', key, 'r', rev) end
      if complete then
        for j = 0, n - 1 do
          local tile, text = ARGV[t + 2 * j], ARGV[t + 2 * j + 1]
          local current = redis.call('HGET', key, tile)
          local currentRev = current and tonumber(string.match(current, '^(%d+)|')) or complete
          if rev > currentRev then
            redis.call('HSET', key, tile, text)
            redis.call('HDEL', key, 'w')
          end
        end
        -- Pruned only when the set outgrew its window: a push does not scan it otherwise.
        if maxTiles > 0 and redis.call('HLEN', key) > maxTiles + 8 then
          for _, f in ipairs(redis.call('HKEYS', key)) do
            local id = tonumber(f)
            if id and f ~= 'c' and f ~= 'r' and id < horizon then redis.call('HDEL', key, f) end
          end
        end
      end
      redis.call('PEXPIREAT', key, expireAt)
    end
  end
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
    const windows = request.windows ?? [];
    if (windows.length) {
      argv.push(String(windows.length));
      for (const w of windows) {
        scriptKeys.push(
          tileKeyNow(request.tenantId, w.field, w.entityId) ?? (await tileKey(request.tenantId, w.field, w.entityId)),
        );
        argv.push(String(w.from === Number.NEGATIVE_INFINITY ? -1e18 : w.from), String(w.to));
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
        : await (windows.length ? this.windowReads : this.reads).exec(scriptKeys, argv);
    const hashes = windows.length ? rest.slice(0, rest.length - windows.length) : rest;
    const folds = windows.length ? (rest.slice(rest.length - windows.length) as unknown as (string | null)[]) : [];
    return {
      revision: revision ?? null,
      cells: hashes.map((fields) => fields.map(decodeCell)),
      // Redis answers false as null; a fold is text ("0" included: the client may parse it as a number).
      windows: folds.map((f) => (f === null || f === undefined ? null : String(f))),
    };
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
    const expireAt = String(Date.now() + cacheTtlMs);
    for (const w of writes) {
      keys.push(await tileKey(tenantId, w.field, w.entityId));
      const mode = w.mode === "push" ? "p" : w.mode === "fill" ? "f" : "x";
      const horizon = w.horizon === Number.NEGATIVE_INFINITY ? -1e18 : w.horizon;
      argv.push(mode, String(w.revision), String(horizon), String(w.maxTiles), expireAt, String(w.tiles.length));
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
}
