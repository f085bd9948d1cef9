// What serving caches about a tenant's registry (name → id, type, TTL) is keyed by a
// revision counter in Redis. Every registry change bumps it, so the next read rebuilds.
import type { Env } from "../env.ts";
import { connectRedis, tenantKey, withDeadline } from "../redis.ts";

export async function registryRevisionKey(tenantId: string): Promise<string> {
  return tenantKey(tenantId, "registry", "rev");
}

export async function registrySnapshotKey(tenantId: string): Promise<string> {
  return tenantKey(tenantId, "registry", "snapshot");
}

/**
 * Bumps the tenant's registry revision and drops the cached snapshot. Called after every
 * committed change. If Redis is unreachable the change still stands; serving's snapshots
 * also expire on their own (registryCacheSeconds), which bounds how stale one can be.
 */
export async function invalidateRegistryCache(env: Env, tenantId: string): Promise<boolean> {
  const redis = connectRedis(env);
  if (!redis) return false;
  try {
    const pipeline = redis.pipeline();
    pipeline.incr(await registryRevisionKey(tenantId));
    pipeline.del(await registrySnapshotKey(tenantId));
    await withDeadline(pipeline.exec(), 1000);
    return true;
  } catch (error) {
    console.error("registry cache invalidation failed", tenantId, (error as Error).message);
    return false;
  }
}

/** Upper bound on how long serving trusts a registry snapshot without a revision check. */
export const registryCacheSeconds = 60;
