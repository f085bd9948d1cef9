// Memory of the serving worker while it streams a training set (NDJSON), measured from
// outside a fresh plain workerd (the deployable bundle through Miniflare) that serves only
// these requests, with the client in this Node process. Two readings per size, each its own
// request:
//  - live heap: every ~5 MB of answer a full GC over the inspector, then the isolate's used
//    heap; the largest reading is what the request holds. Target: the same at 100,000 pairs
//    as at 10,000 (nothing may grow with the number of pairs).
//  - peak RSS of workerd, sampled every 50 ms, without the inspector touching it: this also
//    counts garbage, which workerd's V8 lets pile up the longer a request allocates.
// Uses the history bench/point-in-time.bench.ts generated. BENCH_TRAINING_PAIRS=10000,100000
// overrides the sizes.
import { randomBytes } from "node:crypto";
import * as jose from "jose";
import { localStack, neonUrl } from "../scripts/local/config.ts";
import { startNeonServer } from "../scripts/local/neon-server.ts";
import { startUpstashServer } from "../scripts/local/upstash-server.ts";
import { type HttpMeasurement, measure } from "./http-load.ts";
import { connectIsolateHeap, type IsolateHeap } from "./isolate-heap.ts";
import { trainingPairs } from "./training-pairs.ts";
import { workerdHost } from "./workerd-host.ts";

const port = 8796;
const inspectorPort = 9242;

export async function runTrainingSetMemory(quick: boolean): Promise<HttpMeasurement[]> {
  const tenantId = quick ? "00000000-0000-4000-8000-0000000b0001" : "00000000-0000-4000-8000-0000000b0005";
  const entities = quick ? 4_000 : 100_000;
  const sizes = process.env.BENCH_TRAINING_PAIRS
    ? process.env.BENCH_TRAINING_PAIRS.split(",").map(Number)
    : quick
      ? [1_000, 5_000]
      : [10_000, 100_000];
  const neon = await startNeonServer({ pgHost: localStack.pgHost, pgPort: localStack.pgPort });
  const upstash = await startUpstashServer({ redisUrl: localStack.redisUrl, token: localStack.upstashToken });
  const secret = randomBytes(32).toString("hex");
  const host = await workerdHost(
    {
      DATABASE_URL: neonUrl("app", localStack.databases.test),
      NEON_FETCH_ENDPOINT: `${neon.url}/sql`,
      NEON_WS_PROXY: `127.0.0.1:${neon.port}/v1`,
      UPSTASH_REDIS_REST_URL: upstash.url,
      UPSTASH_REDIS_REST_TOKEN: localStack.upstashToken,
      JWT_SECRET: secret,
    },
    port,
    { inspectorPort },
  );
  let heap: IsolateHeap | undefined;
  try {
    const token = await new jose.SignJWT({ tenant_id: tenantId, scope: "features:read" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(secret));
    const names = Array.from({ length: 10 }, (_, i) => `bench.f${i}`);

    /** Streams `count` pairs, reading the answer line by line; `onChunk` sees the bytes so far. */
    const stream = async (count: number, onChunk: (bytes: number) => Promise<void> | void) => {
      const body = JSON.stringify({
        entityType: "user",
        entityTimestampPairs: trainingPairs(count, count, entities),
        features: names,
      });
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${port}/v1/features/historical`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          accept: "application/x-ndjson",
        },
        body,
      });
      if (response.status !== 200)
        throw new Error(`historical: ${response.status} ${(await response.text()).slice(0, 300)}`);
      let lines = 0;
      let bytes = 0;
      const decoder = new TextDecoder();
      for await (const chunk of response.body!) {
        bytes += (chunk as Uint8Array).byteLength;
        lines += decoder.decode(chunk as Uint8Array, { stream: true }).split("\n").length - 1;
        await onChunk(bytes);
      }
      if (lines !== count) throw new Error(`historical streamed ${lines} rows for ${count} pairs`);
      return Math.round(performance.now() - started);
    };

    // The isolate's own start (modules, first connection) is not the request's memory.
    await stream(100, () => {});
    // A GC is answered once the isolate's event loop turns: an idle isolate (a small training
    // set reads over HTTP and leaves nothing open) needs a request to turn it.
    heap = await connectIsolateHeap(inspectorPort, "core:user:", () =>
      fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.arrayBuffer()),
    );
    const readings: {
      pairs: number;
      idleMb: number;
      liveMb: number;
      rssBefore: number;
      rssPeak: number;
      ms: number;
    }[] = [];
    for (const count of sizes) {
      const idleMb = await heap.liveMb();
      let liveMb = idleMb;
      let nextReading = 0;
      await stream(count, async (bytes) => {
        if (bytes < nextReading) return;
        nextReading = bytes + 5e6;
        liveMb = Math.max(liveMb, await heap!.liveMb());
      });
      const before = host.rssMb();
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, host.rssMb());
      }, 50);
      const ms = await stream(count, () => {}).finally(() => clearInterval(sampler));
      readings.push({ pairs: count, idleMb, liveMb, rssBefore: before, rssPeak: Math.max(peak, host.rssMb()), ms });
    }
    console.log(`training-set memory: ${JSON.stringify(readings)}`);
    const params = (pairs: number) => ({ pairs, features: 10, format: "ndjson", via: host.name });
    return readings.flatMap((r) => [
      measure(
        "point_in_time_live_heap",
        params(r.pairs),
        r.liveMb,
        "MB",
        readings[0]!.liveMb,
        "the serving isolate's live JS heap (after a full GC, read every ~5 MB of answer) while it streams the smallest request",
        { idleMb: r.idleMb },
      ),
      measure(
        "point_in_time_peak_rss_http",
        params(r.pairs),
        r.rssPeak,
        "MB",
        readings[0]!.rssPeak,
        "peak resident memory of a fresh serving workerd while it streams the smallest request (client in another process)",
        { beforeMb: r.rssBefore, ms: r.ms },
      ),
    ]);
  } finally {
    heap?.close();
    await host.stop();
    await Promise.allSettled([neon.close(), upstash.close()]);
  }
}
