// Upstash Redis through its REST client. Every key lives under the tenant's prefix and is
// built only by tenantKey, so nothing in a request can name another tenant's key.
import { Redis } from "@upstash/redis/cloudflare";
import type { Env } from "./env.ts";

const clients = new WeakMap<Env, Redis>();

/** null when no Redis is configured: callers answer from Postgres. */
export function connectRedis(env: Env): Redis | null {
  if (!env.UPSTASH_REDIS_REST_URL || !env.UPSTASH_REDIS_REST_TOKEN) return null;
  const cached = clients.get(env);
  if (cached) return cached;
  const client = new Redis({
    url: env.UPSTASH_REDIS_REST_URL,
    token: env.UPSTASH_REDIS_REST_TOKEN,
    // The hot path has its own deadline and falls back to Postgres; retries would only
    // stretch a failure into seconds.
    retry: { retries: 0 },
    automaticDeserialization: false,
    enableTelemetry: false,
    enableAutoPipelining: false,
  });
  clients.set(env, client);
  return client;
}

const keyVersion = "fs1";

/**
 * `fs1:{tenant}:part:part...`. Parts are percent-encoded, so `:`, `*`, `{`, newlines and
 * unicode in an entity id stay inside their own segment; ids longer than 512 bytes are
 * replaced by their SHA-256 so a 10 KB id cannot bloat keys.
 */
export function tenantKey(tenantId: string, ...parts: string[]): Promise<string> {
  const escaped = parts.map((part) => encodeURIComponent(part).replaceAll("*", "%2A"));
  // The common case stays synchronous work; only over-long parts need a digest.
  if (escaped.every((e) => e.length <= 512)) return Promise.resolve(`${keyVersion}:{${tenantId}}:${escaped.join(":")}`);
  return Promise.all(parts.map((part, i) => (escaped[i]!.length <= 512 ? escaped[i]! : digestPart(part)))).then(
    (encoded) => `${keyVersion}:{${tenantId}}:${encoded.join(":")}`,
  );
}

async function digestPart(part: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(part));
  return `#${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
}

/** Resolves with `promise`, or rejects with DeadlineExceeded after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
