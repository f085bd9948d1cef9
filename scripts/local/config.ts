// Defaults of the local stack, each overridable by an environment variable. Only scripts
// and tests read this; workers get the same values as bindings.
//   POSTGRES_URL   a superuser URL of the PostgreSQL server to use (default: the one on
//                  this machine, started if needed; PGHOST/PGPORT/PG_SUPERUSER also work)
//   REDIS_URL      the Redis to use (default redis://127.0.0.1:6379, started if needed)
//   NEON_LOCAL_MAX_RESPONSE_BYTES / UPSTASH_LOCAL_MAX_REQUEST_BYTES
//                  the real services' size limits the local endpoints enforce (default
//                  10 MiB each, as Neon and Upstash do; 0 turns a limit off)
const env = process.env;
const postgresUrl = env.POSTGRES_URL ? new URL(env.POSTGRES_URL) : null;

const MiB = 1024 * 1024;

/** A byte limit from the environment: unset → the real service's, 0 → none. */
function byteLimit(value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a byte count: ${value}`);
  return n === 0 ? Number.POSITIVE_INFINITY : n;
}

/** Neon's SQL-over-HTTP answers at most 10 MiB; Upstash refuses requests over 10 MiB. */
export const serviceLimits = {
  neonMaxResponseBytes: byteLimit(env.NEON_LOCAL_MAX_RESPONSE_BYTES, 10 * MiB),
  upstashMaxRequestBytes: byteLimit(env.UPSTASH_LOCAL_MAX_REQUEST_BYTES, 10 * MiB),
};

export const localStack = {
  pgHost: postgresUrl?.hostname || env.PGHOST || "127.0.0.1",
  pgPort: Number(postgresUrl?.port || env.PGPORT || 5432),
  /** A superuser, used once to create roles, databases and the vector extension. */
  superuser: decodeURIComponent(postgresUrl?.username ?? "") || env.PG_SUPERUSER || "postgres",
  superuserPassword: decodeURIComponent(postgresUrl?.password ?? "") || env.PG_SUPERUSER_PASSWORD || "",
  /** True when the database is the embedded one (PGlite) rather than a server. */
  embedded: false,
  redisUrl: env.REDIS_URL ?? "redis://127.0.0.1:6379",
  databases: {
    dev: env.FS_DATABASE ?? "featurestore",
    test: env.FS_TEST_DATABASE ?? "featurestore_test",
  },
  roles: {
    owner: { name: "fs_owner", password: env.FS_OWNER_PASSWORD ?? "fs_owner_local" },
    app: { name: "fs_app", password: env.FS_APP_PASSWORD ?? "fs_app_local" },
    transform: { name: "fs_transform" },
  },
  neonPort: Number(env.NEON_LOCAL_PORT ?? 4444),
  upstashPort: Number(env.UPSTASH_LOCAL_PORT ?? 8079),
  upstashToken: env.UPSTASH_LOCAL_TOKEN ?? "local-upstash-token",
};

/** Points every URL below at the embedded database listening on `port`. */
export function useEmbeddedPostgres(port: number, superuser: string): void {
  Object.assign(localStack, {
    pgHost: "127.0.0.1",
    pgPort: port,
    superuser,
    superuserPassword: "",
    embedded: true,
  });
}

/** A node-postgres URL straight to the local server. */
export function directUrl(role: "owner" | "app", database: string): string {
  const r = localStack.roles[role];
  return `postgres://${r.name}:${r.password}@${localStack.pgHost}:${localStack.pgPort}/${database}`;
}

/** The URL the workers use: the host is a placeholder, the Neon endpoint decides where it goes. */
export function neonUrl(role: "owner" | "app", database: string): string {
  const r = localStack.roles[role];
  return `postgres://${r.name}:${r.password}@localhost/${database}`;
}

export function superuserUrl(database = postgresUrl?.pathname.slice(1) || "postgres"): string {
  const password = localStack.superuserPassword ? `:${encodeURIComponent(localStack.superuserPassword)}` : "";
  return `postgres://${encodeURIComponent(localStack.superuser)}${password}@${localStack.pgHost}:${localStack.pgPort}/${database}`;
}
