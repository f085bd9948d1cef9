// The bindings every worker gets in tests: the local stack started by global-setup.ts.
import type { inject as injectFn } from "vitest";

export function workerBindings(inject: typeof injectFn): Record<string, string> {
  return {
    DATABASE_URL: inject("databaseUrl"),
    NEON_FETCH_ENDPOINT: inject("neonFetchEndpoint"),
    NEON_WS_PROXY: inject("neonWsProxy"),
    UPSTASH_REDIS_REST_URL: inject("upstashUrl"),
    UPSTASH_REDIS_REST_TOKEN: inject("upstashToken"),
    JWT_SECRET: inject("jwtSecret"),
    JWKS_URL: inject("jwksUrl"),
    JWT_ISSUER: "",
    JWT_AUDIENCE: "",
    REDIS_TIMEOUT_MS: "200",
  };
}

/** Speeds up cold start of every test file: pre-bundle the heavy dependencies once. */
export const optimizedDeps = {
  optimizer: {
    ssr: {
      enabled: true,
      include: [
        "zod",
        "hono",
        "@hono/zod-openapi",
        "drizzle-orm",
        "@neondatabase/serverless",
        "@upstash/redis/cloudflare",
        "jose",
      ],
    },
  },
};
