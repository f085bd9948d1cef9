// Stream window aggregations (DESIGN.md, "Source types mean what they say"), each against its
// floor in the same run:
//  * a warm online read of 100 entities x 10 windowed features (1 h / 24 h / 7 d) against the
//    plain online read of the same shape (10 plain features): one Redis round trip each;
//  * pushes of aggregated events against plain pushes of the same shape;
//  * training-set aggregates (100k pairs over 5M events) against a plain SQL window-function
//    query on the same data (RANGE frames), answers identical.
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { ownerSql } from "#harness/stack.ts";
import { signToken } from "#harness/tokens.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { tileColumnsSql, tileSql } from "#shared/features/aggregates-sql.ts";
import { findGroup } from "#shared/registry/groups.ts";
import worker from "../workers/serving/src/index.ts";
import { forEachNdjsonRow } from "./ndjson.ts";
import { interleaved, percentile, report } from "./stats.ts";

const quick = Boolean(env.BENCH_QUICK);
const noop = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;

const windowed = [
  { name: "count_1h", aggregationType: "count", windowSizeSeconds: 3600 },
  { name: "sum_1h", aggregationType: "sum", windowSizeSeconds: 3600 },
  { name: "avg_1h", aggregationType: "avg", windowSizeSeconds: 3600 },
  { name: "count_24h", aggregationType: "count", windowSizeSeconds: 86_400 },
  { name: "sum_24h", aggregationType: "sum", windowSizeSeconds: 86_400 },
  { name: "max_24h", aggregationType: "max", windowSizeSeconds: 86_400 },
  { name: "count_7d", aggregationType: "count", windowSizeSeconds: 604_800 },
  { name: "sum_7d", aggregationType: "sum", windowSizeSeconds: 604_800 },
  { name: "min_7d", aggregationType: "min", windowSizeSeconds: 604_800 },
  { name: "last_7d", aggregationType: "last", windowSizeSeconds: 604_800 },
] as const;

function post(token: string, path: string, body: unknown) {
  const text = JSON.stringify(body);
  return worker.fetch(
    new Request(`http://serving${path}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "content-length": String(text.length),
      },
      body: text,
    }),
    env,
    noop,
  );
}

it("windowed online reads and aggregated pushes against plain ones", async () => {
  const ctx = testTenantContext();
  const plainNames = Array.from({ length: 10 }, (_, i) => `f${i}`);
  await defineFeatures(ctx, [
    { name: "plain", entityType: "user", features: plainNames.map((name) => ({ name, dataType: "float64" as const })) },
    {
      name: "win",
      entityType: "user",
      features: windowed.map((w) => ({
        name: w.name,
        dataType: "float64" as const,
        aggregationType: w.aggregationType,
        windowSizeSeconds: w.windowSizeSeconds,
      })),
    },
  ]);
  const ids = Array.from({ length: 100 }, (_, i) => `user-${i}`);
  const client = apiClient(worker).as(ctx.tenantId);
  const now = Date.now();
  // 30 events per entity over the last 7 days, to every windowed feature; one plain value each.
  const eventsPerEntity = 30;
  const rows = ids.flatMap((entityId, e) =>
    Array.from({ length: eventsPerEntity }, (_, k) => ({
      entityId,
      eventTimestamp: new Date(now - 60_000 - ((k * 7919 + e * 104_729) % 604_000) * 1000).toISOString(),
      eventId: `seed-${k}`,
      features: Object.fromEntries(windowed.map((w, j) => [`win.${w.name}`, ((k + j + e) % 97) / 4])),
    })),
  );
  for (let i = 0; i < rows.length; i += 1000) {
    const push = await client.post("/v1/features/push", { entityType: "user", rows: rows.slice(i, i + 1000) });
    expect(push.body.rejected, push.text).toBe(0);
  }
  await client.post("/v1/features/push", {
    entityType: "user",
    rows: ids.map((entityId, i) => ({
      entityId,
      eventTimestamp: new Date(now).toISOString(),
      features: Object.fromEntries(plainNames.map((n, j) => [`plain.${n}`, i + j / 100])),
    })),
  });
  const windowedRead = { entityType: "user", entityIds: ids, features: windowed.map((w) => `win.${w.name}`) };
  const plainRead = { entityType: "user", entityIds: ids, features: plainNames.map((n) => `plain.${n}`) };
  // The first reads fill the online store (the fill runs after the response).
  await client.post("/v1/features/online", windowedRead);
  await client.post("/v1/features/online", plainRead);

  const token = await signToken({
    tenantId: ctx.tenantId,
    scopes: ["features:read", "features:write"],
    expiresIn: 3600,
  });
  const warmRead = (body: unknown) => async () => {
    const response = await post(token, "/v1/features/online", body);
    const json = (await response.json()) as any;
    if (
      response.status !== 200 ||
      json.metadata.servedFrom !== "redis" ||
      response.headers.get("x-redis-round-trips") !== "1"
    )
      throw new Error(`not a warm one-round-trip read: ${JSON.stringify(json).slice(0, 300)}`);
  };
  await interleaved(20, warmRead(windowedRead), warmRead(plainRead));
  const iterations = quick ? 60 : 300;
  const reads = await interleaved(iterations, warmRead(windowedRead), warmRead(plainRead), 3);
  for (const [stat, p] of [
    ["p50", 50],
    ["p99", 99],
  ] as const) {
    report({
      name: `windowed_online_read_${stat}`,
      params: { entities: 100, features: 10, windows: "1h/24h/7d", eventsPerEntity, iterations },
      value: Math.round(percentile(reads.a, p) * 1000) / 1000,
      unit: "ms",
      floor: Math.round(percentile(reads.b, p) * 1000) / 1000,
      floorName:
        "the plain online read of the same shape (100 entities x 10 plain features), same run, one Redis round trip",
      extra: { redisRoundTrips: 1 },
    });
  }

  // Pushes: 100 rows (one per entity) x 10 features, fresh events each time.
  let serial = 0;
  const aggregatedPush = async () => {
    const n = serial++;
    const response = await post(token, "/v1/features/push", {
      entityType: "user",
      rows: ids.map((entityId, e) => ({
        entityId,
        eventTimestamp: new Date(Date.now() - 1000).toISOString(),
        eventId: `p${n}-${e}`,
        features: Object.fromEntries(windowed.map((w, j) => [`win.${w.name}`, (n + j) % 10])),
      })),
    });
    const json = (await response.json()) as any;
    if (json.offlineInserted !== 1000 || json.cache !== "written") throw new Error(JSON.stringify(json).slice(0, 300));
  };
  const plainPush = async () => {
    const n = serial++;
    const response = await post(token, "/v1/features/push", {
      entityType: "user",
      rows: ids.map((entityId) => ({
        entityId,
        eventTimestamp: new Date(Date.now() - 1000 + (n % 1000)).toISOString(),
        features: Object.fromEntries(plainNames.map((name, j) => [`plain.${name}`, n + j])),
      })),
    });
    const json = (await response.json()) as any;
    if (json.offlineInserted !== 1000) throw new Error(JSON.stringify(json).slice(0, 300));
  };
  await interleaved(5, aggregatedPush, plainPush);
  const pushes = await interleaved(quick ? 15 : 60, aggregatedPush, plainPush);
  const aggregatedMs = percentile(pushes.a, 50);
  const plainMs = percentile(pushes.b, 50);
  report({
    name: "aggregated_push_p50",
    params: { rows: 100, features: 10, valuesPerPush: 1000 },
    value: Math.round(aggregatedMs * 100) / 100,
    unit: "ms",
    floor: Math.round(plainMs * 100) / 100,
    floorName: "a plain push of the same shape (100 rows x 10 plain features), same run",
    extra: {
      aggregatedValuesPerSecond: Math.round(1000 / (aggregatedMs / 1000)),
      plainValuesPerSecond: Math.round(1000 / (plainMs / 1000)),
      throughputRatio: Math.round((plainMs / aggregatedMs) * 100) / 100,
    },
  });
});

// Training-set aggregates at scale: a fixed tenant whose generated events are kept between runs.
const events = quick ? 200_000 : 5_000_000;
const entities = quick ? 2_000 : 20_000;
const pairCount = quick ? 10_000 : 100_000;
const historyTenant = quick ? "00000000-0000-4000-8000-0000000a9001" : "00000000-0000-4000-8000-0000000a9005";
const monthStart = Date.UTC(2025, 0, 1);
const monthSeconds = 30 * 86_400;
const aggregates = [
  { name: "count_1d", aggregationType: "count", windowSizeSeconds: 86_400 },
  { name: "sum_7d", aggregationType: "sum", windowSizeSeconds: 604_800 },
] as const;

async function ensureEvents(): Promise<string[]> {
  const ctx = testTenantContext(historyTenant);
  const owner = ownerSql();
  await owner`INSERT INTO tenants (id, name) VALUES (${historyTenant}, 'bench aggregates') ON CONFLICT DO NOTHING`;
  if (!(await findGroup(ctx, "agg"))) {
    await defineFeatures(ctx, [
      {
        name: "agg",
        entityType: "user",
        features: aggregates.map((a) => ({
          name: a.name,
          dataType: "int64" as const,
          aggregationType: a.aggregationType,
          windowSizeSeconds: a.windowSizeSeconds,
        })),
      },
    ]);
  }
  const [features] = await withTenantSql(ctx.db, historyTenant, (sql) => [
    sql`SELECT d.id FROM ai_feature_definitions d JOIN ai_feature_groups g ON g.id = d.group_id
        WHERE g.name = 'agg' ORDER BY d.name`,
    sql`SELECT create_feature_partition(1, ${new Date(monthStart).toISOString()})`,
  ]);
  const ids = features!.map((f) => f.id as string); // count_1d, sum_7d
  const [count] = await owner`SELECT count(*)::int AS n FROM ai_feature_values WHERE tenant_id = ${historyTenant}`;
  const perEntity = events / entities / aggregates.length;
  const slot = Math.floor(monthSeconds / perEntity);
  const batch = 500_000;
  for (let from = Number(count!.n); from < events; from += batch) {
    const started = Date.now();
    // Event i: feature i % 2, entity (i / 2) % E, the k-th of its entity in its own time slot,
    // so no two events of an entity share a time (each counts once, no restatement).
    await owner.query(
      `INSERT INTO ai_feature_values (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp, created_at)
       SELECT $1, ($2::uuid[])[1 + (i % 2)], 'user', 'e' || ((i / 2) % ${entities}),
              to_jsonb((i * 7919) % 1000), 'scalar', t, t
       FROM generate_series($3::bigint, $4::bigint) AS i,
            LATERAL (SELECT to_timestamp(${monthStart / 1000} + (i / 2 / ${entities}) * ${slot} + ((i * 2654435761) % ${slot}))) AS ts(t)`,
      [historyTenant, `{${ids.join(",")}}`, from, Math.min(events, from + batch) - 1],
    );
    console.log(`events: ${Math.min(events, from + batch)} / ${events} (${Date.now() - started} ms)`);
  }
  // The tiles of the generated events, as writers keep them (a push adds to them, a unit
  // refolds them): built here in one pass, since the events were inserted directly.
  const [tiles] = await owner`SELECT count(*)::int AS n FROM ai_feature_tiles WHERE tenant_id = ${historyTenant}`;
  if (Number(tiles!.n) === 0) {
    // Three days at a time (whole tiles: (start, end] on minute boundaries), so no statement
    // runs into the client's timeout.
    const step = 3 * 86_400_000;
    for (let from = monthStart - 60_000; from < monthStart + monthSeconds * 1000; from += step) {
      const started = Date.now();
      await owner.query(
        `INSERT INTO ai_feature_tiles (tenant_id, feature_id, feature_version, entity_type, entity_id, tile, tile_end,
                                       n, sum, min, max, first_ms, first_seq, first_json, last_ms, last_seq, last_json, rev)
         SELECT e.tenant_id, e.feature_id, e.feature_version, e.entity_type, e.entity_id, e.tile, to_timestamp(e.tile * 60),
                ${tileColumnsSql("e")}, max(e.ingest_seq)
         FROM (SELECT v.*, ${tileSql("v.event_timestamp", "60")} AS tile FROM ai_feature_values v
               WHERE v.tenant_id = $1 AND v.event_timestamp > $2 AND v.event_timestamp <= $3) e
         GROUP BY e.tenant_id, e.feature_id, e.feature_version, e.entity_type, e.entity_id, e.tile`,
        [historyTenant, new Date(from).toISOString(), new Date(from + step).toISOString()],
      );
      console.log(`tiles: through ${new Date(from + step).toISOString()} (${Date.now() - started} ms)`);
    }
  }
  await owner.query("ANALYZE ai_feature_values");
  await owner.query("ANALYZE ai_feature_tiles");
  return ids;
}

/** The plain SQL reference: events and pairs in one RANGE-framed window pass per feature. */
async function reference(pairs: { entityId: string; timestamp: string }[], featureId: string, windowSeconds: number) {
  const ctx = testTenantContext(historyTenant);
  const json = JSON.stringify(pairs.map((p, i) => ({ ord: i, entity_id: p.entityId, ts: p.timestamp })));
  const [rows] = await withTenantSql(ctx.db, historyTenant, (sql) => [
    sql.query(
      `WITH pairs AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(ord int, entity_id text, ts timestamptz)),
       u AS (
         SELECT v.entity_id, v.event_timestamp AS t, 0 AS kind, NULL::int AS ord, (v.value #>> '{}')::float8 AS x
         FROM ai_feature_values v
         WHERE v.feature_id = $2 AND v.feature_version = 1 AND v.entity_type = 'user'
           AND v.entity_id IN (SELECT entity_id FROM pairs)
         UNION ALL
         SELECT entity_id, to_timestamp(floor(extract(epoch FROM ts) / 60) * 60), 1, ord, NULL FROM pairs
       ), framed AS (
         SELECT kind, ord, count(x) OVER w AS n, COALESCE(sum(x) OVER w, 0) AS s FROM u
         WINDOW w AS (PARTITION BY entity_id ORDER BY t RANGE BETWEEN $3::interval PRECEDING AND CURRENT ROW)
       )
       SELECT ord, n, s FROM framed WHERE kind = 1 ORDER BY ord`,
      // The window is (end - W, end]: a frame of W less one microsecond before the end.
      [json, featureId, `${windowSeconds - 0.000001} seconds`],
    ),
  ]);
  return rows!;
}

it("training-set aggregates: the historical route against a SQL window-function reference", async () => {
  const featureIds = await ensureEvents();
  const token = await signToken({ tenantId: historyTenant, scopes: ["features:read"], expiresIn: 3600 });
  let s = 7;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const pairs = Array.from({ length: pairCount }, () => ({
    entityId: `e${Math.floor(next() * entities)}`,
    timestamp: new Date(monthStart + Math.floor(next() * monthSeconds * 1000)).toISOString(),
  }));
  const names = aggregates.map((a) => `agg.${a.name}`);

  const started = performance.now();
  const response = await worker.fetch(
    new Request("http://serving/v1/features/historical", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/x-ndjson" },
      body: JSON.stringify({ entityType: "user", entityTimestampPairs: pairs, features: names }),
    }),
    env,
    noop,
  );
  expect(response.status).toBe(200);
  const answer: number[][] = [];
  await forEachNdjsonRow(response.body!, (row) => answer.push(names.map((n) => row.features[n])));
  const productMs = performance.now() - started;
  expect(answer).toHaveLength(pairCount);

  const referenceStarted = performance.now();
  const [counts, sums] = [
    await reference(pairs, featureIds[0]!, aggregates[0].windowSizeSeconds),
    await reference(pairs, featureIds[1]!, aggregates[1].windowSizeSeconds),
  ];
  const referenceMs = performance.now() - referenceStarted;
  // Identical answers, pair by pair.
  const expected = counts.map((c, i) => [Number(c.n), Number(sums[i]!.s)]);
  let mismatches = 0;
  answer.forEach((row, i) => {
    if (row[0] !== expected[i]![0] || row[1] !== expected[i]![1]) mismatches++;
  });
  expect(
    mismatches,
    `first: ${JSON.stringify(answer.find((r, i) => r[0] !== expected[i]![0] || r[1] !== expected[i]![1]))}`,
  ).toBe(0);
  const nonZero = answer.filter((r) => r[0]! > 0).length;
  expect(nonZero).toBeGreaterThan(pairCount / 2);
  report({
    name: "historical_aggregates_vs_sql_window",
    params: { pairs: pairCount, events, entities, features: "count 1d, sum 7d" },
    value: Math.round(productMs),
    unit: "ms",
    floor: Math.round(referenceMs),
    floorName:
      "a plain SQL window-function query (RANGE frame over events and pairs, one per feature), same data, same run",
    extra: { identicalAnswers: pairCount, pairsWithEvents: nonZero },
  });
});
