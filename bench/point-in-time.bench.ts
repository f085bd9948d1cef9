// Point-in-time retrieval (the historical route, NDJSON, streamed) against the
// join-then-rank query of Feast's Postgres offline store, run on the same data in the same
// run: as shipped, and with its best plan (enable_nestloop = off). Answers must be identical.
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { signToken } from "#harness/tokens.ts";
import worker from "../workers/serving/src/index.ts";
import { forEachNdjsonRow } from "./ndjson.ts";
import { ensureHistory, featureCount, type History, ndjsonTrainingRequest, runFeast } from "./pit-history.ts";
import { percentile, report } from "./stats.ts";
import { trainingPairs } from "./training-pairs.ts";

const quick = Boolean(env.BENCH_QUICK);
/**
 * The histories and the training-set sizes asked of each. Fixed tenants: a generated history
 * is kept between runs and reused.
 */
const histories: (History & { pairCounts: number[] })[] = quick
  ? [{ rows: 200_000, entities: 4_000, tenantId: "00000000-0000-4000-8000-0000000b0001", pairCounts: [1_000, 5_000] }]
  : [
      {
        rows: 200_000,
        entities: 4_000,
        tenantId: "00000000-0000-4000-8000-0000000b0001",
        pairCounts: [1_000, 10_000, 100_000],
      },
      {
        rows: 5_000_000,
        entities: 100_000,
        tenantId: "00000000-0000-4000-8000-0000000b0005",
        pairCounts: [1_000, 10_000, 100_000],
      },
    ];
it("point-in-time: streamed historical route vs Feast's join-then-rank", async () => {
  for (const history of histories) await compareWithFeast(history);
});

const median = (xs: number[]) => percentile(xs, 50);

async function compareWithFeast(history: History & { pairCounts: number[] }) {
  const { tenantId, rows: historyRows, entities } = history;
  const { featureIds } = await ensureHistory(history);
  const names = Array.from({ length: featureCount }, (_, i) => `bench.f${i}`);
  const token = await signToken({ tenantId, scopes: ["features:read"], expiresIn: 3600 });
  const noop = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;

  /**
   * The route, consumed line by line as a client does (each line parsed, nothing holding the
   * parsed rows); a strategy forced or the route's own. Each row is kept as a compact text of
   * its cells (value@event time, as the route wrote them), checked against Feast's afterwards.
   */
  async function product(pairs: { entityId: string; timestamp: string }[], strategy: "probe" | "sort-merge" | "route") {
    const forced = { probe: { PIT_STRATEGY: "probe" }, "sort-merge": { PIT_STRATEGY: "merge" }, route: {} };
    const bindings = { ...env, ...forced[strategy] };
    const started = performance.now();
    const response = await worker.fetch(
      ndjsonTrainingRequest(
        token,
        JSON.stringify({ entityType: "user", entityTimestampPairs: pairs, features: names }),
      ),
      bindings,
      noop,
    );
    expect(response.status).toBe(200);
    const chosen = response.headers.get("x-point-in-time-strategy") === "merge" ? "sort-merge" : "probe";
    const answer: string[] = [];
    let present = 0;
    await forEachNdjsonRow(response.body!, (row) => {
      let cells = "";
      for (const n of names) {
        const here = row.statuses[n] === "PRESENT";
        if (here) present++;
        cells += here ? `${row.features[n]}@${row.eventTimestamps[n]},` : ",";
      }
      answer.push(cells);
    });
    const ms = performance.now() - started;
    expect(answer).toHaveLength(pairs.length);
    return { ms, answer, present, chosen };
  }

  for (const count of history.pairCounts) {
    const pairs = trainingPairs(count, count, entities);
    // Untimed first pass: the history's pages in cache, as they are for the Feast queries
    // that run after the product.
    const { chosen } = await product(pairs, "route");
    const other = chosen === "probe" ? "sort-merge" : "probe";
    // One sample moves 20-30% with whatever else the machine runs: the route and Feast's best
    // plan are timed in turns (5 for small requests, 3 at 100,000 pairs), each keeping its median.
    const turns = count <= 10_000 ? 5 : 3;
    const routeRuns: Awaited<ReturnType<typeof product>>[] = [];
    const bestRuns: number[] = [];
    let bestPlan: Record<string, unknown> | undefined;
    for (let turn = 0; turn < turns; turn++) {
      console.log(`PHASE product-${historyRows}-${count} start ${Date.now()}`);
      routeRuns.push(await product(pairs, "route"));
      console.log(`PHASE product-${historyRows}-${count} end ${Date.now()}`);
      const bestStarted = performance.now();
      [bestPlan] = await runFeast(tenantId, pairs, featureIds, true, false);
      bestRuns.push(performance.now() - bestStarted);
    }
    const route = routeRuns.sort((a, b) => a.ms - b.ms)[Math.floor(turns / 2)]!;
    const feastBestMs = median(bestRuns);
    // The other strategy where it finishes in reasonable time, so the threshold rests on figures.
    const alternative = other === "sort-merge" || count <= 10_000 ? await product(pairs, other) : null;
    if (alternative) expect(alternative.answer).toEqual(route.answer);
    const { answer, present } = route;

    const feastStarted = performance.now();
    const [asShipped] = await runFeast(tenantId, pairs, featureIds, false, false);
    const feastMs = performance.now() - feastStarted;
    expect(asShipped!.n).toBe(present);
    expect(bestPlan!.n).toBe(present);

    // Identical answers, cell by cell (checked in slices, outside the timings).
    for (let from = 0; from < count; from += 5_000) {
      const slice = pairs.slice(from, from + 5_000);
      const rows = await runFeast(tenantId, slice, featureIds, true, true);
      const expected = slice.map(() => names.map(() => ""));
      for (const r of rows) {
        const at = new Date(Number(r.event_ms)).toISOString();
        expected[Number(r.ord)]![featureIds.indexOf(r.feature_id as string)] = `${r.value}@${at}`;
      }
      expect(answer.slice(from, from + 5_000)).toEqual(expected.map((cells) => `${cells.join(",")},`));
    }

    const params = { pairs: count, features: featureCount, historyRows, strategy: chosen };
    report({
      name: "point_in_time_vs_feast",
      params,
      value: Math.round(route.ms),
      unit: "ms",
      floor: Math.round(feastMs),
      floorName: "Feast's join-then-rank query (ROW_NUMBER over the join), as shipped, same data, same run",
      extra: { speedup: Math.round((feastMs / route.ms) * 10) / 10, cellsPresent: present },
    });
    report({
      name: "point_in_time_vs_feast_best_plan",
      params,
      value: Math.round(route.ms),
      unit: "ms",
      floor: Math.round(feastBestMs),
      floorName: "the same Feast query with its best plan (enable_nestloop = off)",
      extra: { speedup: Math.round((feastBestMs / route.ms) * 10) / 10, turns },
    });
    if (alternative) {
      report({
        name: "point_in_time_other_strategy",
        params: { ...params, strategy: other },
        value: Math.round(alternative.ms),
        unit: "ms",
        floor: Math.round(route.ms),
        floorName: "the route's own choice for this request (PIT_STRATEGY = auto), same pairs, same run",
      });
    }
  }
}
