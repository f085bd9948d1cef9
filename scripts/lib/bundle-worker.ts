// A worker bundled as `wrangler deploy` would upload it (plain JS, no transforms): what
// benchmarks serve with workerd and what tests load as an auxiliary worker.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { quietWranglerEnv } from "./wrangler-env.ts";

const root = path.resolve(import.meta.dirname, "../..");

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
