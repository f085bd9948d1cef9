// Materialization at scale (issue 16): N source rows (10,000,000 by default) materialized by
// the cron worker's queue consumers into offline history, online tables and Redis, with 1, 2
// and 4 consumers running at once, against the floor measured in the same run: a plain
// INSERT ... SELECT of the same rows into the offline and online tables inside Postgres.
//
// The cron worker runs as `wrangler deploy` would upload it, in a fresh workerd (Miniflare)
// with its inspector open: the cron trigger cuts the job into units (8 daily windows) and
// sends them to the queue; this process then delivers them to the worker's queue()
// handler, C at a time, as C concurrent consumer invocations. Every 2 s a full GC over the
// inspector, then the isolate's used heap: its largest reading is what the consumers hold.
// BENCH_MATERIALIZE_ROWS overrides the size, BENCH_MATERIALIZE_CONSUMERS the curve (1,2,4).
import type { Readable } from "node:stream";
import Redis from "ioredis";
import { Miniflare } from "miniflare";
import pg from "pg";
import { bundleWorker } from "../scripts/lib/bundle-worker.ts";
import { directUrl, localStack, neonUrl } from "../scripts/local/config.ts";
import { startNeonServer } from "../scripts/local/neon-server.ts";
import { startUpstashServer } from "../scripts/local/upstash-server.ts";
import { tenantContextFor } from "../shared/db/tenant.ts";
import { parseEnv } from "../shared/env.ts";
import { createJob } from "../shared/jobs/jobs.ts";
import { createFeature } from "../shared/registry/features.ts";
import { createGroup, findGroup } from "../shared/registry/groups.ts";
import { createFeatureBody, createGroupBody } from "../shared/registry/schemas.ts";
import { connectIsolateHeap } from "./isolate-heap.ts";
import type { Measurement as BaseMeasurement } from "./stats.ts";
import { workerdRssMb } from "./workerd-memory.ts";

const inspectorPort = 9243;
const windows = 8;
const DAY = 86_400_000;
const windowStart = Date.UTC(2026, 2, 1);

type Measurement = BaseMeasurement & { ratio: number };

const transformationSql = `SELECT id AS entity_id, EXTRACT(EPOCH FROM (updated_at - created_at))::int AS value
  FROM ai_conversations WHERE created_at >= :start_time AND created_at < :end_time`;

async function cronHost(vars: Record<string, string>) {
  const { scriptPath, compatibilityDate } = bundleWorker("workers/cron/wrangler.toml", "dist/bench-cron");
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    compatibilityDate,
    bindings: vars,
    // Units are sent here and delivered by this process (C at a time), not by Miniflare.
    queueProducers: { MATERIALIZE_QUEUE: { queueName: "fs-materialize" } },
    inspectorPort,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.resume();
      stderr.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    },
  });
  await mf.ready;
  return mf;
}

export async function runMaterializationScale(quick: boolean): Promise<Measurement[]> {
  const sourceRows = Number(process.env.BENCH_MATERIALIZE_ROWS ?? (quick ? 200_000 : 10_000_000));
  const curve = (process.env.BENCH_MATERIALIZE_CONSUMERS ?? (quick ? "1,2" : "1,2,4")).split(",").map(Number);
  // One tenant per size: its source rows are generated once and kept for later runs.
  const tenantId = `00000000-0000-4000-8000-b${sourceRows.toString(16).padStart(11, "0")}`;
  const owner = new pg.Client({ connectionString: directUrl("owner", localStack.databases.test) });
  await owner.connect();
  const neon = await startNeonServer({ pgHost: localStack.pgHost, pgPort: localStack.pgPort });
  const upstash = await startUpstashServer({ redisUrl: localStack.redisUrl, token: localStack.upstashToken });
  const vars = {
    DATABASE_URL: neonUrl("app", localStack.databases.test),
    NEON_FETCH_ENDPOINT: `${neon.url}/sql`,
    NEON_WS_PROXY: `127.0.0.1:${neon.port}/v1`,
    UPSTASH_REDIS_REST_URL: upstash.url,
    UPSTASH_REDIS_REST_TOKEN: localStack.upstashToken,
    MATERIALIZE_TENANTS: tenantId,
    MATERIALIZE_STATEMENT_TIMEOUT_MS: "900000",
  };
  const env = parseEnv(vars);
  const ctx = tenantContextFor(env, tenantId, { subject: "bench" });
  const results: Measurement[] = [];
  let mf: Miniflare | undefined;
  try {
    await owner.query("INSERT INTO tenants (id, name) VALUES ($1, 'bench scale') ON CONFLICT DO NOTHING", [tenantId]);
    const have = (await owner.query("SELECT count(*)::int AS n FROM ai_conversations WHERE tenant_id = $1", [tenantId]))
      .rows[0].n as number;
    if (have < sourceRows) {
      console.log(`  generating ${sourceRows - have} source rows`);
      // Spread evenly over the 8 daily windows.
      await owner.query(
        `INSERT INTO ai_conversations (tenant_id, channel, created_at, updated_at)
         SELECT $1, 'web', to_timestamp($2 / 1000.0) + ((i::bigint * 7919) % ($4 * 86400)) * interval '1 second',
                to_timestamp($2 / 1000.0) + ((i::bigint * 7919) % ($4 * 86400)) * interval '1 second' + (i % 3600) * interval '1 second'
         FROM generate_series($5::int + 1, $3::int) AS i`,
        [tenantId, windowStart, sourceRows, windows, have],
      );
      await owner.query("ANALYZE ai_conversations");
    }
    await owner.query(
      `SELECT create_feature_partition(0, to_timestamp($1 / 1000.0)), create_feature_partition(0, to_timestamp($2 / 1000.0))`,
      [windowStart, windowStart + windows * DAY],
    );
    const groupFor = async (name: string, withSql: boolean) => {
      let group = await findGroup(ctx, name);
      if (!group) {
        group = await createGroup(ctx, createGroupBody.parse({ name, displayName: name, entityType: "conversation" }));
        await createFeature(
          ctx,
          group.id,
          createFeatureBody.parse({
            name: "duration",
            displayName: "Duration",
            dataType: "int64",
            sourceType: "batch",
            ...(withSql ? { transformationSql } : {}),
          }),
        );
      }
      const feature = await owner.query(
        "SELECT id FROM ai_feature_definitions WHERE tenant_id = $1 AND group_id = $2 AND name = 'duration'",
        [tenantId, group.id],
      );
      return { groupId: group.id, featureId: feature.rows[0].id as string };
    };
    const clear = async (featureId: string) => {
      await owner.query("DELETE FROM ai_feature_values WHERE tenant_id = $1 AND feature_id = $2", [
        tenantId,
        featureId,
      ]);
      await owner.query("DELETE FROM ai_feature_online WHERE tenant_id = $1 AND feature_id = $2", [
        tenantId,
        featureId,
      ]);
    };
    await owner.query(
      "UPDATE ai_feature_materialization_jobs SET status = 'cancelled' WHERE tenant_id = $1 AND status IN ('pending', 'running')",
      [tenantId],
    );

    // The floor: the same rows, written by Postgres alone.
    const floor = await groupFor("bench_scale_floor", false);
    await clear(floor.featureId);
    await owner.query("VACUUM ANALYZE ai_feature_online");
    const floorStarted = performance.now();
    await owner.query("BEGIN");
    for (const table of ["ai_feature_values", "ai_feature_online"]) {
      await owner.query(
        `INSERT INTO ${table} (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp)
         SELECT tenant_id, $2, 'conversation', id::text, to_jsonb(EXTRACT(EPOCH FROM (updated_at - created_at))::int), 'scalar',
                to_timestamp($3 / 1000.0) + (floor(extract(epoch FROM created_at - to_timestamp($3 / 1000.0)) / 86400) + 1) * interval '1 day'
         FROM ai_conversations WHERE tenant_id = $1 AND created_at >= to_timestamp($3 / 1000.0)
           AND created_at < to_timestamp($3 / 1000.0) + $4 * interval '1 day'
         ${table === "ai_feature_online" ? "ON CONFLICT (tenant_id, feature_id, feature_version, entity_type, entity_id) DO NOTHING" : ""}`,
        [tenantId, floor.featureId, windowStart, windows],
      );
    }
    await owner.query("COMMIT");
    const floorMs = performance.now() - floorStarted;
    const rate = (ms: number) => Math.round(sourceRows / (ms / 1000));
    console.log(`  floor (INSERT ... SELECT, offline + online): ${Math.round(floorMs)} ms, ${rate(floorMs)} rows/s`);

    mf = await cronHost(vars);
    const worker = await mf.getWorker();
    // The isolate starts on its first request: only then has the inspector a heap to read.
    await (await worker.fetch("http://localhost/healthz")).arrayBuffer();
    const heap = await connectIsolateHeap(inspectorPort, "core:user:", async () => {
      await (await worker.fetch("http://localhost/healthz")).arrayBuffer();
    });
    try {
      for (const consumers of curve) {
        const { groupId, featureId } = await groupFor(`bench_scale_c${consumers}`, true);
        await clear(featureId);
        const job = await createJob(ctx, {
          featureGroupId: groupId,
          jobType: "point_in_time",
          startTime: new Date(windowStart).toISOString(),
          endTime: new Date(windowStart + windows * DAY).toISOString(),
        });
        const baseline = await heap.liveMb();
        let heapMax = baseline;
        let rssMax = 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            heapMax = Math.max(heapMax, await heap.liveMb());
            rssMax = Math.max(rssMax, workerdRssMb(process.pid));
            await new Promise((r) => setTimeout(r, 2000));
          }
        })();
        const started = performance.now();
        await worker.scheduled({ cron: "* * * * *", scheduledTime: new Date() });
        const units = (
          await owner.query(
            "SELECT unit_index FROM ai_feature_materialization_units WHERE job_id = $1 ORDER BY unit_index",
            [job.id],
          )
        ).rows.map((r) => r.unit_index as number);
        let next = 0;
        const consume = async () => {
          while (next < units.length) {
            const unitIndex = units[next++]!;
            // A unit whose Redis refresh ran out of the invocation's budget comes back: deliver again until done.
            for (let delivery = 1; delivery <= 20; delivery++) {
              const body = { tenantId, jobId: job.id, unitIndex, startTime: job.startTime, endTime: job.endTime };
              await worker.queue("fs-materialize", [
                { id: `${unitIndex}-${delivery}`, timestamp: new Date(), attempts: 1, body },
              ]);
              const state = await owner.query(
                "SELECT status FROM ai_feature_materialization_units WHERE job_id = $1 AND unit_index = $2",
                [job.id, unitIndex],
              );
              if (state.rows[0].status !== "pending" && state.rows[0].status !== "written") break;
            }
          }
        };
        await Promise.all(Array.from({ length: consumers }, consume));
        const productMs = performance.now() - started;
        sampling = false;
        await sampler;
        const done = (
          await owner.query(
            "SELECT status, rows_processed::int AS processed, rows_failed::int AS failed FROM ai_feature_materialization_jobs WHERE id = $1",
            [job.id],
          )
        ).rows[0];
        if (done.status !== "completed" || done.processed !== sourceRows) {
          throw new Error(`job ended ${done.status} with ${done.processed} of ${sourceRows} rows`);
        }
        const redisRows = (
          await owner.query(
            "SELECT count(*)::int AS n FROM ai_feature_online WHERE tenant_id = $1 AND feature_id = $2",
            [tenantId, featureId],
          )
        ).rows[0].n;
        const m: Measurement = {
          name: "materialization_scale_rows_per_second",
          params: { sourceRows, consumers, units: units.length },
          value: rate(productMs),
          unit: "rows/s",
          floor: rate(floorMs),
          floorName: "plain INSERT ... SELECT of the same rows into the offline and online tables, inside Postgres",
          ratio: Math.round((floorMs / productMs) * 100) / 100,
          extra: {
            productMs: Math.round(productMs),
            floorMs: Math.round(floorMs),
            liveHeapMb: { baseline, max: heapMax },
            workerdPeakRssMb: rssMax,
            onlineRows: redisRows,
          },
        };
        console.log(
          `  ${consumers} consumer(s): ${Math.round(productMs)} ms, ${m.value} rows/s (x${m.ratio} of the floor), live heap max ${heapMax} MB`,
        );
        results.push(m);
      }
    } finally {
      heap.close();
    }
  } finally {
    await mf?.dispose();
    await neon.close();
    await upstash.close();
    await owner.end();
    // Millions of cached cells would slow every SCAN of the shared Redis (tests flush a
    // tenant's keys that way) until they expire: the bench removes its own.
    await forgetRedisKeys(tenantId);
  }
  return results;
}

async function forgetRedisKeys(tenantId: string) {
  const redis = new Redis(localStack.redisUrl);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `fs1:{${tenantId}}:*`, "COUNT", 10_000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
