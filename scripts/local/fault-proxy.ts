// A TCP proxy that injects faults between a client and a service: toxiproxy's toxics for a
// machine that has neither toxiproxy nor `tc netem`. Placed between the workers and the local
// Neon/Upstash endpoints (HTTP and WebSocket) and between those and PostgreSQL/Redis (their
// wire protocols): TCP is the one layer all four share.
//
// Faults (one at a time, switched at any moment):
//   latency  every chunk, both ways, arrives `ms` later (order kept)
//   stall    nothing moves either way; new connections wait; all of it flows again when cleared
//   reset    every open connection is reset (RST), and each new one at once
//   refuse   the port stops listening (ECONNREFUSED); open connections are reset
//   cut      each connection is reset after `afterBytes` more bytes from the service
import net from "node:net";

export type Fault =
  | { kind: "none" }
  | { kind: "latency"; ms: number }
  | { kind: "stall" }
  | { kind: "reset" }
  | { kind: "refuse" }
  | { kind: "cut"; afterBytes: number };

export interface FaultProxy {
  readonly name: string;
  readonly port: number;
  readonly fault: Fault;
  set(fault: Fault): Promise<void>;
  stats(): { connections: number; open: number; resets: number };
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  upstream: net.Socket | null;
  fromService: number;
  waiting: (() => void)[];
}

export async function startFaultProxy(options: {
  name: string;
  target: { host: string; port: number };
  port?: number;
}): Promise<FaultProxy> {
  let fault: Fault = { kind: "none" };
  const links = new Set<Link>();
  let connections = 0;
  let resets = 0;

  const reset = (link: Link) => {
    if (link.client.destroyed && (!link.upstream || link.upstream.destroyed)) return;
    resets++;
    link.client.resetAndDestroy();
    link.upstream?.resetAndDestroy();
    links.delete(link);
  };

  /** Forwards a chunk as the fault in force says. */
  const forward = (link: Link, data: Buffer, to: net.Socket, fromService: boolean) => {
    if (fromService && fault.kind === "cut") {
      const room = fault.afterBytes - link.fromService;
      if (room <= 0) return reset(link);
      if (data.length > room) {
        to.write(data.subarray(0, room), () => reset(link));
        link.fromService += room;
        return;
      }
    }
    if (fromService) link.fromService += data.length;
    const send = () => {
      if (fault.kind === "stall") link.waiting.push(() => to.destroyed || to.write(data));
      else if (!to.destroyed) to.write(data);
    };
    if (fault.kind === "latency") setTimeout(send, fault.ms);
    else send();
  };

  const open = (link: Link) => {
    const upstream = net.connect(options.target.port, options.target.host);
    link.upstream = upstream;
    upstream.setNoDelay(true);
    link.client.on("data", (chunk) => forward(link, chunk, upstream, false));
    upstream.on("data", (chunk) => forward(link, chunk, link.client, true));
    const end = () => {
      links.delete(link);
      if (!link.client.destroyed) link.client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    upstream.on("error", end);
    upstream.on("close", end);
    link.client.on("close", end);
    link.client.resume();
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    connections++;
    client.setNoDelay(true);
    client.on("error", () => {});
    const link: Link = { client, upstream: null, fromService: 0, waiting: [] };
    links.add(link);
    if (fault.kind === "reset") return reset(link);
    if (fault.kind === "stall") link.waiting.push(() => open(link));
    else open(link);
  });

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  const port = await listen(options.port ?? 0);

  return {
    name: options.name,
    port,
    get fault() {
      return fault;
    },
    async set(next) {
      const previous = fault;
      fault = next;
      if (next.kind === "reset" || next.kind === "refuse") for (const link of [...links]) reset(link);
      // A cut counts from when it is set, on open connections too (a pool's idle ones).
      if (next.kind === "cut") for (const link of links) link.fromService = 0;
      if (next.kind === "refuse" && previous.kind !== "refuse") await new Promise((resolve) => server.close(resolve));
      if (previous.kind === "refuse" && next.kind !== "refuse") await listen(port);
      if (previous.kind === "stall" && next.kind !== "stall") {
        for (const link of links) for (const release of link.waiting.splice(0)) release();
      }
    },
    stats: () => ({ connections, open: links.size, resets }),
    async close() {
      for (const link of [...links]) reset(link);
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}
