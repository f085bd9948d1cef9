// What serving caches about a tenant's registry (name → id, type, TTL) is checked against
// a revision counter in the online store on every read. Every registry change bumps it.
import type { Env } from "#shared/env.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";

/**
 * Bumps the tenant's registry revision. Called after every committed change. If the online
 * store is unreachable the change still stands; serving's snapshots also expire on their
 * own (registryCacheSeconds), which bounds how stale one can be.
 */
export async function invalidateRegistryCache(env: Env, tenantId: string): Promise<boolean> {
  const store = connectOnlineStore(env);
  if (!store.enabled) return false;
  try {
    await store.bumpRegistryRevision(tenantId, 1000);
    return true;
  } catch (error) {
    console.error("registry cache invalidation failed", tenantId, (error as Error).message);
    return false;
  }
}

/** Upper bound on how long serving trusts a registry snapshot without a revision check. */
export const registryCacheSeconds = 60;
