// Values as they were at a point in time, from the offline store: for each (feature,
// entity), the row with the latest event_timestamp <= t. Small requests probe the lookup
// index over HTTP; large ones are staged in a TrainingSession and read in one sort-merge pass.
import { readSplittingOnTooLarge } from "#shared/db/pg-errors.ts";
import { type TenantContext, withTenantSql } from "#shared/db/tenant.ts";
import {
  collectProbeRows,
  type ProbeSpan,
  pairsPerProbe,
  probeQueries,
  probeSpanFrom,
  probeSpanQuery,
} from "./probe.ts";
import { TrainingSession } from "./training-session.ts";
import type { PointInTimeRow, PointInTimeStrategy, StagedPair, TrainingSetRequest } from "./types.ts";

/** Pairs per INSERT when staging. */
export const stageBatchPairs = 5_000;

/**
 * From this many pairs on, one sort-merge pass beats a probe per (pair, feature). Measured
 * with probes bounded by the partitions (probe.ts), 10 features, by
 * bench/point-in-time.bench.ts and EXPLAIN ANALYZE: 10,000 pairs on a 5,000,000-row history
 * 2.8 s probed vs 6.7 s merged; on a 200,000-row history 1.7 s vs 1.6 s; 5,000 pairs
 * 0.85 s vs 0.9 s. Probes win wherever the history is large next to the request.
 */
export const defaultMergeThreshold = 20_000;

/**
 * How a training set of `pairCount` pairs is read. asOfIngestion filters each request's
 * candidates by its own time, which a single carry-forward pass cannot do: it always probes,
 * as do aggregated features.
 */
export function strategyFor(
  request: TrainingSetRequest,
  pairCount: number,
  mergeThreshold: number,
): PointInTimeStrategy {
  // Aggregates fold a window per pair: they are probed too (probe.ts).
  const windowed = request.features.some((f) => f.window);
  return !request.asOfIngestion && !windowed && pairCount >= mergeThreshold ? "merge" : "probe";
}

/**
 * Point-in-time rows for pairs held in memory (the JSON route, online reads with a
 * timestamp), in request order (duplicates kept), one chunk per Postgres round trip.
 */
export async function* readPointInTime(
  ctx: TenantContext,
  request: TrainingSetRequest & { pairs: StagedPair[] },
  options: { mergeThreshold?: number } = {},
): AsyncGenerator<PointInTimeRow[]> {
  if (strategyFor(request, request.pairs.length, options.mergeThreshold ?? defaultMergeThreshold) === "merge") {
    const session = await TrainingSession.open(ctx);
    try {
      for (let start = 0; start < request.pairs.length; start += stageBatchPairs)
        await session.stage(request.pairs.slice(start, start + stageBatchPairs));
      yield* session.rows(request, "merge");
    } finally {
      await session.close();
    }
    return;
  }
  const chunk = pairsPerProbe(request.features.length);
  const span = await spanOf(ctx, request);
  for (let start = 0; start < request.pairs.length; start += chunk) {
    // Embeddings make answers big: a chunk over Neon's 10 MB is read again in halves.
    yield await readSplittingOnTooLarge(request.pairs.slice(start, start + chunk), (pairs) =>
      probePairs(ctx, request, pairs, span),
    );
  }
}

/** Below this many probes the span's own round trip costs more than it saves. */
const spanMinProbes = 500;

/** The ProbeSpan of pairs held in memory, worth a round trip for enough probes only. */
async function spanOf(ctx: TenantContext, request: TrainingSetRequest & { pairs: StagedPair[] }) {
  if (request.pairs.length * request.features.length < spanMinProbes) return null;
  const latestMs = Math.max(...request.pairs.map((p) => Date.parse(p.timestamp)));
  const query = probeSpanQuery(request, latestMs);
  const [rows] = await withTenantSql(ctx.db, ctx.tenantId, (sql) => [sql.query(query.text, query.values)], {
    readOnly: true,
  });
  return probeSpanFrom(rows!);
}

/** One probe round trip: the rows of `pairs`, in their order. */
async function probePairs(
  ctx: TenantContext,
  request: TrainingSetRequest,
  pairs: readonly StagedPair[],
  span: ProbeSpan | null,
): Promise<PointInTimeRow[]> {
  const pairsJson = JSON.stringify(pairs.map((p, i) => ({ ord: i, entity_id: p.entityId, ts: p.timestamp })));
  const queries = probeQueries(
    request,
    "SELECT * FROM jsonb_to_recordset($6::jsonb) AS r(ord int, entity_id text, ts timestamptz)",
    span,
  );
  // JIT compilation costs more than these index probes ever take.
  const [, ...results] = await withTenantSql(
    ctx.db,
    ctx.tenantId,
    (sql) => [sql`SET LOCAL jit = off`, ...queries.map((q) => sql.query(q.text, [...q.values, pairsJson]))],
    { readOnly: true },
  );
  return collectProbeRows(pairs.length, request.features.length, results);
}
