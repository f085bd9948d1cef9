// A local Neon endpoint over a plain PostgreSQL: the HTTP `/sql` API that
// `neon()` / drizzle neon-http speak, and the WebSocket proxy that `Pool`/`Client` use.
// It lets production code reach a local database through the real Neon driver.
import http from "node:http";
import net from "node:net";
import pg from "pg";
import { WebSocketServer } from "ws";
import { serviceLimits } from "./config.ts";

export interface NeonServerOptions {
  port?: number;
  host?: string;
  /** Where the real PostgreSQL listens. Every connection goes there, whatever host the client names. */
  pgHost?: string;
  pgPort?: number;
  /**
   * The largest answer `/sql` gives, as Neon's SQL-over-HTTP does (10 MiB); a larger one is
   * the error Neon gives. The WebSocket path has no such limit, on Neon or here.
   */
  maxResponseBytes?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  stats: () => Record<string, number>;
  close: () => Promise<void>;
}

// The Neon driver parses values itself from text by dataTypeID, exactly as Neon returns them.
const textOnly = { getTypeParser: () => (value: string) => value };

const errorFields = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;

interface SqlQuery {
  query: string;
  params?: unknown[];
}

const isolationLevels: Record<string, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};

/** Listens, or rejects with the listen error (EADDRINUSE...). */
export function listen(server: http.Server, port: number, host: string): Promise<void> {
  // Node closes an idle keep-alive connection after 5 s by default; a client that sends its
  // next request on it at that moment gets "Network connection lost" (workerd reuses pooled
  // connections). The client, not the server, should be the one to give up on an idle one.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

export async function startNeonServer(options: NeonServerOptions = {}): Promise<RunningServer> {
  const pgHost = options.pgHost ?? "127.0.0.1";
  const pgPort = options.pgPort ?? 5432;
  const pools = new Map<string, pg.Pool>();
  const maxResponseBytes = options.maxResponseBytes ?? serviceLimits.neonMaxResponseBytes;
  const counters = { httpRequests: 0, httpQueries: 0, wsConnections: 0, responsesTooLarge: 0 };

  function poolFor(connectionString: string): pg.Pool {
    const parsed = new URL(connectionString);
    const user = decodeURIComponent(parsed.username);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || user;
    const key = `${user}\u0000${database}`;
    let pool = pools.get(key);
    if (!pool) {
      pool = new pg.Pool({
        host: pgHost,
        port: pgPort,
        user,
        password: decodeURIComponent(parsed.password),
        database,
        max: 16,
        idleTimeoutMillis: 30_000,
      });
      pool.on("error", () => {});
      // A connection dropped while checked out (a reset under the fault proxy) fails its
      // query; without a listener it would also crash this process through 'error'.
      pool.on("connect", (client) => client.on("error", () => {}));
      pools.set(key, pool);
    }
    return pool;
  }

  async function runOne(client: pg.PoolClient, q: SqlQuery) {
    const result = await client.query({
      text: q.query,
      values: (q.params ?? []) as unknown[],
      rowMode: "array",
      types: textOnly,
      // Always the extended protocol, like Neon: one statement per query, never several.
      queryMode: "extended",
    } as pg.QueryConfig & { queryMode: "extended" });
    counters.httpQueries++;
    return {
      command: result.command,
      rowCount: result.rowCount,
      rows: result.rows,
      fields: result.fields.map((f) => ({
        name: f.name,
        dataTypeID: f.dataTypeID,
        tableID: f.tableID,
        columnID: f.columnID,
        dataTypeSize: f.dataTypeSize,
        dataTypeModifier: f.dataTypeModifier,
        format: f.format,
      })),
      rowAsArray: true,
    };
  }

  async function handleSql(req: http.IncomingMessage, body: string) {
    const connectionString = req.headers["neon-connection-string"];
    if (typeof connectionString !== "string") {
      return { status: 400, json: { message: "missing Neon-Connection-String header" } };
    }
    const payload = JSON.parse(body) as SqlQuery | { queries: SqlQuery[] };
    const client = await poolFor(connectionString).connect();
    let inTransaction = false;
    try {
      if ("queries" in payload) {
        const level = isolationLevels[String(req.headers["neon-batch-isolation-level"] ?? "")];
        const readOnly = req.headers["neon-batch-read-only"] === "true";
        const deferrable = req.headers["neon-batch-deferrable"] === "true";
        const modes = [
          level ? `ISOLATION LEVEL ${level}` : "",
          readOnly ? "READ ONLY" : "",
          deferrable ? "DEFERRABLE" : "",
        ].filter(Boolean);
        await client.query(`BEGIN ${modes.join(" ")}`);
        inTransaction = true;
        const results = [];
        for (const q of payload.queries) results.push(await runOne(client, q));
        await client.query("COMMIT");
        inTransaction = false;
        return { status: 200, json: { results } };
      }
      return { status: 200, json: await runOne(client, payload) };
    } catch (error) {
      if (inTransaction) await client.query("ROLLBACK").catch(() => {});
      const e = error as Record<string, unknown> & { message?: string };
      const json: Record<string, unknown> = { message: e.message ?? String(error) };
      for (const field of errorFields) if (e[field] !== undefined) json[field] = e[field];
      return { status: 400, json };
    } finally {
      client.release();
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      try {
        const path = (req.url ?? "/").split("?")[0];
        if (req.method === "GET" && path === "/healthz") return send(200, { ok: true, service: "neon-local" });
        if (req.method === "GET" && path === "/__stats") return send(200, counters);
        if (req.method === "POST" && path === "/sql") {
          counters.httpRequests++;
          const { status, json } = await handleSql(req, Buffer.concat(chunks).toString("utf8"));
          const text = JSON.stringify(json);
          if (Buffer.byteLength(text) > maxResponseBytes) {
            counters.responsesTooLarge++;
            // What Neon's proxy answers (sql_over_http: ResponseTooLarge → 507).
            res.writeHead(507, { "content-type": "application/json" });
            return res.end(JSON.stringify({ message: `response is too large (max is ${maxResponseBytes} bytes)` }));
          }
          res.writeHead(status, { "content-type": "application/json" });
          return res.end(text);
        }
        send(404, { message: `no route ${req.method} ${path}` });
      } catch (error) {
        send(500, { message: String(error) });
      }
    });
  });

  // WebSocket proxy: raw Postgres wire protocol relayed to the real server.
  const wss = new WebSocketServer({ server, path: "/v1" });
  wss.on("connection", (ws) => {
    counters.wsConnections++;
    const socket = net.connect({ host: pgHost, port: pgPort });
    const pending: Buffer[] = [];
    let connected = false;
    socket.on("connect", () => {
      connected = true;
      for (const chunk of pending) socket.write(chunk);
      pending.length = 0;
    });
    ws.on("message", (data: Buffer) => {
      if (connected) socket.write(data);
      else pending.push(data);
    });
    socket.on("data", (data) => ws.send(data));
    // terminate(), not close(): a half-closed relay shows up in workerd as a spurious
    // "Network connection lost".
    socket.on("close", () => ws.terminate());
    socket.on("error", () => ws.terminate());
    ws.on("close", () => socket.destroy());
    ws.on("error", () => socket.destroy());
  });

  // A taken port must reject here, not crash the process through the WebSocket server's
  // re-emitted 'error' (npm start then reuses the endpoint already running).
  wss.on("error", () => {});
  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1");
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats: () => ({ ...counters }),
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...pools.values()].map((p) => p.end()));
    },
  };
}
