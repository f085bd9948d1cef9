// Worker bindings, parsed once per environment object: a missing or malformed setting
// fails loudly with its name instead of deep inside a handler.
import { z } from "zod";

// wrangler passes unset [vars] as empty strings; treat them as absent.
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === "" || v === null ? undefined : v), schema.optional());

export const envSchema = z
  .object({
    /** Postgres URL the workers log in with (the app role). On Neon: the pooled URL. */
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
    /** Neon HTTP `/sql` endpoint; unset in production (the driver derives it from the host). */
    NEON_FETCH_ENDPOINT: optional(z.url()),
    /** Neon WebSocket proxy as `host:port/path`; unset in production. */
    NEON_WS_PROXY: optional(z.string().min(1)),
    UPSTASH_REDIS_REST_URL: optional(z.url()),
    UPSTASH_REDIS_REST_TOKEN: optional(z.string().min(1)),
    /** HS256 secret; at least 32 bytes so it cannot be guessed offline. */
    JWT_SECRET: optional(z.string().min(32)),
    /** JWKS for RS256/ES256 tokens. */
    JWKS_URL: optional(z.url()),
    JWT_ISSUER: optional(z.string().min(1)),
    JWT_AUDIENCE: optional(z.string().min(1)),
    /** How long a read waits for Redis before answering from Postgres. */
    REDIS_TIMEOUT_MS: z.coerce.number().int().min(1).max(10_000).default(100),
    /** Point-in-time requests with at least this many pairs use one sort-merge pass. */
    PIT_MERGE_THRESHOLD: z.coerce.number().int().min(1).default(1_000),
    /** Embedding search computes every distance when the tenant has at most this many vectors. */
    EXACT_SEARCH_MAX_ROWS: z.coerce.number().int().min(0).max(1_000_000).default(2_000),
  })
  .refine((e) => e.JWT_SECRET !== undefined || e.JWKS_URL !== undefined, {
    message: "set JWT_SECRET or JWKS_URL (or both)",
    path: ["JWT_SECRET"],
  })
  .refine((e) => (e.UPSTASH_REDIS_REST_URL === undefined) === (e.UPSTASH_REDIS_REST_TOKEN === undefined), {
    message: "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN go together",
    path: ["UPSTASH_REDIS_REST_TOKEN"],
  });

export type Env = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

const parsed = new WeakMap<object, Env>();

export function parseEnv(bindings: object): Env {
  const cached = parsed.get(bindings);
  if (cached) return cached;
  const result = envSchema.safeParse(bindings);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "env"}: ${i.message}`);
    throw new ConfigError(`worker misconfigured: ${problems.join("; ")}`);
  }
  parsed.set(bindings, result.data);
  return result.data;
}
