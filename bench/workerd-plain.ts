// The serving bundle served by the workerd binary from a config of our own: the production
// runtime with nothing in front of the worker. Miniflare's host (workerd-host.ts) puts its
// own entry worker before the user's, an extra isolate hop on every request.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { bundleWorker } from "../scripts/lib/bundle-worker.ts";
import { stopProcessGroup, waitForHttp } from "../scripts/lib/wrangler-dev.ts";
import type { Host } from "./workerd-host.ts";
import { workerdRssMb } from "./workerd-memory.ts";

/** The binary of the workerd package (the version wrangler and Miniflare run). */
const workerdBinary = (createRequire(import.meta.url)("workerd") as { default: string }).default;

/** workerd's config (Cap'n Proto text): one worker, its text bindings, an HTTP socket. */
function config(vars: Record<string, string>, port: number, compatibilityDate: string): string {
  // JSON string literals are valid Cap'n Proto text literals for these values.
  const bindings = Object.entries(vars)
    .map(([name, value]) => `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(value)})`)
    .join(",\n      ");
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "serving", worker = .serving),
    # The local stack listens on 127.0.0.1: outbound fetch may reach local addresses.
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "serving")],
);
const serving :Workerd.Worker = (
  modules = [(name = "index.js", esModule = embed "index.js")],
  compatibilityDate = "${compatibilityDate}",
  bindings = [
      ${bindings}
  ],
  globalOutbound = "internet",
);
`;
}

/** The bundle `wrangler deploy` would upload, served by `workerd serve` alone. */
export async function plainWorkerdHost(
  vars: Record<string, string>,
  port: number,
  options: { config?: string; outdir?: string } = {},
): Promise<Host> {
  const { scriptPath, compatibilityDate } = bundleWorker(
    options.config ?? "wrangler.toml",
    options.outdir ?? "dist/bench-serving-plain",
  );
  const dir = path.dirname(scriptPath);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "workerd.capnp"), config(vars, port, compatibilityDate));
  const child: ChildProcess = spawn(workerdBinary, ["serve", "workerd.capnp"], {
    cwd: dir,
    detached: true,
    // The worker's own warnings (Redis fallbacks under saturation) are not the benchmark's output.
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    if (stderr.length < 10_000) stderr += chunk.toString("utf8");
  });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 30);
  } catch (error) {
    await stopProcessGroup(child);
    throw new Error(`workerd did not start: ${(error as Error).message}\n${stderr}`);
  }
  return {
    name: "workerd (bundle, plain)",
    port,
    rssMb: () => workerdRssMb(child.pid!),
    stop: () => stopProcessGroup(child),
  };
}
