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
  /** Fires the cron worker's trigger, when it is served (`cron` option). */
  scheduled: (cron: string) => Promise<void>;
  stop: () => Promise<void>;
}

export interface ServeOptions {
  /** Extra bindings of the serving worker (e.g. SERVING_METRICS_FLUSH_MS). */
  serving?: Record<string, string>;
  /** Serve the cron worker too, with these extra bindings (e.g. MATERIALIZE_TENANTS). */
  cron?: Record<string, string>;
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

export async function serveWorkers(inject: typeof injectFn, options: ServeOptions = {}): Promise<ServedWorkers> {
  const bindings = workerBindings(inject);
  const serving = await serve("wrangler.toml", "dist/served-serving", { ...bindings, ...options.serving });
  const admin = await serve("workers/admin/wrangler.toml", "dist/served-admin", bindings);
  // Without a queue binding the cron worker runs a job's units in its own invocation.
  const cron = options.cron
    ? await serve("workers/cron/wrangler.toml", "dist/served-cron", { ...bindings, ...options.cron })
    : null;
  return {
    servingUrl: serving.url,
    adminUrl: admin.url,
    scheduled: async (expression) => {
      if (!cron) throw new Error("serveWorkers: the cron worker is not served (pass the cron option)");
      await (await cron.mf.getWorker()).scheduled({ cron: expression });
    },
    stop: async () => {
      await Promise.all([serving.mf.dispose(), admin.mf.dispose(), cron?.mf.dispose()]);
    },
  };
}
