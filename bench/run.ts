// npm run bench [-- --quick] [-- --large] [-- --only=<name>] — runs every benchmark (bench/*.bench.ts
// inside workerd, then bench/http-load.ts against `wrangler dev` and plain workerd, then
// bench/training-memory.ts against a fresh workerd, on the local stack), writes
// bench/results.json and renders BENCHMARKS.md. --only=http, --only=training-memory,
// --only=materialization-scale or
// --only=<bench file name> runs one of them and merges its results into the existing file.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { runHttpBenchmarks } from "./http-load.ts";
import { runMaterializationScale } from "./materialization-scale.ts";
import { runTrainingSetMemory } from "./training-memory.ts";
import { workerdRssMb } from "./workerd-memory.ts";

const root = path.resolve(import.meta.dirname, "..");
const quick = process.argv.includes("--quick");
/** --large: also 1,000,000 pairs on a 20,000,000-row history (point-in-time-large.bench.ts, most of an hour). */
const large = process.argv.includes("--large");
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);

const stack = spawnSync(process.execPath, ["--import", "tsx", "scripts/stack.ts", "--for-tests", "--quiet"], {
  cwd: root,
  stdio: "inherit",
});
if (stack.status !== 0) process.exit(stack.status ?? 1);

const results: Record<string, any>[] = [];
const started = Date.now();

// Resident memory of the workerd processes (where the workers run), sampled every 100 ms,
// so a benchmark can mark phases ("PHASE name start|end <ms>") and get their peak.
const rssSamples: { at: number; mb: number }[] = [];
const sampler = setInterval(() => rssSamples.push({ at: Date.now(), mb: Math.round(workerdRssMb()) }), 100);
const phases = new Map<string, { start: number; end?: number }>();
/** Benchmarks that run in Node against a workerd host, not inside workerd. */
const nodeBenchmarks = new Set(["http", "training-memory", "materialization-scale"]);
const benchFile = only && !nodeBenchmarks.has(only) ? `bench/${only}.bench.ts` : undefined;
/** The benchmarks inside workerd (vitest); resolves with vitest's exit code. */
function runWorkerdBenchmarks(): Promise<number> {
  const child = spawn("npx", ["vitest", "run", "--config", "bench/vitest.config.ts"], {
    cwd: root,
    env: {
      ...process.env,
      BENCH_QUICK: quick ? "1" : "",
      BENCH_LARGE: large ? "1" : "",
      ...(benchFile ? { BENCH_FILE: benchFile } : {}),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let buffer = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      const phase = /PHASE (\S+) (start|end) (\d+)/.exec(line);
      if (phase) {
        const entry = phases.get(phase[1]!) ?? { start: 0 };
        entry[phase[2] as "start" | "end"] = Number(phase[3]);
        phases.set(phase[1]!, entry);
      }
      const at = line.indexOf("BENCH ");
      if (at >= 0) {
        const m = JSON.parse(line.slice(at + 6));
        results.push(m);
        console.log(
          `${m.name} ${JSON.stringify(m.params)}: ${m.value} ${m.unit} vs floor ${m.floor} ${m.unit} (x${m.ratio})`,
        );
      } else if (/✓|×|FAIL|Error/.test(line)) {
        console.log(line);
      }
      newline = buffer.indexOf("\n");
    }
  });
  return new Promise((resolve) => child.on("close", (c) => resolve(c ?? 1)));
}

let code = only && nodeBenchmarks.has(only) ? 0 : await runWorkerdBenchmarks();
clearInterval(sampler);
if (!only || only === "http") {
  console.log("\nHTTP: the serving worker under wrangler dev, sequential reads and a load test");
  try {
    results.push(...(await runHttpBenchmarks(quick)));
  } catch (error) {
    console.error(`HTTP benchmarks failed: ${(error as Error).stack}`);
    code = 1;
  }
}
if (!only || only === "training-memory") {
  console.log("\nTraining-set memory: a fresh workerd streaming point-in-time answers");
  try {
    results.push(...(await runTrainingSetMemory(quick)));
  } catch (error) {
    console.error(`training-set memory benchmark failed: ${(error as Error).stack}`);
    code = 1;
  }
}

if (!only || only === "materialization-scale") {
  console.log("\nMaterialization at scale: the cron worker's queue consumers in a fresh workerd, 1/2/4 at once");
  try {
    results.push(...(await runMaterializationScale(quick)));
  } catch (error) {
    console.error(`materialization-scale benchmark failed: ${(error as Error).stack}`);
    code = 1;
  }
}

// Peak memory of each streamed point-in-time phase, against the smallest one's.
// Phases are named product-<history rows>-<pairs>.
const peaks = [...phases]
  .filter(([name, p]) => name.startsWith("product-") && p.end)
  .map(([name, p]) => {
    const [historyRows, pairs] = name.slice("product-".length).split("-").map(Number);
    return {
      historyRows: historyRows!,
      pairs: pairs!,
      peak: Math.max(0, ...rssSamples.filter((s) => s.at >= p.start && s.at <= p.end!).map((s) => s.mb)),
    };
  })
  .sort((a, b) => a.pairs - b.pairs || a.historyRows - b.historyRows);
for (const p of peaks) {
  const m = {
    name: "point_in_time_peak_rss",
    params: { pairs: p.pairs, historyRows: p.historyRows, format: "ndjson" },
    value: p.peak,
    unit: "MB",
    floor: peaks[0]!.peak,
    floorName: "peak resident memory of the workerd processes while streaming the smallest request",
    ratio: peaks[0]!.peak ? Math.round((p.peak / peaks[0]!.peak) * 100) / 100 : null,
  };
  results.push(m);
  console.log(`${m.name} ${JSON.stringify(m.params)}: ${m.value} MB vs ${m.floor} MB (x${m.ratio})`);
}

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? "?",
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
};
// A partial run (--only) replaces its own measurements and keeps the others.
const sameMeasurement = (a: any, b: any) => a.name === b.name && JSON.stringify(a.params) === JSON.stringify(b.params);
if (only) {
  const previous = JSON.parse(readFileSync(path.join(root, "bench/results.json"), "utf8")).results as any[];
  results.unshift(...previous.filter((p) => !results.some((r) => sameMeasurement(p, r))));
}
const document = {
  date: new Date().toISOString(),
  quick,
  ...(only ? { partial: `--only=${only} merged into the previous run` } : {}),
  durationSeconds: Math.round((Date.now() - started) / 1000),
  machine,
  results,
};
writeFileSync(path.join(root, "bench/results.json"), `${JSON.stringify(document, null, 2)}\n`);

const floors = new Map<string, string>();
/** What a measurement carries besides its numbers (index settings, where reads came from, peaks). */
function details(extra: Record<string, unknown> | undefined): string {
  if (!extra) return "";
  return Object.entries(extra)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v).replaceAll('"', "") : v}`)
    .join("; ")
    .replaceAll("|", "/");
}
const rows = results.map((r: any) => {
  floors.set(r.name.replace(/_p\d+$/, ""), r.floorName);
  return `| ${r.name} | ${Object.entries(r.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ")} | ${r.value} ${r.unit} | ${r.floor} ${r.unit} | ${r.ratio} | ${details(r.extra)} |`;
});
const markdown = `# Benchmarks

Latest run: ${document.date}${quick ? " (quick)" : ""}, ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}.
Produced by \`npm run bench\`; the raw figures are in \`bench/results.json\`. Each benchmark measures its own floor in
the same run, interleaved with it, and the ratio (value / floor) is what to read: absolute times on a shared machine are noise.

| measurement | params | value | floor | ratio | details |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

## Floors
${[...floors].map(([name, floor]) => `- **${name}**: ${floor}`).join("\n")}
`;
writeFileSync(path.join(root, "BENCHMARKS.md"), markdown);
console.log(`\nwrote bench/results.json and BENCHMARKS.md (${results.length} measurements)`);
if (code !== 0) console.error(`benchmarks failed (vitest exit ${code})`);
process.exit(code);
