// npm run build — proves each worker bundles for Cloudflare (wrangler deploy --dry-run).
import { spawnSync } from "node:child_process";
import path from "node:path";
import { quietWranglerEnv } from "./lib/wrangler-env.ts";

const root = path.resolve(import.meta.dirname, "..");
const workers = [
  { name: "serving", config: "wrangler.toml" },
  { name: "admin", config: "workers/admin/wrangler.toml" },
  { name: "cron", config: "workers/cron/wrangler.toml" },
];
let failed = false;
for (const w of workers) {
  const outdir = path.join(root, "dist", w.name);
  const r = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir, "--config", w.config], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ...quietWranglerEnv },
  });
  const size = /Total Upload: ([^\n]+)/.exec(r.stdout)?.[1] ?? "?";
  if (r.status === 0) console.log(`bundled ${w.name}: ${size}`);
  else {
    failed = true;
    console.error(`bundling ${w.name} failed:\n${r.stdout}\n${r.stderr}`);
  }
}
process.exit(failed ? 1 : 0);
