// The online store on Upstash Redis. One hash per (tenant, group, entity) (keys.ts), field
// = feature version (`<id>@<version>`), value = "<eventMs>|<seq>|<json>", so a read of E entities x F features is E x G
// HMGETs, all inside one server-side script (one round trip, together with the registry
// revision); writes go through a script that keeps the newest (event time, ingestion
// sequence), the order Postgres keeps too.
import type { Redis } from "@upstash/redis/cloudflare";
import { withDeadline } from "#shared/deadline.ts";
import { registryRevisionKey, valueKey, valueKeys } from "./keys.ts";
import { type Cell, type CellsRead, type CellsRequest, type CellWrite, cacheTtlMs, type OnlineStore } from "./store.ts";

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
// (entity 1 group 1, entity 1 group 2, ..., entity 2 group 1, ...).
// ARGV = group count g, then for each group: field count n and its n fields. The field
// lists travel once, not once per entity, which keeps a 1,000-entity request small.
// Returns { revision or false, { cells of hash 1 }, { cells of hash 2 }, ... }.
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
for i = 2, #KEYS do
  local g = (i - 2) % groups + 1
  out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV, first[g], last[g]))
end
return out`;

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
  }

  async read(request: CellsRequest): Promise<CellsRead> {
    const groupIds = request.groups.map((g) => g.groupId);
    const keys = valueKeys(request.tenantId, request.entityIds, groupIds);
    const argv: string[] = [String(request.groups.length)];
    for (const group of request.groups) argv.push(String(group.fields.length), ...group.fields);
    const hashKeys = Array.isArray(keys) ? keys : await keys;
    const scriptKeys = [registryRevisionKey(request.tenantId), ...hashKeys];
    const expected = request.expectedBytes ?? 0;
    // A big answer (1,000 embeddings: ~15 MB) gets a deadline that grows with its size
    // (10 MB/s), on the client without the small reads' fixed deadline.
    const [revision, ...hashes] =
      expected > bulkReadBytes
        ? await withDeadline(this.bulkReads.exec(scriptKeys, argv), this.readTimeoutMs + expected / 10_000)
        : await this.reads.exec(scriptKeys, argv);
    return { revision: revision ?? null, cells: hashes.map((fields) => fields.map(decodeCell)) };
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
