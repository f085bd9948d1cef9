// An embedded PostgreSQL (PGlite, with pgvector) behind a TCP port that speaks the Postgres
// wire protocol, so the Neon endpoint, node-postgres and psql reach it exactly as they reach
// a real server. Used when no PostgreSQL server can run on the machine.
//
// PGlite is one backend: every connection shares one session. This server therefore
//  - runs whole transactions one at a time: a connection holds the backend from its first
//    message until Postgres says ReadyForQuery "idle", and other connections wait their turn
//    (pglite-socket lets interleaved clients receive each other's results, so it is not used);
//  - switches to the role each connection logged in as (SET ROLE) before running its work,
//    so the app role still runs under row-level security. There is no password check: the
//    database is only reachable on loopback by processes of this user.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";

export interface EmbeddedPostgres {
  port: number;
  /** The superuser PGlite always is. */
  superuser: string;
  stats: () => { connections: number; waits: number; longestWaitMs: number };
  close: () => Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port?: number;
  host?: string;
  /** Called when a connection waits unusually long for the backend (a likely deadlock). */
  onSlowWait?: (message: string) => void;
}

const protocolVersion3 = 196608;
const sslRequest = 80877103;
const gssEncRequest = 80877104;
const cancelRequest = 80877102;
const superuser = "postgres";

function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, "latin1");
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const cstring = (s: string) => Buffer.from(`${s}\0`, "utf8");
const simpleQuery = (sql: string) => message("Q", cstring(sql));

function readyForQuery(status: "I" | "T" | "E") {
  return message("Z", Buffer.from(status, "latin1"));
}

/** What a real server sends after a successful login. */
function loginAnswer(): Buffer {
  const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  const parameters: [string, string][] = [
    ["server_version", "18.6"],
    ["server_encoding", "UTF8"],
    ["client_encoding", "UTF8"],
    ["DateStyle", "ISO, MDY"],
    ["IntervalStyle", "postgres"],
    ["integer_datetimes", "on"],
    ["standard_conforming_strings", "on"],
    ["TimeZone", "UTC"],
  ];
  return Buffer.concat([
    message("R", int32(0)),
    ...parameters.map(([k, v]) => message("S", Buffer.concat([cstring(k), cstring(v)]))),
    message("K", Buffer.concat([int32(process.pid), int32(0)])),
    readyForQuery("I"),
  ]);
}

/** The transaction status of the last ReadyForQuery in a backend answer, if any. */
function lastReadyStatus(answer: Uint8Array): string | null {
  const bytes = Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength);
  let status: string | null = null;
  for (let i = 0; i + 5 <= bytes.length; ) {
    const length = bytes.readInt32BE(i + 1);
    if (bytes[i] === 0x5a /* Z */) status = String.fromCharCode(bytes[i + 5]!);
    i += 1 + length;
  }
  return status;
}

function errorText(answer: Uint8Array): string | null {
  const bytes = Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength);
  for (let i = 0; i + 5 <= bytes.length; ) {
    const length = bytes.readInt32BE(i + 1);
    if (bytes[i] === 0x45 /* E */) {
      const fields = bytes
        .subarray(i + 5, i + 1 + length)
        .toString("utf8")
        .split("\0");
      return fields.find((f) => f.startsWith("M"))?.slice(1) ?? "error";
    }
    i += 1 + length;
  }
  return null;
}

/** Refuses a second process on the same data directory; PGlite itself would not notice. */
function lockDataDir(dataDir: string): () => void {
  const lockFile = `${dataDir}.lock`;
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, "utf8"));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {}
    if (alive) throw new Error(`the embedded database ${dataDir} is in use by process ${pid}; stop it first`);
  }
  mkdirSync(path.dirname(lockFile), { recursive: true });
  writeFileSync(lockFile, String(process.pid));
  return () => rmSync(lockFile, { force: true });
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const unlock = lockDataDir(options.dataDir);
  // However the process ends (a close that failed, process.exit before it finished), the
  // lock goes with it.
  process.once("exit", unlock);
  let db: PGlite;
  try {
    db = await PGlite.create(options.dataDir, { extensions: { vector } });
  } catch (error) {
    unlock();
    throw error;
  }
  const counters = { connections: 0, waits: 0, longestWaitMs: 0 };

  // The backend is held by one connection at a time; the others queue in arrival order.
  let holder: Connection | null = null;
  const waiting: (() => void)[] = [];
  let sessionRole = superuser;

  async function acquire(connection: Connection): Promise<void> {
    if (holder === connection) return;
    if (holder !== null) {
      counters.waits++;
      const since = Date.now();
      const warn = setTimeout(
        () =>
          options.onSlowWait?.(
            `a connection as ${connection.user} has waited 10 s for the embedded database, held by one as ${holder?.user}`,
          ),
        10_000,
      );
      await new Promise<void>((resolve) => waiting.push(resolve));
      clearTimeout(warn);
      counters.longestWaitMs = Math.max(counters.longestWaitMs, Date.now() - since);
    }
    holder = connection;
    if (sessionRole !== connection.user) {
      const sql = connection.user === superuser ? "RESET ROLE" : `SET ROLE "${connection.user.replaceAll('"', '""')}"`;
      const failure = errorText(await db.execProtocolRaw(simpleQuery(sql), { syncToFs: false }));
      if (failure) throw new Error(`cannot log in as ${connection.user}: ${failure}`);
      sessionRole = connection.user;
    }
  }

  function release(connection: Connection) {
    if (holder !== connection) return;
    holder = null;
    waiting.shift()?.();
  }

  class Connection {
    user = superuser;
    private buffer: Buffer = Buffer.alloc(0);
    private started = false;
    private queue: Buffer[] = [];
    private pumping = false;
    private closed = false;
    private status = "I";

    constructor(private socket: net.Socket) {
      socket.setNoDelay(true);
      socket.on("data", (chunk: Buffer) => {
        this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
        this.split();
        void this.pump();
      });
      socket.on("close", () => void this.onClose());
      socket.on("error", () => socket.destroy());
    }

    /** Cuts the byte stream into whole protocol messages. */
    private split() {
      for (;;) {
        if (!this.started) {
          if (this.buffer.length < 8) return;
          const length = this.buffer.readInt32BE(0);
          if (this.buffer.length < length) return;
          const packet = this.buffer.subarray(0, length);
          this.buffer = this.buffer.subarray(length);
          this.startup(packet);
          continue;
        }
        if (this.buffer.length < 5) return;
        const length = this.buffer.readInt32BE(1);
        if (this.buffer.length < 1 + length) return;
        this.queue.push(Buffer.from(this.buffer.subarray(0, 1 + length)));
        this.buffer = this.buffer.subarray(1 + length);
      }
    }

    private startup(packet: Buffer) {
      const code = packet.readInt32BE(4);
      if (code === sslRequest || code === gssEncRequest) {
        this.socket.write("N"); // no encryption on loopback; the client goes on in plain text
        return;
      }
      if (code === cancelRequest || code !== protocolVersion3) {
        this.socket.destroy();
        return;
      }
      const fields = packet.subarray(8).toString("utf8").split("\0");
      for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === "user") this.user = fields[i + 1]!;
      this.started = true;
      counters.connections++;
      this.socket.write(loginAnswer());
    }

    private async pump() {
      if (this.pumping) return;
      this.pumping = true;
      try {
        while (this.queue.length && !this.closed) {
          const next = this.queue.shift()!;
          const type = String.fromCharCode(next[0]!);
          if (type === "p") continue; // a pipelined password: there is nothing to check
          if (type === "X") {
            this.socket.end();
            return;
          }
          await acquire(this);
          const answer = await db.execProtocolRaw(next, { syncToFs: false });
          if (answer.byteLength) this.socket.write(answer);
          const status = lastReadyStatus(answer);
          if (status) this.status = status;
          if (status === "I") release(this);
        }
      } catch (error) {
        this.socket.destroy(error as Error);
      } finally {
        this.pumping = false;
      }
    }

    /** A client gone mid-transaction must not leave it open for the next one. */
    private async onClose() {
      this.closed = true;
      while (this.pumping) await new Promise((r) => setTimeout(r, 5));
      if (holder !== this) return;
      try {
        await db.execProtocolRaw(message("S"), { syncToFs: false });
        if (this.status !== "I") await db.execProtocolRaw(simpleQuery("ROLLBACK"), { syncToFs: false });
      } finally {
        release(this);
      }
    }
  }

  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    new Connection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    superuser,
    stats: () => ({ ...counters }),
    close: async () => {
      try {
        server.close();
        for (const socket of sockets) socket.destroy();
        // Each connection rolls back what it held as it closes; give that a moment.
        for (let i = 0; holder !== null && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
        await db.close();
      } finally {
        unlock();
      }
    },
  };
}
