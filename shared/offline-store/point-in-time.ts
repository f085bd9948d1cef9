// Values as they were at a point in time, from the offline store: for each (feature,
// entity), the row with the latest event_timestamp <= t, by index probes or in one pass over
// the history (chooseStrategy). Pairs held in memory are read over HTTP (openPointInTime);
// large streamed requests are staged in sessions (training-shards.ts).
import { readSplittingOnTooLarge } from "#shared/db/pg-errors.ts";
import { type TenantContext, withTenantSql } from "#shared/db/tenant.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { mergeQuery, mergeSettings } from "./merge.ts";
import { type ProbeQuery, type ProbeSpan, probeRowsQuery, probeSpanFrom, probeSpanQuery } from "./probe.ts";
import { lineOf, rowOfLine } from "./row-lines.ts";
import type { PointInTimeRow, PointInTimeStrategy, StagedPair, TrainingSetRequest } from "./types.ts";

/** Pairs per INSERT when staging. */
export const stageBatchPairs = 5_000;

/** From this many pairs on, a training set is always read in one sort-merge pass. */
export const defaultMergeThreshold = 50_000;

/**
 * Below the threshold the cost decides. One pass costs about a third of a microsecond per
 * row of the requested features' history (it reads all of it), a probe 8-20 us (Postgres
 * alone, bench/point-in-time.bench.ts, 10 features: on a 200,000-row history 1,000 pairs
 * probed 0.10 s vs 0.18 s in one pass, 10,000 pairs 0.80 s vs 0.40 s; on a 5,000,000-row
 * history 1,000 pairs 0.30 s vs 1.7 s, 10,000 pairs 2.0 s vs 2.2 s). So one pass when the
 * history is under fifteen rows per probe. The history's size is the planner's estimate
 * (feature_history_estimate, migration 0018, ~3 ms): counting it took 100-250 ms.
 */
const historyRowsPerProbe = 15;
/** Below this many probes the estimate costs more than a wrong choice. */
const minCountedProbes = 500;

export interface StrategySettings {
  /** From this many pairs, always the merge (PIT_MERGE_THRESHOLD). */
  mergeThreshold: number;
  /** Sessions a streamed training set past 10,000 pairs is staged in (PIT_SESSIONS; training-shards.ts). */
  sessions: number;
  /** "auto" decides by the estimated history; "probe" or "merge" forces one (PIT_STRATEGY). */
  strategy: "auto" | PointInTimeStrategy;
}

/** Runs one statement as the request's tenant and gives its rows. */
export type RunQuery = (query: ProbeQuery) => Promise<Record<string, unknown>[]>;

/**
 * RunQuery over HTTP, on Neon's pooled connections. The strategy's estimate goes there even
 * when sessions are open: a pooled backend has planned against the partitions before, a new
 * session's has not (the estimate's first call in a backend takes ~25 ms, later ones ~3 ms).
 */
export function pooledQuery(ctx: TenantContext): RunQuery {
  return async (query) =>
    (await withTenantSql(ctx.db, ctx.tenantId, (sql) => [sql.query(query.text, query.values)], { readOnly: true }))[0]!;
}

/**
 * How a training set of `pairCount` pairs is read. asOfIngestion filters each request's
 * candidates by its own time, which a single carry-forward pass cannot do: it always probes,
 * as do aggregated features.
 */
export async function chooseStrategy(
  request: TrainingSetRequest,
  pairCount: number,
  settings: StrategySettings,
  run: RunQuery,
): Promise<PointInTimeStrategy> {
  // Aggregates fold a window per pair: they are probed too (probe.ts).
  if (request.asOfIngestion || request.features.some((f) => f.window)) return "probe";
  if (settings.strategy !== "auto") return settings.strategy;
  if (pairCount >= settings.mergeThreshold) return "merge";
  const probes = pairCount * request.features.length;
  if (probes < minCountedProbes) return "probe";
  const [estimated] = await run({
    text: "SELECT feature_history_estimate($1::uuid[])::float8 AS n",
    values: [`{${request.features.map((f) => f.id).join(",")}}`],
  });
  return Number(estimated?.n) < probes * historyRowsPerProbe ? "merge" : "probe";
}

/**
 * Point-in-time rows for pairs held in memory (the JSON route, small streamed requests,
 * online reads with a timestamp), in request order (duplicates kept), one chunk per Postgres
 * round trip.
 */
export async function* readPointInTime(
  ctx: TenantContext,
  request: TrainingSetRequest & { pairs: StagedPair[] },
  settings: StrategySettings = defaultStrategySettings,
): AsyncGenerator<PointInTimeRow[]> {
  yield* (await openPointInTime(ctx, request, settings)).rows;
}

const defaultStrategySettings: StrategySettings = {
  mergeThreshold: defaultMergeThreshold,
  strategy: "auto",
  sessions: 1,
};

/**
 * readPointInTime's strategy, decided, and its rows, over HTTP (Neon's pooled, warm
 * connections: no session to open, nothing staged). Two round trips at once share the work
 * between two backends: probes a range of pairs each, the merge half the features each.
 */
export async function openPointInTime(
  ctx: TenantContext,
  request: TrainingSetRequest & { pairs: StagedPair[] },
  settings: StrategySettings = defaultStrategySettings,
): Promise<{ strategy: PointInTimeStrategy; rows: AsyncGenerator<PointInTimeRow[]> }> {
  const run = pooledQuery(ctx);
  // The span is only used by probes; asked at the same time, it costs no extra wait.
  const [strategy, span] = await Promise.all([
    chooseStrategy(request, request.pairs.length, settings, run),
    spanOf(request, run),
  ]);
  return { strategy, rows: strategy === "merge" ? merged(ctx, request) : probed(ctx, request, span) };
}

/**
 * The merge of pairs held in memory, over HTTP: the features are shared out between
 * round trips in flight at once (each its own pooled backend), each reading only its
 * features' history for every pair; their answers, both in request order, are zipped.
 */
async function* merged(ctx: TenantContext, request: TrainingSetRequest & { pairs: StagedPair[] }) {
  const indexed = request.features.map((feature, index) => ({ feature, index }));
  const parts = Math.min(probesInFlight, indexed.length);
  const groups = Array.from({ length: parts }, (_, k) => indexed.filter((_, i) => i % parts === k));
  const answers = await Promise.all(
    groups.map((group) =>
      readSplittingOnTooLarge(request.pairs, (pairs) =>
        mergePairs(
          ctx,
          request,
          group.map((g) => g.feature),
          pairs,
        ),
      ),
    ),
  );
  const rows: PointInTimeRow[] = answers[0]!.map((row) => ({ ...row, cells: new Array(request.features.length) }));
  groups.forEach((group, k) => {
    answers[k]!.forEach((row, i) => {
      group.forEach(({ index }, j) => {
        rows[i]!.cells[index] = row.cells[j] ?? null;
      });
    });
  });
  for (let start = 0; start < rows.length; start += stageBatchPairs) yield rows.slice(start, start + stageBatchPairs);
}

/** mergeQuery over `pairs` sent as arrays: one row per pair, in their order. */
async function mergePairs(
  ctx: TenantContext,
  request: TrainingSetRequest,
  features: ServedFeature[],
  pairs: readonly StagedPair[],
): Promise<PointInTimeRow[]> {
  const text = mergeQuery(features, pairsFromArrays(4));
  const values = [request.entityType, ...featureArrays(features), ...pairArrays(pairs)];
  const [rows] = await withTenantSql(
    ctx.db,
    ctx.tenantId,
    (sql) => [sql.query(lineOf(features.length, text), values)],
    { readOnly: true, settings: mergeSettings },
  );
  return linesToRows(rows!, features.length);
}

/**
 * Pairs per probe round trip: large enough that sorting them by entity keeps each feature's
 * probes on neighbouring index pages, small enough that the answer stays well under Neon's
 * 10 MB (an embedding cell of 1,536 dimensions is ~20 KB of JSON; one over is read again in
 * halves).
 */
function pairsPerRoundTrip(features: readonly ServedFeature[]): number {
  const vectors = features.filter((f) => f.dataType === "embedding").length;
  return vectors ? Math.max(1, Math.floor(200 / vectors)) : Math.max(1, Math.floor(50_000 / features.length));
}

/** Probe round trips in flight at once (each on its own pooled backend). */
const probesInFlight = 2;
/** Below this many probes one round trip does it all. */
const minSplitProbes = 2_000;

async function* probed(
  ctx: TenantContext,
  request: TrainingSetRequest & { pairs: StagedPair[] },
  span: ProbeSpan | null,
): AsyncGenerator<PointInTimeRow[]> {
  const { pairs } = request;
  const probes = pairs.length * request.features.length;
  const perRoundTrip = pairsPerRoundTrip(request.features);
  const chunk =
    probes < minSplitProbes ? perRoundTrip : Math.min(perRoundTrip, Math.ceil(pairs.length / probesInFlight));
  // Embeddings make answers big: a chunk over Neon's 10 MB is read again in halves.
  const read = (start: number) =>
    readSplittingOnTooLarge(pairs.slice(start, start + chunk), (part) => probePairs(ctx, request, part, span));
  const inFlight: Promise<PointInTimeRow[]>[] = [];
  let next = 0;
  const launch = () => {
    while (inFlight.length < probesInFlight && next < pairs.length) {
      const started = read(next);
      // Seen when its turn comes; one left behind by an earlier failure must not be "unhandled".
      started.catch(() => {});
      inFlight.push(started);
      next += chunk;
    }
  };
  launch();
  while (inFlight.length) {
    const rows = await inFlight.shift()!;
    launch();
    yield rows;
  }
}

/** Below this many probes the span's own round trip costs more than it saves. */
const spanMinProbes = 500;

/** The ProbeSpan of pairs held in memory, worth a round trip for enough probes only. */
async function spanOf(request: TrainingSetRequest & { pairs: StagedPair[] }, run: RunQuery) {
  if (request.pairs.length * request.features.length < spanMinProbes) return null;
  const latestMs = Math.max(...request.pairs.map((p) => Date.parse(p.timestamp)));
  return probeSpanFrom(await run(probeSpanQuery(request, latestMs)));
}

/** One probe round trip: the rows of `pairs`, in their order. */
async function probePairs(
  ctx: TenantContext,
  request: TrainingSetRequest,
  pairs: readonly StagedPair[],
  span: ProbeSpan | null,
): Promise<PointInTimeRow[]> {
  const text = probeRowsQuery(request, span, pairsFromArrays(5));
  const values = [request.entityType, ...featureArrays(request.features), !request.asOfIngestion, ...pairArrays(pairs)];
  // JIT compilation costs more than these index probes ever take.
  const [rows] = await withTenantSql(
    ctx.db,
    ctx.tenantId,
    (sql) => [sql.query(lineOf(request.features.length, text), values)],
    { readOnly: true, settings: { jit: "off" } },
  );
  return linesToRows(rows!, request.features.length);
}

/** Rows of `line`s (row-lines.ts), in their order. */
function linesToRows(rows: readonly Record<string, unknown>[], featureCount: number): PointInTimeRow[] {
  const ords = new Array<number>(rows.length);
  return rows.map((row, i) => rowOfLine(row.line as string, featureCount, ords, i));
}

/** The features' ids and versions as the statements' uuid[] and int[] parameters, in request order. */
export function featureArrays(features: readonly ServedFeature[]): [string, string] {
  return [`{${features.map((f) => f.id).join(",")}}`, `{${features.map((f) => f.version).join(",")}}`];
}

/** Pairs held in memory as three array parameters (ord, entity id, time) from $`first` on. */
function pairsFromArrays(first: number): string {
  return `SELECT * FROM unnest($${first}::int[], $${first + 1}::text[], $${first + 2}::timestamptz[]) AS p(ord, entity_id, ts)`;
}

function pairArrays(pairs: readonly StagedPair[]): [number[], string[], string[]] {
  return [pairs.map((_, i) => i), pairs.map((p) => p.entityId), pairs.map((p) => p.timestamp)];
}
