// 1,000,000 pairs on a 20,000,000-row history through the streamed historical route: time and
// memory (peak RSS of workerd during the phase, from run.ts). Opt-in, it takes most of an hour
// on two cores (most of it generating the history once): npm run bench -- --large
// --only=point-in-time-large. The request body is itself streamed, so nothing but the route
// holds pairs; the first 5,000 rows are checked against Feast's query (best plan).
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { testTenantContext } from "#harness/registry.ts";
import { signToken } from "#harness/tokens.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import worker from "../workers/serving/src/index.ts";
import { forEachNdjsonRow } from "./ndjson.ts";
import { ensureHistory, featureCount, ndjsonTrainingRequest, runFeast } from "./pit-history.ts";
import { report } from "./stats.ts";
import { trainingPairStream, trainingPairs } from "./training-pairs.ts";

const large = Boolean(env.BENCH_LARGE);
const history = { rows: 20_000_000, entities: 400_000, tenantId: "00000000-0000-4000-8000-0000000b0020" };
const pairCount = 1_000_000;
const seed = 20;

/** `{"entityType":…,"features":[…],"entityTimestampPairs":[…]}`, 10,000 pairs per chunk. */
function requestBody(names: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const pairs = trainingPairStream(pairCount, seed, history.entities);
  let first = true;
  let done = false;
  return new ReadableStream({
    pull(controller) {
      if (done) return controller.close();
      const chunk: string[] = [];
      for (let i = 0; i < 10_000; i++) {
        const next = pairs.next();
        if (next.done) {
          done = true;
          break;
        }
        chunk.push(JSON.stringify(next.value));
      }
      // A comma only between pairs: the last pull may find the stream already drained.
      const head = first
        ? `{"entityType":"user","features":${JSON.stringify(names)},"entityTimestampPairs":[`
        : chunk.length
          ? ","
          : "";
      first = false;
      controller.enqueue(encoder.encode(`${head}${chunk.join(",")}${done ? "]}" : ""}`));
    },
  });
}

it.runIf(large)(
  "point-in-time: 1,000,000 pairs on a 20,000,000-row history",
  async () => {
    const { featureIds } = await ensureHistory(history);
    const names = Array.from({ length: featureCount }, (_, i) => `bench.f${i}`);
    const token = await signToken({ tenantId: history.tenantId, scopes: ["features:read"], expiresIn: 7200 });
    const noop = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;

    // Floor: one pass over the tenant's history, the least any answer needs.
    const ctx = testTenantContext(history.tenantId);
    let started = performance.now();
    await withTenantSql(ctx.db, history.tenantId, (sql) => [sql`SELECT count(*) FROM ai_feature_values`], {
      readOnly: true,
    });
    const scanMs = performance.now() - started;

    console.log(`PHASE product-${history.rows}-${pairCount} start ${Date.now()}`);
    started = performance.now();
    const response = await worker.fetch(ndjsonTrainingRequest(token, requestBody(names)), env, noop);
    expect(response.status).toBe(200);
    let rows = 0;
    let present = 0;
    const firstRows: string[] = [];
    await forEachNdjsonRow(response.body!, (row) => {
      if (rows < 5_000)
        firstRows.push(
          names
            .map((n) =>
              row.statuses[n] === "PRESENT" ? `${row.features[n]}@${Date.parse(row.eventTimestamps[n])}` : "",
            )
            .join(","),
        );
      rows++;
      present += names.filter((n) => row.statuses[n] === "PRESENT").length;
    });
    const ms = performance.now() - started;
    console.log(`PHASE product-${history.rows}-${pairCount} end ${Date.now()}`);
    expect(rows).toBe(pairCount);

    // The first 5,000 rows, cell by cell, against Feast's query.
    const sample = trainingPairs(5_000, seed, history.entities);
    const reference = await runFeast(history.tenantId, sample, featureIds, true, true);
    const expected = sample.map(() => names.map(() => ""));
    for (const r of reference)
      expected[Number(r.ord)]![featureIds.indexOf(r.feature_id as string)] = `${r.value}@${r.event_ms}`;
    expect(firstRows).toEqual(expected.map((cells) => cells.join(",")));

    report({
      name: "point_in_time_large",
      params: { pairs: pairCount, features: featureCount, historyRows: history.rows, format: "ndjson" },
      value: Math.round(ms),
      unit: "ms",
      floor: Math.round(scanMs),
      floorName: "one sequential pass over the tenant's history (count), same run",
      extra: {
        strategy: response.headers.get("x-point-in-time-strategy"),
        cellsPresent: present,
        pairsPerSecond: Math.round(pairCount / (ms / 1000)),
      },
    });
  },
  4 * 3_600_000,
); // generating the history takes most of it, once
