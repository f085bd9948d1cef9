// Postgres through the Neon serverless driver: one HTTP client (and its drizzle wrapper)
// per environment. Tenant work never calls it directly: it goes through tenant.ts.
import { type NeonQueryFunction, neon, neonConfig } from "@neondatabase/serverless";
import { drizzle, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import type { Env } from "#shared/env.ts";
import * as schema from "./schema.ts";

export type Database = NeonHttpDatabase<typeof schema>;
export type SqlClient = NeonQueryFunction<false, false>;

export interface DatabaseHandle {
  db: Database;
  sql: SqlClient;
}

/**
 * Points the Neon driver at a non-Neon endpoint when configured (the local stack).
 * In production both settings are unset and the driver talks to Neon directly.
 */
export function configureNeon(env: Env): void {
  // Every HTTP query gets a deadline: a stalled connection answers 503 (pg-errors.ts), not never.
  const timeoutMs = env.POSTGRES_TIMEOUT_MS ?? 60_000;
  neonConfig.fetchFunction = (input: RequestInfo | URL, init?: RequestInit) =>
    fetch(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(timeoutMs) });
  if (env.NEON_FETCH_ENDPOINT) neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
  if (env.NEON_WS_PROXY) {
    const proxy = env.NEON_WS_PROXY;
    neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    // The local proxy speaks plain password auth, which pipelined connect cannot do.
    neonConfig.pipelineConnect = false;
  }
}

const handles = new WeakMap<Env, DatabaseHandle>();

export function connectDatabase(env: Env): DatabaseHandle {
  const cached = handles.get(env);
  if (cached) return cached;
  configureNeon(env);
  const client = neon(env.DATABASE_URL);
  // drizzle also installs the driver's type parsers (timestamps as the text Postgres sent).
  const handle = { db: drizzle({ client, schema }), sql: client };
  handles.set(env, handle);
  return handle;
}
