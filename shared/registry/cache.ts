// What serving caches about a tenant's registry (name → id, type, TTL) is checked against
// a revision counter in Redis on every read. Every registry change bumps it.
import type { Env } from "#shared/env.ts";
import { connectRedis, tenantKeyNow, withDeadline } from "#shared/online-store/redis-client.ts";

/** The tenant's registry revision counter (its parts never need a digest). */
export function registryRevisionKey(tenantId: string): string {
  return tenantKeyNow(tenantId, "registry", "rev")!;
}

/**
 * Bumps the tenant's registry revision. Called after every committed change. If Redis is
 * unreachable the change still stands; serving's snapshots also expire on their own
 * (registryCacheSeconds), which bounds how stale one can be.
 */
export async function invalidateRegistryCache(env: Env, tenantId: string): Promise<boolean> {
  const redis = connectRedis(env);
  if (!redis) return false;
  try {
    await withDeadline(redis.incr(registryRevisionKey(tenantId)), 1000);
    return true;
  } catch (error) {
    console.error("registry cache invalidation failed", tenantId, (error as Error).message);
    return false;
  }
}

/** Upper bound on how long serving trusts a registry snapshot without a revision check. */
export const registryCacheSeconds = 60;
