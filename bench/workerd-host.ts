// The serving worker as `wrangler deploy` would upload it, served by plain workerd through
// Miniflare: the production runtime without wrangler's dev proxy (a Node hop per request).
import type { Readable } from "node:stream";
import { Miniflare } from "miniflare";
import { bundleWorker } from "../scripts/lib/bundle-worker.ts";
import { workerdRssMb } from "./workerd-memory.ts";

export interface Host {
  name: string;
  port: number;
  rssMb: () => number;
  stop: () => Promise<void>;
}

/** The bundle `wrangler deploy` would upload, served by workerd through Miniflare. */
export async function workerdHost(
  vars: Record<string, string>,
  port: number,
  options: { inspectorPort?: number; config?: string; outdir?: string } = {},
): Promise<Host> {
  const { scriptPath, compatibilityDate } = bundleWorker(
    options.config ?? "wrangler.toml",
    options.outdir ?? "dist/bench-serving",
  );
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    compatibilityDate,
    port,
    host: "127.0.0.1",
    bindings: vars,
    ...(options.inspectorPort ? { inspectorPort: options.inspectorPort } : {}),
    // The worker's own warnings (Redis fallbacks under saturation) are counted, not printed.
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.resume();
      stderr.resume();
    },
  });
  await mf.ready;
  return {
    name: "workerd (bundle, Miniflare)",
    port,
    rssMb: () => workerdRssMb(process.pid),
    stop: () => mf.dispose(),
  };
}
