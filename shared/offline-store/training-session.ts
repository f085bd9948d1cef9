// One Postgres session for a large training set, over the Neon WebSocket driver: the
// request's pairs are staged in a temporary table a batch at a time, and the answer is
// read back through a server-side cursor a page at a time. The worker then holds one
// batch or one page, never the request or the answer, however many pairs there are.
import { localSettingsStatement, type TenantContext, TenantSession } from "#shared/db/tenant.ts";
import { mergeQuery, mergeSettings } from "./merge.ts";
import { featureArrays } from "./point-in-time.ts";
import { probeRowsQuery, probeSpanFrom, probeSpanQuery } from "./probe.ts";
import { lineOf, rowOfLine } from "./row-lines.ts";
import type { PointInTimeRow, PointInTimeStrategy, StagedPair, TrainingSetRequest } from "./types.ts";

/** Rows per FETCH: small pages keep the peak low; the round trips cost little next to the query. */
const pageRows = 2_000;

/** Rows of an answer with their positions in the request. */
export interface OrderedPage {
  ords: number[];
  rows: PointInTimeRow[];
}

export class TrainingSession {
  private staged = 0;
  /** The latest requested time staged, in epoch milliseconds (probes are bounded by it). */
  private latestMs = Number.NEGATIVE_INFINITY;

  private constructor(private readonly session: TenantSession) {}

  private get client() {
    return this.session.client;
  }

  /** BEGIN as the token's tenant (RLS), with an empty `training_pairs` that goes at the end. */
  static async open(ctx: TenantContext): Promise<TrainingSession> {
    const session = await TenantSession.open(ctx);
    try {
      // JIT costs more than it saves on these plans; the window sort wants memory.
      await session.client.query(
        `SET LOCAL jit = off; SET LOCAL work_mem = '64MB';
         CREATE TEMP TABLE training_pairs (ord int NOT NULL, entity_id text NOT NULL, ts timestamptz NOT NULL) ON COMMIT DROP`,
      );
    } catch (error) {
      await session.close();
      throw error;
    }
    return new TrainingSession(session);
  }

  /**
   * Appends pairs; each one's position in the request (its row in the answer) is `ords[i]`, or
   * by default the next ones after those staged so far.
   */
  async stage(pairs: readonly StagedPair[], ords?: readonly number[]): Promise<void> {
    if (pairs.length === 0) return;
    // Arrays, not a JSON document: fewer bytes to send and half Postgres's time to read them
    // (5,000 pairs: 5 ms vs 10 ms).
    await this.client.query(
      "INSERT INTO training_pairs SELECT * FROM unnest($1::int[], $2::text[], $3::timestamptz[])",
      [ords ?? pairs.map((_, i) => this.staged + i), pairs.map((p) => p.entityId), pairs.map((p) => p.timestamp)],
    );
    this.staged += pairs.length;
    for (const p of pairs) this.latestMs = Math.max(this.latestMs, Date.parse(p.timestamp));
  }

  /**
   * The answer in request order, a page at a time: one pass over the staged pairs and their
   * entities' history (merge), or one index probe per pair and feature (probe), through a
   * cursor either way.
   */
  async *rows(request: TrainingSetRequest, strategy: PointInTimeStrategy): AsyncGenerator<PointInTimeRow[]> {
    for await (const page of this.pages(request, strategy)) yield page.rows;
  }

  /** rows(), each page with the request positions (ords) of its rows. */
  async *pages(request: TrainingSetRequest, strategy: PointInTimeStrategy): AsyncGenerator<OrderedPage> {
    // Row estimates for the planner: without them it takes the table for a few hundred rows.
    await this.client.query("ANALYZE training_pairs");
    const features = featureArrays(request.features);
    if (strategy === "merge") {
      const settings = localSettingsStatement(mergeSettings);
      await this.client.query(settings.text, settings.params);
      yield* this.paged(request, mergeQuery(request.features), [request.entityType, ...features]);
    } else {
      const text = probeRowsQuery(request, await this.span(request));
      yield* this.paged(request, text, [request.entityType, ...features, !request.asOfIngestion]);
    }
  }

  /** The ProbeSpan of the staged pairs (null when nothing is staged or probes must read every partition). */
  private async span(request: TrainingSetRequest) {
    if (!this.staged) return null;
    const query = probeSpanQuery(request, this.latestMs);
    return probeSpanFrom((await this.client.query(query.text, query.values)).rows);
  }

  /**
   * The rows of a statement shaped (ord, entity_id, ts_ms, v<i>, m<i>...), FETCHed a page at a
   * time. Each row travels as one text (lineOf): part of the driver's cost is per column
   * (100,000 rows of 10 features: 23 columns arrived in 1.45 s, one in 1.2 s).
   */
  private async *paged(request: TrainingSetRequest, text: string, values: unknown[]): AsyncGenerator<OrderedPage> {
    await this.client.query(`DECLARE training NO SCROLL CURSOR FOR ${lineOf(request.features.length, text)}`, values);
    const featureCount = request.features.length;
    for (;;) {
      const page = await this.client.query({ text: `FETCH ${pageRows} FROM training`, rowMode: "array" });
      const ords = new Array<number>(page.rows.length);
      const rows = page.rows.map((columns: string[], i: number) => rowOfLine(columns[0]!, featureCount, ords, i));
      if (rows.length) yield { ords, rows };
      if (page.rows.length < pageRows) break;
    }
    await this.client.query("CLOSE training");
  }

  /** Ends the transaction (nothing in it is kept) and the connection. */
  close(): Promise<void> {
    return this.session.close();
  }
}
