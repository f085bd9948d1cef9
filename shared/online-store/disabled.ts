// The online store of a worker with none configured: reads answer from Postgres, writes
// and registry bumps have nothing to do.
import { type CellsRead, type OnlineStore, OnlineStoreDisabled } from "./store.ts";

export const disabledOnlineStore: OnlineStore = {
  enabled: false,
  read(): Promise<CellsRead> {
    return Promise.reject(new OnlineStoreDisabled("no online store is configured"));
  },
  write: () => Promise.resolve(0),
  forget: () => Promise.resolve(),
  writeTiles: () => Promise.resolve(),
  registryRevision: () => Promise.resolve(null),
  bumpRegistryRevision: () => Promise.resolve(),
  ping: () => Promise.reject(new OnlineStoreDisabled("UPSTASH_REDIS_REST_URL is not set")),
  addServingCounts: () => Promise.resolve(),
  servingCounts: (_tenantId, minutes) => Promise.resolve(minutes.map(() => ({}))),
};
