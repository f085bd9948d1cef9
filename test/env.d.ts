// The bindings test/worker-bindings.ts gives the workers, as `env` from cloudflare:workers.
declare namespace Cloudflare {
  interface Env {
    [binding: string]: unknown;
    DATABASE_URL: string;
    NEON_FETCH_ENDPOINT: string;
    NEON_WS_PROXY: string;
    UPSTASH_REDIS_REST_URL: string;
    UPSTASH_REDIS_REST_TOKEN: string;
    JWT_SECRET: string;
    JWKS_URL: string;
  }
}
