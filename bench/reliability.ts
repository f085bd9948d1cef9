// npm run reliability [-- --quick] — regenerates RELIABILITY.md (the quick form, which CI runs,
// writes bench/tmp/RELIABILITY.quick.md instead). The serving and admin workers, bundled as
// `wrangler deploy` would upload them, run in plain workerd on the local stack with a fault
// proxy on every hop (scripts/local/fault-stack.ts). Three runs:
//   1. fuzz: every route, N inputs each (harness/fuzz.ts), plus raw bytes and hostile paths;
//      every answer must be 2xx or a 4xx envelope;
//   2. Jepsen-style: mixed pushes (restatements included) and reads while a fault is injected
//      every 1.5 s; afterwards every acknowledged push must be in the offline store, and each
//      key's online value its newest acknowledged event (or a newer write whose answer was lost);
//   3. memory: the serving isolate's live JS heap after forced GCs across R requests, with heap
//      snapshots at the start and end (bench/tmp/) and what grew between them.
// Exits non-zero when a 5xx other than 503 is seen, an acknowledged write is lost, or an online
// value is stale.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import * as jose from "jose";
import pg from "pg";
import { type FuzzInput, type Json, routeInputs } from "#harness/fuzz.ts";
import { fuzzFeatures, fuzzRoutes, fuzzWords, hostilePaths } from "#harness/fuzz-routes.ts";
import { directUrl, localStack, neonUrl } from "../scripts/local/config.ts";
import type { Fault } from "../scripts/local/fault-proxy.ts";
import { type FaultStack, startFaultStack } from "../scripts/local/fault-stack.ts";
import { parseEnv } from "../shared/env.ts";
import { isoFromMs } from "../shared/features/iso-time.ts";
import { runCacheRepair } from "../shared/online-store/cache-repair.ts";
import { growth, summarizeSnapshot } from "./heap-snapshot.ts";
import { connectIsolateHeap } from "./isolate-heap.ts";
import { type Host, workerdHost } from "./workerd-host.ts";
import { rssMbOf, workerdPids } from "./workerd-memory.ts";

const root = path.resolve(import.meta.dirname, "..");
const quick = process.argv.includes("--quick");
const settings = {
  fuzzRuns: Number(process.env.RELIABILITY_FUZZ_RUNS ?? (quick ? 40 : 500)),
  jepsenSeconds: Number(process.env.RELIABILITY_JEPSEN_SECONDS ?? (quick ? 15 : 60)),
  soakRequests: Number(process.env.RELIABILITY_REQUESTS ?? (quick ? 20_000 : 1_000_000)),
};
// RELIABILITY_PORT_OFFSET lets a second run (CI beside a long one) use other ports.
const offset = Number(process.env.RELIABILITY_PORT_OFFSET ?? 0);
const ports = {
  serving: 8891 + offset,
  admin: 8892 + offset,
  inspector: 9251 + offset,
  soak: 8893 + offset,
  soakInspector: 9252 + offset,
  soakNeon: 4544 + offset,
  soakUpstash: 8179 + offset,
};
const log = (text: string) => console.log(`[reliability ${((Date.now() - started) / 1000).toFixed(0)} s] ${text}`);
const started = Date.now();

interface Api {
  call: (
    port: number,
    method: string,
    route: string,
    body?: string | Uint8Array,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; text: string }>;
}

function apiFor(token: string): Api {
  return {
    async call(port, method, route, body, headers = {}) {
      const response = await fetch(`http://127.0.0.1:${port}${route}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
        body,
      });
      return { status: response.status, text: await response.text() };
    },
  };
}

async function mustCall(api: Api, port: number, method: string, route: string, body: unknown) {
  const r = await api.call(port, method, route, JSON.stringify(body));
  if (r.status >= 300) throw new Error(`${method} ${route}: ${r.status} ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text);
}

/** A "user" group of stream features, through the admin API. */
async function defineGroup(
  api: Api,
  name: string,
  features: readonly { name: string; dataType: string; embeddingDimension?: number }[],
) {
  const group = await mustCall(api, ports.admin, "POST", "/v1/admin/groups", {
    name,
    displayName: name,
    entityType: "user",
  });
  const created = [];
  for (const f of features)
    created.push(
      await mustCall(api, ports.admin, "POST", `/v1/admin/groups/${group.id}/features`, {
        ...f,
        displayName: f.name,
        sourceType: "stream",
      }),
    );
  return { id: group.id as string, features: created };
}

// ---------------------------------------------------------------------------------------------
// 1. Fuzz

interface FuzzRow {
  route: string;
  inputs: number;
  ok: number;
  rejected: number;
  errors: number;
  example?: string;
}

async function fuzz(api: Api, groupId: string): Promise<FuzzRow[]> {
  const rows: FuzzRow[] = [];
  const now = new Date(Date.now() - 60_000).toISOString();
  const judge = (row: FuzzRow, status: number, text: string, what: string) => {
    row.inputs++;
    if (status < 300) row.ok++;
    else if (status < 500) {
      let envelope = false;
      try {
        const body = JSON.parse(text);
        envelope = typeof body?.error?.code === "string" && typeof body.error.requestId === "string";
      } catch {}
      if (envelope) row.rejected++;
      else {
        row.errors++;
        row.example ??= `${what} -> ${status} without the error envelope`;
      }
    } else {
      row.errors++;
      row.example ??= `${what} -> ${status} ${text.slice(0, 200)}`;
    }
  };
  let seed = 1;
  for (const route of fuzzRoutes(() => groupId, now)) {
    const row: FuzzRow = {
      route: `${route.name}: ${route.method ?? "POST"} ${route.path}`,
      inputs: 0,
      ok: 0,
      rejected: 0,
      errors: 0,
    };
    const port = route.worker === "serving" ? ports.serving : ports.admin;
    const inputs: FuzzInput[] = fc.sample(routeInputs(route.schema, route.valid() as Json, fuzzWords), {
      numRuns: settings.fuzzRuns,
      seed: seed++,
    });
    const headers: Record<string, string> = route.accept ? { accept: route.accept } : {};
    const routePath = route.path.replace("{group}", groupId);
    // The body every mutation starts from must itself be accepted, or the run fuzzes nothing.
    const valid = await api.call(port, route.method ?? "POST", routePath, JSON.stringify(route.valid()), headers);
    if (valid.status >= 300)
      throw new Error(`${route.name}: the valid body answers ${valid.status} ${valid.text.slice(0, 300)}`);
    for (const input of inputs) {
      const r = await api.call(port, route.method ?? "POST", routePath, input.text, headers);
      judge(row, r.status, r.text, input.what);
    }
    rows.push(row);
    log(`fuzz ${route.name}: ${row.inputs} inputs, ${row.ok} 2xx, ${row.rejected} 4xx, ${row.errors} errors`);
  }
  const raw: FuzzRow = {
    route: "POST /v1/features/push (raw bytes, any Content-Type)",
    inputs: 0,
    ok: 0,
    rejected: 0,
    errors: 0,
  };
  const bytes = fc.sample(
    fc.tuple(
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom("application/json", "text/plain", "application/json; charset=latin1", ""),
    ),
    { numRuns: settings.fuzzRuns, seed: seed++ },
  );
  for (const [body, type] of bytes) {
    const r = await api.call(ports.serving, "POST", "/v1/features/push", body, { "content-type": type });
    judge(raw, r.status, r.text, `${body.length} bytes as ${type}`);
  }
  rows.push(raw);
  const paths: FuzzRow = {
    route: "GET admin routes (hostile path segments and queries)",
    inputs: 0,
    ok: 0,
    rejected: 0,
    errors: 0,
  };
  for (const { path: p } of fc.sample(hostilePaths, { numRuns: settings.fuzzRuns * 2, seed: seed++ })) {
    const r = await api.call(ports.admin, "GET", p);
    judge(paths, r.status, r.text, p.slice(0, 120));
  }
  rows.push(paths);
  return rows;
}

// ---------------------------------------------------------------------------------------------
// 2. Jepsen-style run

interface Write {
  key: string;
  /** The event time as sent, and as exact epoch microseconds. */
  eventTimestamp: string;
  eventMicros: bigint;
  value: number;
  /** ok: acknowledged 2xx; info: the answer was a 503 or lost, so it may or may not be stored. */
  outcome: "ok" | "info";
}

const faultMenu: [keyof FaultStack["proxies"], Fault][] = [
  ["upstash", { kind: "stall" }],
  ["upstash", { kind: "reset" }],
  ["redis", { kind: "reset" }],
  ["redis", { kind: "stall" }],
  ["neon", { kind: "reset" }],
  ["neon", { kind: "latency", ms: 300 }],
  ["neon", { kind: "stall" }],
  ["postgres", { kind: "reset" }],
  ["postgres", { kind: "refuse" }],
  ["postgres", { kind: "cut", afterBytes: 2048 }],
];

async function settle(api: Api) {
  for (let streak = 0, attempt = 0; streak < 3; attempt++) {
    if (attempt > 100) throw new Error("the stack did not recover after the faults were cleared");
    const r = await api.call(ports.serving, "GET", "/healthz").catch(() => ({ status: 0, text: "" }));
    streak = r.status === 200 && !r.text.includes('"ok":false') ? streak + 1 : 0;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function jepsen(api: Api, faults: FaultStack, tenantId: string, featureId: string, owner: pg.Client) {
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
  const writes: Write[] = [];
  const statuses = new Map<number, number>();
  const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
  let counter = 0;
  let reads = 0;
  const injected: string[] = [];
  const deadline = Date.now() + settings.jepsenSeconds * 1000;
  const random = (n: number) => Math.floor(Math.random() * n);

  const client = async () => {
    while (Date.now() < deadline) {
      const key = keys[random(keys.length)]!;
      if (Math.random() < 0.3) {
        const r = await api
          .call(
            ports.serving,
            "POST",
            "/v1/features/online",
            JSON.stringify({ entityType: "user", entityId: key, features: ["jepsen.n"] }),
          )
          .catch(() => ({ status: 0, text: "" }));
        reads++;
        count(r.status);
        continue;
      }
      const earlier = writes.filter((w) => w.key === key && w.outcome === "ok");
      let eventMicros: bigint;
      if (earlier.length && Math.random() < 0.2) eventMicros = earlier[random(earlier.length)]!.eventMicros;
      else eventMicros = BigInt(Date.now() - 2000 - random(5000)) * 1000n + BigInt(random(1000));
      const eventTimestamp = isoFromMs(Number(eventMicros) / 1000);
      const value = ++counter;
      const r = await api
        .call(
          ports.serving,
          "POST",
          "/v1/features/push",
          JSON.stringify({
            entityType: "user",
            rows: [{ entityId: key, eventTimestamp, features: { "jepsen.n": value } }],
          }),
        )
        .catch(() => ({ status: 0, text: "" }));
      count(r.status);
      const accepted = r.status === 200 && JSON.parse(r.text).accepted === 1;
      writes.push({ key, eventTimestamp, eventMicros, value, outcome: accepted ? "ok" : "info" });
    }
  };

  const nemesis = async () => {
    // Every kind in turn, so even the quick run meets each of them.
    for (let i = 0; Date.now() < deadline - 1500; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const [proxy, fault] = faultMenu[i % faultMenu.length]!;
      injected.push(`${proxy}:${fault.kind}`);
      await faults.proxies[proxy].set(fault);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await faults.clear();
    }
  };

  await Promise.all([nemesis(), ...Array.from({ length: 12 }, client)]);
  await faults.clear();
  await settle(api);
  const env = parseEnv({
    DATABASE_URL: neonUrl("app", localStack.databases.test),
    ...faults.bindings,
    UPSTASH_REDIS_REST_TOKEN: localStack.upstashToken,
  });
  const repair = await runCacheRepair(env);

  // Every acknowledged write is in the offline store, at its event time to the microsecond.
  const stored = await owner.query(
    `SELECT entity_id, (extract(epoch FROM event_timestamp) * 1000000)::numeric(30, 0)::text AS us, value
     FROM ai_feature_values WHERE tenant_id = $1 AND feature_id = $2`,
    [tenantId, featureId],
  );
  const offline = new Set(stored.rows.map((r) => `${r.entity_id}|${r.us}|${JSON.stringify(r.value)}`));
  const acked = writes.filter((w) => w.outcome === "ok");
  const lost = acked.filter((w) => !offline.has(`${w.key}|${w.eventMicros}|${w.value}`));

  // Each key online: the newest acknowledged event, or a newer write whose answer was lost;
  // Redis answers what the Postgres online table holds.
  const online = await owner.query(
    `SELECT entity_id, value FROM ai_feature_online WHERE tenant_id = $1 AND feature_id = $2`,
    [tenantId, featureId],
  );
  const pgOnline = new Map(online.rows.map((r) => [r.entity_id as string, r.value as number]));
  const stale: string[] = [];
  for (const key of keys) {
    const mine = writes.filter((w) => w.key === key);
    const newestAcked = mine
      .filter((w) => w.outcome === "ok")
      // biome-ignore lint/complexity/useMathMinMax: BigInts; Math.max takes numbers only.
      .reduce((m, w) => (w.eventMicros > m ? w.eventMicros : m), -1n);
    if (newestAcked < 0n) continue;
    const allowed = new Set(mine.filter((w) => w.eventMicros >= newestAcked).map((w) => w.value));
    const r = await api.call(
      ports.serving,
      "POST",
      "/v1/features/online",
      JSON.stringify({ entityType: "user", entityId: key, features: ["jepsen.n"] }),
    );
    const body = JSON.parse(r.text);
    const value = body.features?.["jepsen.n"];
    if (!allowed.has(value)) stale.push(`${key}: online ${value}, allowed ${[...allowed].join("/")}`);
    else if (pgOnline.get(key) !== value) stale.push(`${key}: Redis ${value}, Postgres online ${pgOnline.get(key)}`);
  }
  const fiveHundreds = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
  const unexpected = [...statuses].filter(([s]) => s >= 500 && s !== 503).reduce((n, [, c]) => n + c, 0);
  return {
    seconds: settings.jepsenSeconds,
    pushes: writes.length,
    acknowledged: acked.length,
    indeterminate: writes.length - acked.length,
    restatements: writes.filter(
      (w, i) => writes.findIndex((x) => x.key === w.key && x.eventMicros === w.eventMicros) !== i,
    ).length,
    reads,
    faultsInjected: injected.length,
    faultKinds: [...new Set(injected)].sort(),
    statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
    fiveHundreds,
    unexpectedFiveHundreds: unexpected,
    cacheRepair: repair,
    lost: lost.length,
    lostExamples: lost.slice(0, 5).map((w) => `${w.key}@${w.eventTimestamp}=${w.value}`),
    staleOnline: stale.length,
    staleExamples: stale.slice(0, 5),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Memory over many requests

async function soak(api: Api, outDir: string, rssMb: () => number) {
  const pump = () => api.call(ports.soak, "GET", "/healthz");
  const heap = await connectIsolateHeap(ports.soakInspector, "core:user:", pump);
  const statuses = new Map<number, number>();
  let done = 0;
  const entities = Array.from({ length: 1000 }, (_, i) => `m${i}`);
  const one = async () => {
    const entityId = entities[Math.floor(Math.random() * entities.length)]!;
    const r =
      Math.random() < 0.1
        ? await api.call(
            ports.soak,
            "POST",
            "/v1/features/push",
            JSON.stringify({
              entityType: "user",
              rows: [
                {
                  entityId,
                  eventTimestamp: new Date(Date.now() - 1000).toISOString(),
                  features: { "soak.visits": done, "soak.label": "t", "soak.emb": [1, 0.5, 0.25] },
                },
              ],
            }),
          )
        : await api.call(
            ports.soak,
            "POST",
            "/v1/features/online",
            JSON.stringify({ entityType: "user", entityId, features: ["soak.visits", "soak.label", "soak.emb"] }),
          );
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    done++;
  };
  const run = async (n: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next++ < n) await one().catch(() => statuses.set(0, (statuses.get(0) ?? 0) + 1));
      }),
    );
  };
  // Every entity cached first, so reads are what a warm store serves: one Redis round trip.
  await mustCall(api, ports.soak, "POST", "/v1/features/push", {
    entityType: "user",
    rows: entities.map((entityId, i) => ({
      entityId,
      eventTimestamp: new Date(Date.now() - 5000).toISOString(),
      features: { "soak.visits": i, "soak.label": "t", "soak.emb": [1, 0.5, 0.25] },
    })),
  });
  await run(Math.min(5000, settings.soakRequests)); // warm: registry, connections, JIT
  const samples: { requests: number; liveMb: number; rssMb: number }[] = [];
  const sample = async () => samples.push({ requests: done, liveMb: await heap.liveMb(), rssMb: Math.round(rssMb()) });
  await sample();
  // Named by run and pid: a quick run beside a long one must not overwrite its snapshots.
  const snapshotFile = (when: string) =>
    path.join(outDir, `heap-${when}${quick ? ".quick" : ""}.${process.pid}.heapsnapshot`);
  await heap.snapshot(snapshotFile("start"));
  const t0 = Date.now();
  const steps = 10;
  for (let s = 0; s < steps; s++) {
    await run(Math.ceil(settings.soakRequests / steps));
    await sample();
    log(`memory: ${done} requests, live heap ${samples.at(-1)!.liveMb} MB, workerd RSS ${samples.at(-1)!.rssMb} MB`);
  }
  const seconds = (Date.now() - t0) / 1000;
  await heap.snapshot(snapshotFile("end"));
  heap.close();
  const grew = growth(summarizeSnapshot(snapshotFile("start")), summarizeSnapshot(snapshotFile("end")));
  const start = samples[0]!.liveMb;
  const end = samples.at(-1)!.liveMb;
  return {
    requests: done,
    requestsPerSecond: Math.round((done - 5000) / seconds),
    statuses: Object.fromEntries(statuses),
    liveHeapStartMb: start,
    liveHeapEndMb: end,
    liveHeapMaxMb: Math.max(...samples.map((s) => s.liveMb)),
    growthPercent: Math.round(((end - start) / start) * 1000) / 10,
    rssStartMb: samples[0]!.rssMb,
    rssEndMb: samples.at(-1)!.rssMb,
    samples,
    topGrowth: grew,
  };
}

// ---------------------------------------------------------------------------------------------

function render(report: any): string {
  const f = report.fuzz as FuzzRow[];
  const j = report.jepsen;
  const m = report.memory;
  const fuzzTotal = f.reduce((n, r) => n + r.inputs, 0);
  return `# Reliability

Regenerated by \`npm run reliability\` (${report.generatedAt}, ${report.machine}); CI runs the
quick form (\`npm run reliability -- --quick\`), which fails on any 5xx other than 503, any
lost acknowledged write or any stale online value. The serving and admin workers run as
bundled for \`wrangler deploy\`, in plain workerd, on the local stack with a fault proxy on every
hop (\`scripts/local/fault-stack.ts\`: worker → Neon endpoint → PostgreSQL, worker → Upstash
endpoint → Redis). The same faults are tested one by one in \`test/faults.test.ts\`.

## 1. Hostile input: ${fuzzTotal.toLocaleString("en")} inputs, ${f.reduce((n, r) => n + r.errors, 0)} answers that were not 2xx or a 4xx envelope

Each route gets bodies shaped by its own zod request schema with hostile content and valid
bodies with one value or key replaced, duplicated or added (\`harness/fuzz.ts\`); ${settings.fuzzRuns} per route.

| route | inputs | 2xx | 4xx envelope | 5xx or bad envelope |
|---|---:|---:|---:|---:|
${f.map((r) => `| ${r.route} | ${r.inputs} | ${r.ok} | ${r.rejected} | ${r.errors}${r.example ? ` (${r.example.replace(/\|/g, "\\|")})` : ""} |`).join("\n")}

## 2. Faults under load: ${j.lost} acknowledged writes lost, ${j.staleOnline} stale online values

${j.seconds} s of pushes (${j.restatements} restatements of an acknowledged event time) and reads from 12 clients
on 12 keys, with ${j.faultsInjected} faults injected (one every 1.5 s, held 1 s, each kind in turn): ${j.faultKinds.join(", ")}.

| | |
|---|---:|
| pushes | ${j.pushes} |
| acknowledged (2xx) | ${j.acknowledged} |
| indeterminate (503 or no answer: may or may not be stored) | ${j.indeterminate} |
| reads | ${j.reads} |
| answers by status | ${Object.entries(j.statuses)
    .map(([s, n]) => `${s === "0" ? "no answer" : s}: ${n}`)
    .join(", ")} |
| 5xx | ${j.fiveHundreds} (all 503 SERVICE_UNAVAILABLE with Retry-After: ${j.unexpectedFiveHundreds === 0 ? "yes" : `no, ${j.unexpectedFiveHundreds} others`}) |
| cache repairs replayed after the run | ${j.cacheRepair.replayed} values, ${j.cacheRepair.tenants} tenants (a push whose Redis write failed after its Postgres commit) |
| **acknowledged writes missing from the offline store** | **${j.lost}** ${j.lostExamples.join(", ")} |
| **keys whose online value is not their newest acknowledged event** | **${j.staleOnline}** ${j.staleExamples.join("; ")} |

## 3. Memory: live JS heap ${m.liveHeapStartMb} MB → ${m.liveHeapEndMb} MB over ${m.requests.toLocaleString("en")} requests (${m.growthPercent >= 0 ? "+" : ""}${m.growthPercent}%)

90% online reads (3 features, one an embedding) and 10% pushes over 1,000 entities, 32 at a
time (${m.requestsPerSecond} requests/s). The live heap is read over the inspector after a forced full GC, at
the start and after each tenth; heap snapshots at the start and end are in \`bench/tmp/\`.
Answers: ${Object.entries(m.statuses)
    .map(([s, n]) => `${s}: ${n}`)
    .join(", ")}.

| requests | live heap (MB) | RSS of the soak's workerd process (MB) |
|---:|---:|---:|
${m.samples.map((s: any) => `| ${s.requests.toLocaleString("en")} | ${s.liveMb} | ${s.rssMb} |`).join("\n")}

What grew most between the two snapshots (by retained self size):

| class | objects | bytes |
|---|---:|---:|
${m.topGrowth.map((g: any) => `| ${g.name} | ${g.countDelta >= 0 ? "+" : ""}${g.countDelta} | ${g.bytesDelta >= 0 ? "+" : ""}${g.bytesDelta} |`).join("\n")}

workerd's RSS (${m.rssStartMb} → ${m.rssEndMb} MB) is not the isolate's heap: it includes the
allocator's retained pages and the runtime's own buffers, which it frees lazily.
`;
}

async function main() {
  const stack = spawnSync(process.execPath, ["--import", "tsx", "scripts/stack.ts", "--for-tests", "--quiet"], {
    cwd: root,
    stdio: "inherit",
  });
  if (stack.status !== 0) process.exit(stack.status ?? 1);
  const outDir = path.join(root, "bench", "tmp");
  mkdirSync(outDir, { recursive: true });

  const faults = await startFaultStack({
    pgHost: localStack.pgHost,
    pgPort: localStack.pgPort,
    redisUrl: localStack.redisUrl,
    upstashToken: localStack.upstashToken,
  });
  const secret = randomBytes(32).toString("hex");
  const vars = {
    DATABASE_URL: neonUrl("app", localStack.databases.test),
    ...faults.bindings,
    UPSTASH_REDIS_REST_TOKEN: localStack.upstashToken,
    JWT_SECRET: secret,
    REDIS_TIMEOUT_MS: "150",
    POSTGRES_TIMEOUT_MS: "3000",
  };
  const owner = new pg.Client({ connectionString: directUrl("owner", localStack.databases.test) });
  await owner.connect();
  const hosts: Host[] = [];
  let endpoints: ChildProcess | undefined;
  try {
    log("bundling and starting the serving and admin workers in workerd");
    hosts.push(await workerdHost(vars, ports.serving, { inspectorPort: ports.inspector }));
    hosts.push(
      await workerdHost(vars, ports.admin, { config: "workers/admin/wrangler.toml", outdir: "dist/bench-admin" }),
    );

    const tenantId = randomUUID();
    await owner.query("INSERT INTO tenants (id, name) VALUES ($1, 'reliability')", [tenantId]);
    const token = await new jose.SignJWT({
      tenant_id: tenantId,
      scope: "features:read features:write registry:read registry:write jobs:write",
    })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("reliability")
      .setExpirationTime("6h")
      .sign(new TextEncoder().encode(secret));
    const api = apiFor(token);
    const group = await defineGroup(api, "user", fuzzFeatures);
    // The soak's own group: the fuzzer may archive or retype what it finds in "user". Names of
    // its own: a bare name two groups share would be ambiguous in the fuzzed bodies.
    await defineGroup(api, "soak", [
      { name: "visits", dataType: "int64" },
      { name: "label", dataType: "string" },
      { name: "emb", dataType: "embedding", embeddingDimension: 3 },
    ]);
    const jepsenGroup = await defineGroup(api, "jepsen", [{ name: "n", dataType: "int64" }]);
    const jepsenFeature = jepsenGroup.features[0]!;

    log(`fuzz: ${settings.fuzzRuns} inputs per route`);
    const fuzzRows = await fuzz(api, group.id);
    log(`Jepsen-style run: ${settings.jepsenSeconds} s with a fault every 1.5 s`);
    const jepsenReport = await jepsen(api, faults, tenantId, jepsenFeature.id, owner);
    log(
      `Jepsen: ${jepsenReport.acknowledged} acknowledged, ${jepsenReport.lost} lost, ${jepsenReport.staleOnline} stale, 5xx ${jepsenReport.fiveHundreds}`,
    );
    // The memory run on a serving isolate of its own, reaching the Neon and Upstash endpoints
    // directly in a process of their own: the proxies and endpoints in this process would make
    // it the bottleneck, not the worker.
    log(`memory: ${settings.soakRequests.toLocaleString("en")} requests`);
    endpoints = spawn(process.execPath, ["--import", "tsx", "scripts/local/serve.ts"], {
      cwd: root,
      env: { ...process.env, NEON_LOCAL_PORT: String(ports.soakNeon), UPSTASH_LOCAL_PORT: String(ports.soakUpstash) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      endpoints!.stdout!.on("data", (chunk: Buffer) => String(chunk).includes("upstash-local") && resolve());
      endpoints!.once("exit", (code) => reject(new Error(`the local endpoints exited (${code})`)));
    });
    const others = new Set(workerdPids());
    hosts.push(
      await workerdHost(
        {
          ...vars,
          NEON_FETCH_ENDPOINT: `http://127.0.0.1:${ports.soakNeon}/sql`,
          NEON_WS_PROXY: `127.0.0.1:${ports.soakNeon}/v1`,
          UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${ports.soakUpstash}`,
        },
        ports.soak,
        { inspectorPort: ports.soakInspector, outdir: "dist/bench-soak" },
      ),
    );
    // The soak isolate's own process: RSS of the others (and of any test run beside) is not its.
    const soakPids = workerdPids().filter((pid) => !others.has(pid));
    const memory = await soak(api, outDir, () => rssMbOf(soakPids));

    const report = {
      generatedAt: new Date().toISOString().slice(0, 16).replace("T", " "),
      machine: `${(await import("node:os")).cpus().length} cores, Node ${process.versions.node}`,
      settings,
      fuzz: fuzzRows,
      jepsen: jepsenReport,
      memory,
    };
    const target = quick ? path.join(outDir, "RELIABILITY.quick.md") : path.join(root, "RELIABILITY.md");
    writeFileSync(target, render(report));
    writeFileSync(
      path.join(outDir, quick ? "reliability.quick.json" : "reliability.json"),
      JSON.stringify(report, null, 2),
    );
    log(`wrote ${path.relative(root, target)}`);
    const fuzzErrors = fuzzRows.reduce((n, r) => n + r.errors, 0);
    const failures = [
      fuzzErrors && `${fuzzErrors} fuzz inputs answered 5xx or without the envelope`,
      jepsenReport.unexpectedFiveHundreds && `${jepsenReport.unexpectedFiveHundreds} 5xx other than 503 under faults`,
      jepsenReport.lost && `${jepsenReport.lost} acknowledged writes lost`,
      jepsenReport.staleOnline && `${jepsenReport.staleOnline} stale online values`,
    ].filter(Boolean);
    if (failures.length) {
      console.error(`reliability: FAILED: ${failures.join("; ")}`);
      process.exitCode = 1;
    }
  } finally {
    await Promise.allSettled(hosts.map((h) => h.stop()));
    endpoints?.kill("SIGTERM");
    await owner.end();
    await faults.close();
  }
}

await main();
