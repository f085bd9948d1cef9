// Defaults of the local stack, each overridable by an environment variable. Only scripts
// and tests read this; workers get the same values as bindings.
//   POSTGRES_URL   a superuser URL of the PostgreSQL server to use (default: the one on
//                  this machine, started if needed; PGHOST/PGPORT/PG_SUPERUSER also work)
//   REDIS_URL      the Redis to use (default redis://127.0.0.1:6379, started if needed)
const env = process.env;
const postgresUrl = env.POSTGRES_URL ? new URL(env.POSTGRES_URL) : null;

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
