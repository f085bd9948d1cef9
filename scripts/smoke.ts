// npm run smoke — what CI does with the README's first command: start the product in the
// background, wait until it says READY, run the curl calls it printed and check their
// answers, stop it with Ctrl-C (SIGINT), and check that nothing it started is left.
//   --embedded   the same with no PostgreSQL or Redis URL given: PGlite, no Redis
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { startWranglerDev, stopProcessGroup, waitForHttp } from "./lib/wrangler-dev.ts";

const root = path.resolve(import.meta.dirname, "..");
const embedded = process.argv.includes("--embedded");
const started = Date.now();
const log: string[] = [];
const env = { ...process.env };
if (embedded) for (const name of ["POSTGRES_URL", "PGHOST", "PGPORT", "REDIS_URL"]) delete env[name];
const child = spawn("npm", ["start", ...(embedded ? ["--", "--embedded"] : [])], {
  cwd: root,
  detached: true,
  env,
  stdio: ["ignore", "pipe", "pipe"],
});
child.stdout.on("data", (d: Buffer) => log.push(d.toString()));
child.stderr.on("data", (d: Buffer) => log.push(d.toString()));

function fail(message: string): never {
  console.error(`smoke: ${message}\n--- npm start output ---\n${log.join("").slice(-4000)}`);
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {}
  process.exit(1);
}

const deadline = Date.now() + 300_000;
while (!log.join("").includes("READY")) {
  if (Date.now() > deadline) fail("npm start did not say READY within 5 minutes");
  if (child.exitCode !== null) fail(`npm start exited (${child.exitCode}) before it was ready`);
  await new Promise((r) => setTimeout(r, 500));
}
const readySeconds = (Date.now() - started) / 1000;
console.log(`smoke: ${embedded ? "embedded mode " : ""}ready after ${readySeconds.toFixed(1)} s`);

const demo = JSON.parse(readFileSync(path.join(root, ".stack/demo.json"), "utf8")) as {
  token: string;
  calls: { name: string; curl: string }[];
};
const checks: Record<string, (body: any) => boolean> = {
  "online read": (b) =>
    b.statuses?.["user.conversation_count"] === "PRESENT" &&
    typeof b.features["user.conversation_count"] === "number" &&
    // Without Redis the answer must come from Postgres and say so; with it, Redis is in play.
    (embedded
      ? b.metadata.servedFrom === "postgres" && b.metadata.redis === "disabled"
      : b.metadata.redis !== "disabled"),
  push: (b) => b.accepted === 1 && b.rejected === 0,
  historical: (b) =>
    Array.isArray(b.rows) && b.rows.length === 2 && b.rows[1].statuses["user.conversation_count"] === "PRESENT",
  search: (b) => Array.isArray(b.results) && b.results.length === 5,
  registry: (b) => b.name === "conversation_count" && b.dataType === "int64",
  // A stream count over the last hour (0 for a conversation without pushed events) and a
  // duration computed when read.
  "windowed count and on-demand duration": (b) =>
    b.statuses?.["messages_last_hour"] === "PRESENT" &&
    typeof b.features["messages_last_hour"] === "number" &&
    b.statuses?.["duration_seconds"] === "PRESENT" &&
    typeof b.features["duration_seconds"] === "number",
};
let failures = 0;
for (const call of demo.calls) {
  const r = spawnSync("bash", ["-c", call.curl], { env: { ...process.env, TOKEN: demo.token }, encoding: "utf8" });
  let body: unknown = null;
  try {
    body = JSON.parse(r.stdout);
  } catch {}
  const ok = r.status === 0 && body !== null && (checks[call.name]?.(body) ?? false);
  if (!ok) failures++;
  console.log(
    `smoke: ${ok ? "ok  " : "FAIL"} ${call.name}${ok ? "" : `: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 200)}`}`,
  );
}

// The README's "Use it from your app" and "Features as code", run as written.
const readmeEnv = { ...process.env, TOKEN: demo.token };
const readmeCommands: { name: string; command: string; expect: (out: string) => boolean }[] = [
  {
    name: "npx fs plan (the TIS TIS file: no change)",
    command: "npx fs plan --file examples/tistis/features.ts",
    expect: (out) => out.includes("No changes"),
  },
  {
    name: "the console, signed in as the demo tenant",
    command: `curl -s -b "fs_console=$TOKEN" localhost:8788/console`,
    expect: (out) => out.includes("<h1>Overview</h1>") && out.includes("conversation"),
  },
  {
    name: "npx tsx examples/use-the-client.ts",
    command: "npx tsx examples/use-the-client.ts",
    expect: (out) => out.includes("messages_last_hour = 3") && out.includes("typed error: 404 NOT_FOUND"),
  },
];
for (const { name, command, expect } of readmeCommands) {
  const r = spawnSync("bash", ["-c", command], { cwd: root, env: readmeEnv, encoding: "utf8" });
  const ok = r.status === 0 && expect(r.stdout);
  if (!ok) failures++;
  console.log(`smoke: ${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : `: ${r.stdout.slice(-300)} ${r.stderr.slice(-300)}`}`);
}
{
  // A tenant's Worker bound to the serving worker's FeatureStore entrypoint (Workers RPC),
  // under wrangler dev beside npm start's workers.
  const tenantApp = startWranglerDev({
    name: "tenant-app",
    root,
    config: "examples/tenant-worker/wrangler.toml",
    port: 8790,
    inspectorPort: 9233,
    vars: { FEATURE_STORE_TOKEN: demo.token },
    output: (text) => log.push(text),
  });
  let ok = false;
  let answer = "";
  try {
    // Any path answers (it pushes an event for its conversation): the wait uses its own.
    await waitForHttp("http://127.0.0.1:8790/?conversation=smoke-wait", 60);
    type Answer = { messagesLastHour: number };
    const first = (await (await fetch("http://127.0.0.1:8790/?conversation=smoke-rpc")).json()) as Answer;
    const second = (await (await fetch("http://127.0.0.1:8790/?conversation=smoke-rpc")).json()) as Answer;
    answer = JSON.stringify([first, second]);
    ok = first.messagesLastHour + 1 === second.messagesLastHour;
  } catch (error) {
    answer = (error as Error).message;
  }
  await stopProcessGroup(tenantApp);
  if (!ok) failures++;
  console.log(`smoke: ${ok ? "ok  " : "FAIL"} tenant Worker through env.FEATURES (RPC)${ok ? "" : `: ${answer}`}`);
}

process.kill(-child.pid!, "SIGINT");
await new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, 20_000);
  child.on("exit", () => {
    clearTimeout(timer);
    resolve();
  });
});
await new Promise((r) => setTimeout(r, 1000));
const leftovers = spawnSync(
  "bash",
  ["-c", `pgrep -g ${child.pid} || true; ss -ltn | grep -E ':(8787|8788|8789|8790|4444|8079) ' || true`],
  { encoding: "utf8" },
).stdout.trim();
const lockLeft = embedded && existsSync(path.join(root, ".stack/pglite.lock"));
// A warning while stopping means something did not shut down cleanly (the embedded database).
const stopWarnings = log
  .join("")
  .split("\n")
  .filter((line) => /^\[start [\d.]+ s\] warning:/.test(line));
if (stopWarnings.length) {
  console.error(`smoke: FAIL warnings from npm start:\n${stopWarnings.join("\n")}`);
  failures++;
}
if (leftovers || lockLeft) {
  console.error(`smoke: FAIL left after Ctrl-C:\n${leftovers}${lockLeft ? "\nthe embedded database's lock file" : ""}`);
  failures++;
} else {
  console.log("smoke: ok   nothing left running after Ctrl-C");
}
console.log(`\n${demo.calls.length + readmeCommands.length + 2 - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
