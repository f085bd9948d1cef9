// The serving and admin workers as `wrangler deploy` would upload them, served over HTTP on
// free ports by workerd (Miniflare) with the test stack's bindings: what a client outside
// the Workers runtime talks to.
import type { Readable } from "node:stream";
import { Miniflare } from "miniflare";
import type { inject as injectFn } from "vitest";
import { bundleWorker } from "../scripts/lib/bundle-worker.ts";
import { workerBindings } from "./worker-bindings.ts";

export interface ServedWorkers {
  servingUrl: string;
  adminUrl: string;
  stop: () => Promise<void>;
}

async function serve(config: string, outdir: string, bindings: Record<string, string>) {
  const { scriptPath, compatibilityDate } = bundleWorker(config, outdir);
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    compatibilityDate,
    port: 0,
    host: "127.0.0.1",
    bindings,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.resume();
      stderr.resume();
    },
  });
  const url = await mf.ready;
  return { url: url.origin, mf };
}

export async function serveWorkers(inject: typeof injectFn): Promise<ServedWorkers> {
  const bindings = workerBindings(inject);
  const [serving, admin] = [
    await serve("wrangler.toml", "dist/served-serving", bindings),
    await serve("workers/admin/wrangler.toml", "dist/served-admin", bindings),
  ];
  return {
    servingUrl: serving.url,
    adminUrl: admin.url,
    stop: async () => {
      await Promise.all([serving.mf.dispose(), admin.mf.dispose()]);
    },
  };
}
