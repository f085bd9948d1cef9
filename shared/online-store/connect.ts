// The online store a worker's bindings configure: Upstash Redis when its URL and token are
// set, otherwise the disabled store. One per environment object.
import type { Env } from "#shared/env.ts";
import { disabledOnlineStore } from "./disabled.ts";
import { RedisOnlineStore } from "./redis.ts";
import { connectRedis, connectRedisReader } from "./redis-client.ts";
import type { OnlineStore } from "./store.ts";

const stores = new WeakMap<Env, OnlineStore>();

export function connectOnlineStore(env: Env): OnlineStore {
  let store = stores.get(env);
  if (!store) {
    const writer = connectRedis(env);
    const reader = connectRedisReader(env);
    store = writer && reader ? new RedisOnlineStore(reader, writer, env.REDIS_TIMEOUT_MS) : disabledOnlineStore;
    stores.set(env, store);
  }
  return store;
}
