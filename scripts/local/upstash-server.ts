// A local Upstash Redis REST endpoint over a plain Redis: the JSON command, `/pipeline`
// and `/multi-exec` API that `@upstash/redis` speaks, with bearer-token auth and the
// base64 response encoding the client asks for by default.
import http from "node:http";
import type net from "node:net";
import Redis from "ioredis";
import { serviceLimits } from "./config.ts";
import { listen, type RunningServer } from "./neon-server.ts";

export interface UpstashServerOptions {
  port?: number;
  host?: string;
  redisUrl?: string;
  /** Accepted bearer token. Tokens of the form `<token>.<label>` are accepted too and counted apart. */
  token: string;
  /** The largest request body accepted, as Upstash's (10 MiB); larger ones are refused as Upstash does. */
  maxRequestBytes?: number;
}

type Reply = Buffer | number | null | Reply[] | Error;
type Encoded = string | number | null | Encoded[];

function encode(reply: Reply, base64: boolean): Encoded {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === "number") return reply;
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString("base64") : reply.toString("utf8");
  if (Array.isArray(reply)) return reply.map((r) => encode(r, base64));
  // ioredis turns some replies into objects (HGETALL): Upstash answers the flat array Redis sent.
  if (typeof reply === "object" && !(reply instanceof Error))
    return Object.entries(reply as Record<string, Reply>).flatMap(([field, value]) => [
      base64 ? Buffer.from(field).toString("base64") : field,
      encode(value, base64),
    ]);
  return String(reply);
}

function isCommand(value: unknown): value is (string | number)[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    typeof value[0] === "string" &&
    value.every((v) => typeof v === "string" || typeof v === "number")
  );
}

export async function startUpstashServer(options: UpstashServerOptions): Promise<RunningServer> {
  const redis = new Redis(options.redisUrl ?? "redis://127.0.0.1:6379", {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
  });
  redis.on("error", () => {});
  await redis.connect();
  const requestsByToken = new Map<string, number>();
  let requests = 0;
  let requestsTooLarge = 0;
  const maxRequestBytes = options.maxRequestBytes ?? serviceLimits.upstashMaxRequestBytes;

  // Commands are built without spreading their arguments: a script call can carry tens of
  // thousands of them, more than a JavaScript call stack takes.
  const command = (cmd: (string | number)[]) =>
    new Redis.Command(String(cmd[0]), cmd.slice(1).map(String), { replyEncoding: null });
  const run = (cmd: (string | number)[]): Promise<Reply> => redis.sendCommand(command(cmd)) as Promise<Reply>;

  async function runBatch(cmds: (string | number)[][], transactional: boolean) {
    const batch = transactional ? redis.multi() : redis.pipeline();
    // Pipeline and Multi queue a Command like the client does (not in their public types).
    const queue = batch as unknown as { sendCommand: (c: InstanceType<typeof Redis.Command>) => void };
    for (const cmd of cmds) queue.sendCommand(command(cmd));
    const results = (await batch.exec()) ?? [];
    return results.map(([err, value]) => (err ? { error: err.message } : { value: value as Reply }));
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      const path = ((req.url ?? "/").split("?")[0] ?? "/").replace(/\/+$/, "") || "/";
      if (req.method === "GET" && path === "/healthz") return send(200, { ok: true, service: "upstash-local" });
      if (req.method === "GET" && path === "/__stats") {
        return send(200, { requests, requestsTooLarge, byToken: Object.fromEntries(requestsByToken) });
      }
      const auth = req.headers.authorization ?? "";
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      if (token !== options.token && !token.startsWith(`${options.token}.`)) {
        return send(401, { error: "Unauthorized" });
      }
      requests++;
      requestsByToken.set(token, (requestsByToken.get(token) ?? 0) + 1);
      const size = chunks.reduce((n, c) => n + c.length, 0);
      if (size > maxRequestBytes) {
        requestsTooLarge++;
        return send(400, { error: "ERR max request size exceeded" });
      }
      const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return send(400, { error: "ERR failed to parse request body as JSON" });
      }
      try {
        if (req.method !== "POST") return send(405, { error: "ERR only POST is supported" });
        if (path === "/") {
          if (!isCommand(body)) return send(400, { error: "ERR command must be a non-empty JSON array" });
          try {
            return send(200, { result: encode(await run(body), base64) });
          } catch (error) {
            return send(400, { error: (error as Error).message });
          }
        }
        if (path === "/pipeline" || path === "/multi-exec") {
          if (!Array.isArray(body) || !body.every(isCommand)) {
            return send(400, { error: "ERR body must be a JSON array of commands" });
          }
          const results = await runBatch(body, path === "/multi-exec");
          return send(
            200,
            results.map((r) => ("error" in r ? { error: r.error } : { result: encode(r.value, base64) })),
          );
        }
        return send(404, { error: `ERR unknown path ${path}` });
      } catch (error) {
        return send(500, { error: (error as Error).message });
      }
    });
  });

  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1").catch((error) => {
    redis.disconnect();
    throw error;
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats: () => ({ requests, requestsTooLarge }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      redis.disconnect();
    },
  };
}
