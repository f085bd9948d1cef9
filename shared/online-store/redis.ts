// The Redis side of the online store. Layout: one hash per (tenant, group, entity),
//   fs1:{tenant}:v:{groupId}:{entityId}   field = feature id, value = "<eventMs>|<json>"
// so a read of E entities x F features is E x G HMGETs, all inside one server-side script
// (one round trip, together with the registry revision). The {tenant} hash tag keeps every
// key of a tenant in one cluster slot, so multi-key scripts stay valid.
import type { Redis } from "@upstash/redis/cloudflare";
import { registryRevisionKey } from "#shared/registry/cache.ts";
import { tenantKey, tenantKeyNow } from "./redis-client.ts";

/** How long a cached value lives at most, whatever its group's TTL: Postgres is the truth, and this bounds how long a cell can stay stale if Redis missed a write. */
export const cacheTtlMs = 3600 * 1000;

export function valueKey(tenantId: string, groupId: string, entityId: string): Promise<string> {
  return tenantKey(tenantId, "v", groupId, entityId);
}

/** The value hashes of entities x groups, entity-major, with one await only if an id needs a digest. */
export async function valueKeys(tenantId: string, entityIds: readonly string[], groupIds: readonly string[]) {
  const keys: (string | Promise<string>)[] = [];
  let pending = false;
  for (const entityId of entityIds) {
    for (const groupId of groupIds) {
      const key = tenantKeyNow(tenantId, "v", groupId, entityId);
      if (key === null) pending = true;
      keys.push(key ?? valueKey(tenantId, groupId, entityId));
    }
  }
  return pending ? Promise.all(keys) : (keys as string[]);
}

export function encodeCell(eventMs: number, value: unknown): string {
  return `${eventMs}|${JSON.stringify(value)}`;
}

export function decodeCell(cell: string | null | undefined): { eventMs: number; value: unknown } | null {
  if (!cell) return null;
  const bar = cell.indexOf("|");
  if (bar < 0) return null;
  return { eventMs: Number(cell.slice(0, bar)), value: JSON.parse(cell.slice(bar + 1)) };
}

// KEYS[1] = registry revision, KEYS[2..] = value hashes, cycling through the groups
// (entity 1 group 1, entity 1 group 2, ..., entity 2 group 1, ...).
// ARGV = group count g, then for each group: field count n and its n fields. The field
// lists travel once, not once per entity, which keeps a 1,000-entity request small.
// Returns { revision or false, { cells of hash 1 }, { cells of hash 2 }, ... }.
const readScript = `
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

// Newest event time wins, atomically: a cell is replaced only by a strictly newer event.
// KEYS = value hashes. ARGV = for each hash: expireAtMs, cell count n, then n x (field, eventMs, cell).
// Returns the number of cells written.
const writeScript = `
local written = 0
local a = 1
for i = 1, #KEYS do
  local expireAt = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  for j = 1, n do
    local field, eventMs, cell = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
    a = a + 3
    local current = redis.call('HGET', KEYS[i], field)
    local currentMs = current and tonumber(string.match(current, '^(-?%d+)|')) or nil
    if not currentMs or eventMs > currentMs then
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

export interface CacheRead {
  revision: string | null;
  /** cells[i][j] = the j-th field of the i-th key, or null. */
  cells: (string | null)[][];
}

export interface CellsRequest {
  /** The feature ids read from each group's hash, in group order. */
  groupFields: string[][];
  /** The hashes to read: for each entity, one per group, in group order. */
  keys: string[];
}

// Script objects remember their SHA-1 (EVALSHA first, EVAL only when Redis lacks it): one per client.
type ReadScript = ReturnType<typeof createReadScript>;
type WriteScript = ReturnType<typeof createWriteScript>;
const createReadScript = (redis: Redis) =>
  redis.createScript<[string | null, ...(string | null)[][]], true>(readScript, { readonly: true });
const createWriteScript = (redis: Redis) => redis.createScript<number>(writeScript);
const readScripts = new WeakMap<Redis, ReadScript>();
const writeScripts = new WeakMap<Redis, WriteScript>();

export async function readCells(redis: Redis, tenantId: string, request: CellsRequest): Promise<CacheRead> {
  const argv: string[] = [String(request.groupFields.length)];
  for (const fields of request.groupFields) argv.push(String(fields.length), ...fields);
  let script = readScripts.get(redis);
  if (!script) {
    script = createReadScript(redis);
    readScripts.set(redis, script);
  }
  const [revision, ...cells] = await script.exec([registryRevisionKey(tenantId), ...request.keys], argv);
  return { revision: revision ?? null, cells };
}

export interface CellWrite {
  key: string;
  field: string;
  eventMs: number;
  value: unknown;
  /** When the value stops being served (group TTL), or null. */
  expiresAtMs: number | null;
}

/** Upstash caps request bodies (1 MB on small plans): large writes go in several scripts. */
const maxWriteBytes = 512 * 1024;

/** Writes cells with newest-wins; keys expire at their newest TTL, and within cacheTtlMs at most. */
export async function writeCells(redis: Redis, writes: CellWrite[]): Promise<number> {
  if (writes.length === 0) return 0;
  const byKey = new Map<string, CellWrite[]>();
  for (const w of writes) {
    const cells = byKey.get(w.key);
    if (cells) cells.push(w);
    else byKey.set(w.key, [w]);
  }
  let written = 0;
  let chunk: [string, CellWrite[]][] = [];
  let bytes = 0;
  for (const entry of byKey) {
    const size =
      entry[0].length + entry[1].reduce((n, c) => n + c.field.length + 40 + JSON.stringify(c.value).length, 0);
    if (chunk.length && bytes + size > maxWriteBytes) {
      written += await writeChunk(redis, chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += size;
  }
  if (chunk.length) written += await writeChunk(redis, chunk);
  return written;
}

async function writeChunk(redis: Redis, entries: [string, CellWrite[]][]): Promise<number> {
  const now = Date.now();
  const keys: string[] = [];
  const argv: string[] = [];
  for (const [key, cells] of entries) {
    const expireAt = Math.min(
      now + cacheTtlMs,
      Math.max(...cells.map((c) => (c.expiresAtMs === null ? now + cacheTtlMs : c.expiresAtMs))),
    );
    keys.push(key);
    argv.push(String(Math.max(expireAt, now + 1000)), String(cells.length));
    for (const c of cells) argv.push(c.field, String(c.eventMs), encodeCell(c.eventMs, c.value));
  }
  let script = writeScripts.get(redis);
  if (!script) {
    script = createWriteScript(redis);
    writeScripts.set(redis, script);
  }
  return script.exec(keys, argv);
}
