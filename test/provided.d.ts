// Values global-setup.ts hands to the tests (vitest `provide` / `inject`).
import type { JWK } from "jose";
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    ownerDatabaseUrl: string;
    neonFetchEndpoint: string;
    neonWsProxy: string;
    neonStatsUrl: string;
    upstashUrl: string;
    upstashToken: string;
    /** An HTTP server that takes requests and never answers: a Redis slower than any deadline. */
    stalledUrl: string;
    /** Worker bindings through the fault proxies (scripts/local/fault-stack.ts). */
    faultBindings: { NEON_FETCH_ENDPOINT: string; NEON_WS_PROXY: string; UPSTASH_REDIS_REST_URL: string };
    /** PUT /faults/<neon|postgres|upstash|redis> {"kind": ...}; DELETE /faults clears all. */
    faultControlUrl: string;
    jwtSecret: string;
    jwksUrl: string;
    /** Private JWKs (RS256, ES256) whose public halves are served at jwksUrl. */
    signingKeys: { rs256: JWK; es256: JWK };
  }
}
