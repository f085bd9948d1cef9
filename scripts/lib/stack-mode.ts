// Which database `npm start` runs on: a PostgreSQL server when one can be used, otherwise the
// embedded one (PGlite) inside the start process. Flags and environment decide first.
import { existsSync, readdirSync } from "node:fs";
import net from "node:net";
import { localStack } from "../local/config.ts";

export type DatabaseMode = "server" | "embedded";

export interface ModeChoice {
  mode: DatabaseMode;
  why: string;
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("connect", () => done(true));
    socket.on("error", () => done(false));
  });
}

/** A Debian PostgreSQL cluster this process may start and add pgvector to (needs root). */
function startablePostgres(): boolean {
  if (process.getuid?.() !== 0) return false;
  if (!existsSync("/etc/postgresql") || !existsSync("/usr/bin/pg_ctlcluster")) return false;
  return readdirSync("/etc/postgresql").length > 0;
}

export async function chooseDatabaseMode(args: Set<string>, env = process.env): Promise<ModeChoice> {
  if (args.has("--embedded") || env.FS_EMBEDDED === "1") return { mode: "embedded", why: "asked for" };
  if (args.has("--server")) return { mode: "server", why: "asked for" };
  if (env.POSTGRES_URL) return { mode: "server", why: "POSTGRES_URL is set" };
  if (await listening(localStack.pgHost, localStack.pgPort))
    return { mode: "server", why: `PostgreSQL answers at ${localStack.pgHost}:${localStack.pgPort}` };
  if (startablePostgres()) return { mode: "server", why: "PostgreSQL is installed here" };
  return {
    mode: "embedded",
    why: `no PostgreSQL server at ${localStack.pgHost}:${localStack.pgPort} and none this user can start`,
  };
}

/** Redis is used when it is configured or can be reached; without it reads come from Postgres. */
export async function redisAvailable(mode: DatabaseMode, env = process.env): Promise<boolean> {
  if (env.REDIS_URL) return true;
  if (mode === "embedded") return false;
  const url = new URL(localStack.redisUrl);
  return (await listening(url.hostname, Number(url.port || 6379))) || existsSync("/usr/bin/redis-server");
}
