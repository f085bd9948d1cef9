// HTTP control of fault proxies, for callers that cannot hold them (tests inside workerd):
//   PUT /faults/<name>  {"kind": "stall"}   sets a proxy's fault (see fault-proxy.ts)
//   DELETE /faults      clears every fault
//   GET /faults         each proxy's fault and counters
import http from "node:http";
import type net from "node:net";
import type { Fault, FaultProxy } from "./fault-proxy.ts";

const kinds = new Set(["none", "latency", "stall", "reset", "refuse", "cut"]);

function parseFault(text: string): Fault | null {
  try {
    const fault = JSON.parse(text) as Fault;
    if (!kinds.has(fault?.kind)) return null;
    if (fault.kind === "latency" && !(Number.isFinite(fault.ms) && fault.ms >= 0)) return null;
    if (fault.kind === "cut" && !(Number.isInteger(fault.afterBytes) && fault.afterBytes >= 0)) return null;
    return fault;
  } catch {
    return null;
  }
}

export async function startFaultControl(proxies: readonly FaultProxy[]) {
  const byName = new Map(proxies.map((p) => [p.name, p]));
  const server = http.createServer(async (req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    let text = "";
    for await (const chunk of req) text += chunk;
    const name = decodeURIComponent(req.url?.match(/^\/faults\/([^/?]+)/)?.[1] ?? "");
    if (req.method === "GET") {
      return reply(200, Object.fromEntries(proxies.map((p) => [p.name, { fault: p.fault, ...p.stats() }])));
    }
    if (req.method === "DELETE") {
      await Promise.all(proxies.map((p) => p.set({ kind: "none" })));
      return reply(200, { cleared: proxies.length });
    }
    const proxy = byName.get(name);
    if (req.method !== "PUT" || !proxy) return reply(404, { error: `no proxy ${name}; have ${[...byName.keys()]}` });
    const fault = parseFault(text);
    if (!fault)
      return reply(400, { error: "expected a fault: none, latency {ms}, stall, reset, refuse, cut {afterBytes}" });
    await proxy.set(fault);
    return reply(200, { [proxy.name]: fault });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
