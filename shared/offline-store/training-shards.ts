// A streamed training set spread over several Postgres sessions, each with its share of the
// entities: their statements run at once, on as many backends (a cursor never runs in
// parallel inside Postgres), and their answers, each in request order, are merged back into
// request order a page at a time. Entities, not pairs, are shared out, so each session reads
// its own part of the history in a one-pass read (merge.ts) and its probes stay local.
import type { TenantContext } from "#shared/db/tenant.ts";
import { type OrderedPage, TrainingSession } from "./training-session.ts";
import type { PointInTimeRow, PointInTimeStrategy, StagedPair, TrainingSetRequest } from "./types.ts";

/** Rows per page handed on, as one session's FETCH gives them. */
const pageRows = 2_000;

/** FNV-1a of the entity id: which session holds it. */
function shardOf(entityId: string, count: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < entityId.length; i++) {
    hash ^= entityId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % count;
}

export class TrainingShards {
  private staged = 0;

  private constructor(private readonly sessions: TrainingSession[]) {}

  /** `count` sessions as the context's tenant, opened at once; none left open on failure. */
  static async open(ctx: TenantContext, count: number): Promise<TrainingShards> {
    const opened = await Promise.allSettled(Array.from({ length: count }, () => TrainingSession.open(ctx)));
    const sessions = opened.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    const failed = opened.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (failed) {
      await Promise.allSettled(sessions.map((s) => s.close()));
      throw failed.reason;
    }
    return new TrainingShards(sessions);
  }

  /** Appends pairs in request order, each to the session of its entity. */
  async stage(pairs: readonly StagedPair[]): Promise<void> {
    const count = this.sessions.length;
    const parts = this.sessions.map(() => ({ pairs: [] as StagedPair[], ords: [] as number[] }));
    pairs.forEach((pair, i) => {
      const part = parts[count === 1 ? 0 : shardOf(pair.entityId, count)]!;
      part.pairs.push(pair);
      part.ords.push(this.staged + i);
    });
    this.staged += pairs.length;
    await Promise.all(this.sessions.map((s, k) => s.stage(parts[k]!.pairs, parts[k]!.ords)));
  }

  /** The answer in request order, a page at a time, merged from every session's. */
  async *rows(request: TrainingSetRequest, strategy: PointInTimeStrategy): AsyncGenerator<PointInTimeRow[]> {
    if (this.sessions.length === 1) {
      yield* this.sessions[0]!.rows(request, strategy);
      return;
    }
    const sources = this.sessions.map((s) => new PageSource(s.pages(request, strategy)));
    try {
      // Every session's statement starts now: the first FETCH runs it whole.
      for (const source of sources) source.prefetch();
      let next = 0;
      let out: PointInTimeRow[] = [];
      for (;;) {
        let found = false;
        for (const source of sources) {
          const row = await source.take(next);
          if (row) {
            out.push(row);
            next++;
            found = true;
            if (out.length === pageRows) {
              yield out;
              out = [];
            }
            break;
          }
        }
        if (!found) break;
      }
      if (out.length) yield out;
      if (next !== this.staged) throw new Error(`training set merged ${next} of ${this.staged} rows`);
    } finally {
      await Promise.allSettled(sources.map((s) => s.stop()));
    }
  }

  /** Ends every session's transaction (nothing in them is kept) and connection. */
  async close(): Promise<void> {
    await Promise.allSettled(this.sessions.map((s) => s.close()));
  }
}

/** One session's pages, read one ahead so its next FETCH runs while the others are merged. */
class PageSource {
  private page: OrderedPage | null = null;
  private at = 0;
  private pending: Promise<IteratorResult<OrderedPage>> | null = null;
  private done = false;

  constructor(private readonly pages: AsyncGenerator<OrderedPage>) {}

  prefetch(): void {
    if (this.done || this.pending) return;
    this.pending = this.pages.next();
    // Seen when taken; a source left behind by a failure elsewhere must not be "unhandled".
    this.pending.catch(() => {});
  }

  /** The row whose request position is `ord` if it is this source's next, else null. */
  async take(ord: number): Promise<PointInTimeRow | null> {
    if (!this.page || this.at === this.page.rows.length) {
      if (this.done) return null;
      this.prefetch();
      const result = await this.pending!;
      this.pending = null;
      if (result.done) {
        this.done = true;
        this.page = null;
        return null;
      }
      this.page = result.value;
      this.at = 0;
      this.prefetch();
    }
    if (this.page.ords[this.at] !== ord) return null;
    return this.page.rows[this.at++]!;
  }

  async stop(): Promise<void> {
    await this.pending?.catch(() => {});
    await this.pages.return(undefined);
  }
}
