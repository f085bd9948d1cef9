// fs plan | fs apply: features as code against the admin worker.
//   fs plan  [--file features.ts] [--url URL] [--json]   exit 0: no change, 2: changes, 1: error
//   fs apply [--file features.ts] [--url URL] [--allow-breaking]
// The token comes from FS_TOKEN (or TOKEN, as `npm start` prints it); the admin URL from
// --url, FS_ADMIN_URL, or http://localhost:8788.
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createFeatureStore } from "./client.ts";
import type { FeatureRegistry } from "./define.ts";
import { FeatureStoreError } from "./errors.ts";
import { formatPlan } from "./plan-format.ts";

const usage = `usage: fs plan|apply [--file features.ts] [--url ADMIN_URL] [--allow-breaking] [--json]
  FS_TOKEN (or TOKEN): a tenant JWT with registry:read (plan) and registry:write (apply)`;

async function loadRegistry(file: string): Promise<FeatureRegistry> {
  const module = (await import(pathToFileURL(path.resolve(file)).href)) as Record<string, unknown>;
  const registry = (module.default ?? module.features) as FeatureRegistry | undefined;
  if (!registry || typeof registry.toDeclaration !== "function")
    throw new Error(`${file} must export default defineFeatures({...}) (or export const features)`);
  return registry;
}

function describe(error: unknown, url: string): string {
  if (!(error instanceof FeatureStoreError)) return (error as Error).message ?? String(error);
  if (error.code === "NETWORK_ERROR" || error.code === "TIMEOUT")
    return `cannot reach the admin worker at ${url} (${error.message}): is it running? (npm start)`;
  const details = Array.isArray(error.details)
    ? (error.details as { path?: string; message?: string }[])
        .map((d) => `\n  ${d.path ?? ""}: ${d.message ?? ""}`)
        .join("")
    : "";
  return `${error.code} (${error.status}): ${error.message}${details}`;
}

export async function main(argv: string[], out = console.log, err = console.error): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  const options = {
    file: { type: "string", default: "features.ts" },
    url: { type: "string" },
    "allow-breaking": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  } as const;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true });
  } catch (error) {
    err(`${(error as Error).message}\n${usage}`);
    return 1;
  }
  const command = parsed.positionals[0];
  if (command !== "plan" && command !== "apply") {
    err(usage);
    return 1;
  }
  const token = process.env.FS_TOKEN ?? process.env.TOKEN;
  if (!token) {
    err(`no token: set FS_TOKEN (or TOKEN) to a tenant JWT\n${usage}`);
    return 1;
  }
  const url = parsed.values.url ?? process.env.FS_ADMIN_URL ?? "http://localhost:8788";
  const store = createFeatureStore({ url, token });
  try {
    const declaration = (await loadRegistry(parsed.values.file)).toDeclaration();
    const plan = await store.plan(declaration);
    if (parsed.values.json && command === "plan") out(JSON.stringify(plan, null, 2));
    else out(formatPlan(plan));
    if (command === "plan") return plan.changes.length ? 2 : 0;
    if (plan.changes.length === 0) return 0;
    if (plan.summary.breaking && !parsed.values["allow-breaking"]) {
      err(`\nRefused: ${plan.summary.breaking} change(s) break readers. Re-run with --allow-breaking to apply them.`);
      return 1;
    }
    const result = await store.apply(declaration, { allowBreaking: parsed.values["allow-breaking"] });
    out(
      result.applied
        ? `\nApplied ${result.changes.length} change(s) in one transaction.`
        : "\nNothing to apply: the registry already matched (another apply got there first).",
    );
    return 0;
  } catch (error) {
    err(`fs ${command} failed: ${describe(error, url)}`);
    return 1;
  }
}
