// The serving worker as `wrangler deploy` would upload it, served by plain workerd through
// Miniflare: the production runtime without wrangler's dev proxy (a Node hop per request).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { Miniflare } from "miniflare";
import { quietWranglerEnv } from "../scripts/lib/wrangler-env.ts";
import { workerdRssMb } from "./workerd-memory.ts";

const root = path.resolve(import.meta.dirname, "..");

export interface Host {
  name: string;
  port: number;
  rssMb: () => number;
  stop: () => Promise<void>;
}

/** A worker bundled as `wrangler deploy` would upload it: its script and compatibility date. */
export function bundleWorker(config: string, outdir: string): { scriptPath: string; compatibilityDate: string } {
  // An absolute --outdir: wrangler reads a relative one from the config file's folder.
  const built = spawnSync(
    "npx",
    ["wrangler", "deploy", "--dry-run", "--outdir", path.join(root, outdir), "--config", config],
    {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, ...quietWranglerEnv },
    },
  );
  if (built.status !== 0) throw new Error(`bundling ${config} failed: ${built.stderr}`);
  const compatibilityDate = /compatibility_date = "([^"]+)"/.exec(readFileSync(path.join(root, config), "utf8"))![1]!;
  return { scriptPath: path.join(root, outdir, "index.js"), compatibilityDate };
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
