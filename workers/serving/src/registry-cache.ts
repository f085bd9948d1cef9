// The serving isolate's copy of each tenant's registry. Every read checks it against the
// revision in Redis inside the same script that reads the values (no extra round trip);
// a changed revision, or an entry older than registryCacheSeconds, reloads it.

import type { TenantContext } from "#shared/db/tenant.ts";
import { AppError } from "#shared/http/errors.ts";
import { connectOnlineStore } from "#shared/online-store/connect.ts";
import { registryCacheSeconds } from "#shared/registry/cache.ts";
import {
  indexRegistry,
  loadRegistryFeatures,
  type RegistrySnapshot,
  resolveFeatureNames,
  type ServedFeature,
} from "#shared/registry/snapshot.ts";

export interface CachedRegistry {
  snapshot: RegistrySnapshot;
  /** The Redis revision read before the snapshot was loaded; undefined when Redis was unreachable. */
  revision: string | null | undefined;
  loadedAt: number;
}

const maxTenants = 1000;
const entries = new Map<string, CachedRegistry>();

export function forgetRegistry(tenantId: string): void {
  entries.delete(tenantId);
}

export async function registryFor(ctx: TenantContext): Promise<CachedRegistry> {
  const store = connectOnlineStore(ctx.env);
  const cached = entries.get(ctx.tenantId);
  if (cached && Date.now() - cached.loadedAt < registryCacheSeconds * 1000) return cached;
  // The revision is read first: a change landing during the load then shows up as a
  // mismatch on the next read instead of hiding behind a newer revision.
  let revision: string | null | undefined;
  if (store.enabled) {
    try {
      revision = await store.registryRevision(ctx.tenantId);
    } catch {
      revision = undefined;
    }
  }
  const entry = {
    snapshot: indexRegistry(await loadRegistryFeatures(ctx.db, ctx.tenantId)),
    revision,
    loadedAt: Date.now(),
  };
  entries.delete(ctx.tenantId);
  entries.set(ctx.tenantId, entry);
  if (entries.size > maxTenants) entries.delete(entries.keys().next().value as string);
  return entry;
}

/**
 * The registry and the requested names resolved against it. A name the cached copy does not
 * know may be a feature created since it was loaded: the registry is reloaded once before
 * the name is reported unknown, so a read right after a change sees it.
 */
export async function resolveFeatures(
  ctx: TenantContext,
  names: readonly string[],
  entityType?: string,
): Promise<{ registry: CachedRegistry; resolved: Map<string, ServedFeature> }> {
  const asked = Date.now();
  const registry = await registryFor(ctx);
  try {
    return { registry, resolved: resolveFeatureNames(registry.snapshot, names, entityType) };
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== "UNKNOWN_FEATURE" || registry.loadedAt >= asked) throw error;
    forgetRegistry(ctx.tenantId);
    const reloaded = await registryFor(ctx);
    return { registry: reloaded, resolved: resolveFeatureNames(reloaded.snapshot, names, entityType) };
  }
}
