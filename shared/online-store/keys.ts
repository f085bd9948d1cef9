// Every Redis key the product uses is built here, under the tenant's prefix, so nothing in
// a request can name another tenant's key. Layout:
//   fs1:{tenant}:v:{groupId}:{entityId}   the latest values of one entity in one group
//   fs1:{tenant}:t:{groupId}:{entityId}  the tiles of one entity's aggregated features of one group
//   fs1:{tenant}:registry:rev             the tenant's registry revision
//   fs1:{tenant}:m:{minute}               serving request counts of one minute (serving health)
// The {tenant} hash tag keeps every key of a tenant in one cluster slot, so multi-key
// scripts stay valid.

const keyVersion = "fs1";

/** Characters encodeURIComponent leaves as they are, less `!'()*`: such a part needs no escaping. */
const plainPart = /^[A-Za-z0-9_.~-]*$/;
const escapePart = (part: string) => (plainPart.test(part) ? part : encodeURIComponent(part).replaceAll("*", "%2A"));

/**
 * `fs1:{tenant}:part:part...`. Parts are percent-encoded, so `:`, `*`, `{`, newlines and
 * unicode in an entity id stay inside their own segment; ids longer than 512 bytes are
 * replaced by their SHA-256 so a 10 KB id cannot bloat keys.
 */
export function tenantKey(tenantId: string, ...parts: string[]): Promise<string> {
  const key = tenantKeyNow(tenantId, ...parts);
  if (key !== null) return Promise.resolve(key);
  return Promise.all(
    parts.map((part) => {
      const escaped = escapePart(part);
      return escaped.length <= 512 ? escaped : digestPart(part);
    }),
  ).then((encoded) => `${keyVersion}:{${tenantId}}:${encoded.join(":")}`);
}

/**
 * tenantKey without a promise when no part needs a digest (every part up to 512 bytes
 * escaped, the common case), else null. The hot path builds one key per entity and group.
 */
export function tenantKeyNow(tenantId: string, ...parts: string[]): string | null {
  let key = `${keyVersion}:{${tenantId}}`;
  for (const part of parts) {
    const escaped = escapePart(part);
    if (escaped.length > 512) return null;
    key += `:${escaped}`;
  }
  return key;
}

async function digestPart(part: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(part));
  return `#${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The hash holding one entity's latest values of one group. */
export function valueKey(tenantId: string, groupId: string, entityId: string): Promise<string> {
  return tenantKey(tenantId, "v", groupId, entityId);
}

/** The value hashes of entities x groups, entity-major, with one await only if an id needs a digest. */
export function valueKeys(
  tenantId: string,
  entityIds: readonly string[],
  groupIds: readonly string[],
): string[] | Promise<string[]> {
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

/** The hash holding one entity's tiles of a group's aggregated features (fields per feature version). */
export function tileSetKey(tenantId: string, groupId: string, entityId: string): Promise<string> {
  return tenantKey(tenantId, "t", groupId, entityId);
}

/** tileSetKey without a promise when no part needs a digest. */
export function tileSetKeyNow(tenantId: string, groupId: string, entityId: string): string | null {
  return tenantKeyNow(tenantId, "t", groupId, entityId);
}

/** The tenant's registry revision counter (its parts never need a digest). */
export function registryRevisionKey(tenantId: string): string {
  return tenantKeyNow(tenantId, "registry", "rev")!;
}

/** The hash of a tenant's serving request counts in one minute (epoch minutes). */
export function servingCountsKey(tenantId: string, minute: number): string {
  return `${keyVersion}:{${tenantId}}:m:${minute}`;
}
