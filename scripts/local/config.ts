// Defaults of the local stack, each overridable by an environment variable. Only scripts
// and tests read this; workers get the same values as bindings.
const env = process.env;

export const localStack = {
  pgHost: env.PGHOST ?? "127.0.0.1",
  pgPort: Number(env.PGPORT ?? 5432),
  /** A superuser, used once to create roles, databases and the vector extension. */
  superuser: env.PG_SUPERUSER ?? "postgres",
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

export function superuserUrl(database = "postgres"): string {
  return `postgres://${localStack.superuser}@${localStack.pgHost}:${localStack.pgPort}/${database}`;
}
