// Point-in-time rows for large requests in one sort-merge pass instead of one index probe
// per (pair, feature): the requests and the requested entities' history are merged in
// (feature, entity, time) order and each request takes the last value before it
// (last observation carried forward). One scan of the history however many pairs there
// are; the answer is read through a server-side cursor over the Neon WebSocket driver, a
// page at a time, so the worker's memory stays flat.
import { Pool } from "@neondatabase/serverless";
import type { PointInTimeRow, TimedPair } from "./point-in-time.ts";
import type { ServedFeature } from "./registry/snapshot.ts";
import type { TenantContext } from "./tenant-context.ts";

const pageRows = 20_000;

// kind 0 (a value) sorts before kind 1 (a request) at the same instant: a value whose
// event_timestamp equals the request time counts (event_timestamp <= t).
const mergeQuery = `
  WITH req AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(ord int, entity_id text, ts timestamptz)
  ), feat AS (
    SELECT unnest($2::uuid[]) AS feature_id
  ), ents AS MATERIALIZED (
    SELECT DISTINCT entity_id FROM req
  ), events AS (
    SELECT f.feature_id, r.entity_id, r.ts AS t, 1 AS kind, r.ord, NULL::jsonb AS value, NULL::timestamptz AS ev
    FROM req r CROSS JOIN feat f
    UNION ALL
    SELECT v.feature_id, v.entity_id, v.event_timestamp, 0, NULL, v.value, v.event_timestamp
    FROM ai_feature_values v JOIN ents e ON e.entity_id = v.entity_id
    WHERE v.entity_type = $3 AND v.feature_id = ANY ($2::uuid[])
      AND v.event_timestamp <= (SELECT max(ts) FROM req)
  ), marked AS (
    SELECT *, count(ev) OVER (PARTITION BY feature_id, entity_id ORDER BY t, kind ROWS UNBOUNDED PRECEDING) AS grp
    FROM events
  ), carried AS (
    SELECT kind, ord, feature_id,
           first_value(value) OVER w AS value, first_value(ev) OVER w AS ev
    FROM marked
    WINDOW w AS (PARTITION BY feature_id, entity_id, grp ORDER BY t, kind)
  )
  SELECT ord, feature_id, value::text AS value, (extract(epoch FROM ev) * 1000)::bigint AS event_ms
  FROM carried WHERE kind = 1 AND ev IS NOT NULL
  ORDER BY ord`;

export async function* readPointInTimeMerged(
  ctx: TenantContext,
  request: { entityType: string; features: ServedFeature[]; pairs: TimedPair[] },
): AsyncGenerator<PointInTimeRow[]> {
  const featureOrder = new Map(request.features.map((f, i) => [f.id, i]));
  const pool = new Pool({ connectionString: ctx.env.DATABASE_URL });
  pool.on("error", (error: Error) => console.error("point-in-time pool error", error.message));
  const client = await pool.connect();
  let open = false;
  try {
    await client.query("BEGIN READ ONLY");
    open = true;
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [ctx.tenantId]);
    await client.query("SET LOCAL jit = off");
    await client.query("SET LOCAL work_mem = '64MB'");
    const pairsJson = JSON.stringify(
      request.pairs.map((p, i) => ({ ord: i, entity_id: p.entityId, ts: p.timestamp.toISOString() })),
    );
    await client.query(`DECLARE training NO SCROLL CURSOR FOR ${mergeQuery}`, [
      pairsJson,
      `{${request.features.map((f) => f.id).join(",")}}`,
      request.entityType,
    ]);
    const row = (ord: number): PointInTimeRow => ({
      entityId: request.pairs[ord]!.entityId,
      timestamp: request.pairs[ord]!.timestamp,
      cells: request.features.map(() => null),
    });
    let next = 0; // the next ord not yet emitted
    let current: PointInTimeRow | null = null;
    for (;;) {
      const page = await client.query({ text: `FETCH ${pageRows} FROM training`, rowMode: "array" });
      const out: PointInTimeRow[] = [];
      for (const [ordText, featureId, value, eventMs] of page.rows as [number | string, string, string, string][]) {
        const ord = Number(ordText);
        if (!current || ord !== next - 1) {
          if (current) out.push(current);
          // Rows between the last hit and this one had no value at all.
          while (next < ord) out.push(row(next++));
          current = row(next++);
        }
        current.cells[featureOrder.get(featureId)!] = { value: JSON.parse(value), eventMs: Number(eventMs) };
      }
      if (page.rows.length < pageRows) {
        if (current) out.push(current);
        while (next < request.pairs.length) out.push(row(next++));
        if (out.length) yield out;
        break;
      }
      if (out.length) yield out;
    }
    await client.query("COMMIT");
    open = false;
  } finally {
    if (open) await client.query("ROLLBACK").catch(() => {});
    client.release();
    await pool.end();
  }
}
