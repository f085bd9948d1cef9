// Worker bindings, one zod schema per worker, parsed once per environment object: a missing
// or malformed setting fails loudly with its name instead of deep inside a handler. Each
// worker asks only for what it uses (the cron worker holds no JWT secret).
import { z } from "zod";

// wrangler passes unset [vars] as empty strings; treat them as absent.
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === "" || v === null ? undefined : v), schema.optional());

/** The backing services: what every worker needs to reach Postgres and Redis. */
const storeSettings = {
  /** Postgres URL the workers log in with (the app role). On Neon: the pooled URL. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  /** Neon HTTP `/sql` endpoint; unset in production (the driver derives it from the host). */
  NEON_FETCH_ENDPOINT: optional(z.url()),
  /** Neon WebSocket proxy as `host:port/path`; unset in production. */
  NEON_WS_PROXY: optional(z.string().min(1)),
  UPSTASH_REDIS_REST_URL: optional(z.url()),
  UPSTASH_REDIS_REST_TOKEN: optional(z.string().min(1)),
  /** How long a read waits for Redis before answering from Postgres. */
  REDIS_TIMEOUT_MS: z.coerce.number().int().min(1).max(10_000).default(100),
  /** How long a query over HTTP waits for Postgres before the request answers 503 (a stalled network never hangs a request). */
  POSTGRES_TIMEOUT_MS: z.coerce.number().int().min(100).max(900_000).default(60_000),
};

/** Token verification, for the workers that answer tenants. */
const authSettings = {
  /** HS256 secret; at least 32 bytes so it cannot be guessed offline. */
  JWT_SECRET: optional(z.string().min(32)),
  /** JWKS for RS256/ES256 tokens. */
  JWKS_URL: optional(z.url()),
  JWT_ISSUER: optional(z.string().min(1)),
  JWT_AUDIENCE: optional(z.string().min(1)),
};

/**
 * Embedding search computes every distance when the tenant has at most this many vectors of
 * the feature version; above it, the cron worker builds the feature version its own HNSW
 * index (migration 0016). Read by both, so they agree.
 */
const searchSettings = {
  EXACT_SEARCH_MAX_ROWS: z.coerce.number().int().min(0).max(1_000_000).default(1_500),
};

type Settings = Record<string, z.ZodType>;

const redisPair = (e: Record<string, unknown>) =>
  (e.UPSTASH_REDIS_REST_URL === undefined) === (e.UPSTASH_REDIS_REST_TOKEN === undefined);
const redisPairIssue = {
  message: "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN go together",
  path: ["UPSTASH_REDIS_REST_TOKEN"],
};

const storeSchema = <S extends Settings>(extra: S) =>
  z.object({ ...storeSettings, ...extra }).refine(redisPair, redisPairIssue);

const tenantFacingSchema = <S extends Settings>(extra: S) =>
  storeSchema({ ...authSettings, ...extra }).refine(
    (e: Record<string, unknown>) => e.JWT_SECRET !== undefined || e.JWKS_URL !== undefined,
    { message: "set JWT_SECRET or JWKS_URL (or both)", path: ["JWT_SECRET"] },
  );

/** What shared code needs of any worker: the backing services. */
export const storeEnv = storeSchema({});
export type Env = z.infer<typeof storeEnv>;

/** Token verification settings, read by the auth middleware of the serving and admin workers. */
export const authEnv = z.object(authSettings);

export const servingEnv = tenantFacingSchema({
  /** Point-in-time requests with at least this many pairs always use one sort-merge pass. */
  PIT_MERGE_THRESHOLD: z.coerce.number().int().min(1).default(50_000),
  /**
   * Below it, "auto" probes or merges by the size of the requested features' history
   * (offline-store/point-in-time.ts); "probe" or "merge" forces one (benchmarks, diagnosis).
   */
  PIT_STRATEGY: z.enum(["auto", "probe", "merge"]).default("auto"),
  /**
   * Postgres sessions a streamed training set is spread over, by entity (offline-store/
   * training-shards.ts): their statements run at once, on as many backends.
   */
  PIT_SESSIONS: z.coerce.number().int().min(1).max(8).default(2),
  ...searchSettings,
  /** Statement timeout of an on-demand feature's transformation, computed while a read waits. */
  ON_DEMAND_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  /**
   * How often an isolate writes its request counts (serving health) to Redis, after a
   * response (waitUntil): counts are summed in memory in between, off the hot path.
   */
  SERVING_METRICS_FLUSH_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
});
export type ServingEnv = z.infer<typeof servingEnv>;

export const adminEnv = tenantFacingSchema({});

export const cronEnv = storeSchema({
  ...searchSettings,
  /** Statement timeout of a tenant's transformation in a materialization unit. */
  MATERIALIZE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(900_000).default(300_000),
  /** Months of offline partitions kept. */
  RETENTION_MONTHS: z.coerce.number().int().min(1).max(1200).default(24),
  /** Comma-separated tenant ids this cron worker materializes for (sharding); empty = all. */
  MATERIALIZE_TENANTS: z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(z.uuid()).default([]),
  ),
});

export type WorkerEnvSchema = typeof servingEnv | typeof adminEnv | typeof cronEnv;

export class ConfigError extends Error {
  override name = "ConfigError";
}

const parsed = new WeakMap<z.ZodType, WeakMap<object, unknown>>();

/** The bindings as `schema` reads them, or ConfigError naming every bad setting. */
export function parseEnv<S extends z.ZodType = typeof storeEnv>(
  bindings: object,
  schema: S = storeEnv as unknown as S,
): z.infer<S> {
  let cache = parsed.get(schema);
  if (!cache) {
    cache = new WeakMap();
    parsed.set(schema, cache);
  }
  const cached = cache.get(bindings);
  if (cached) return cached as z.infer<S>;
  const result = schema.safeParse(bindings);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "env"}: ${i.message}`);
    throw new ConfigError(`worker misconfigured: ${problems.join("; ")}`);
  }
  cache.set(bindings, result.data);
  return result.data as z.infer<S>;
}
