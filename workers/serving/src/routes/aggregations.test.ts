// Aggregated stream features (DESIGN.md, "Source types mean what they say"): random event
// streams (late, duplicated, restated, moved, at window and interval edges) for every
// aggregation and several windows; the online read (from Redis tiles and from Postgres), the
// training set at many times and a plain fold of the events by the documented rule agree.
import fc from "fast-check";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { apiClient, expectError } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { isoFromMs } from "#shared/features/iso-time.ts";
import { computeFeatureStats } from "#shared/registry/stats.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const fromPostgres = apiClient(worker, { UPSTASH_REDIS_REST_URL: inject("stalledUrl"), REDIS_TIMEOUT_MS: "50" });

type Aggregation = "sum" | "avg" | "count" | "min" | "max" | "first" | "last";
const aggregations: Aggregation[] = ["sum", "avg", "count", "min", "max", "first", "last"];
/** Window sizes and intervals (seconds): a short one, none, a fine-grained one. */
const windows = [
  { suffix: "2m", sizeSeconds: 120, intervalSeconds: 60 },
  { suffix: "all", sizeSeconds: null, intervalSeconds: 60 },
  { suffix: "30s", sizeSeconds: 30, intervalSeconds: 10 },
];
const features = aggregations.flatMap((aggregation) =>
  windows.map((w) => ({ name: `${aggregation}_${w.suffix}`, aggregation, ...w })),
);
const names = features.map((f) => `agg.${f.name}`);

interface SentEvent {
  eventId: string | null;
  ms: number;
  value: number;
}

/** The plain fold: each event's current value (its last change), then the window at t. */
function expectedAt(events: SentEvent[], feature: (typeof features)[number], tMs: number) {
  const current = new Map<string, { ms: number; value: number; order: number }>();
  events.forEach((e, order) => {
    const key = e.eventId === null ? `t${e.ms}` : `i${e.eventId}`;
    const previous = current.get(key);
    if (previous && previous.ms === e.ms && previous.value === e.value) return; // a duplicate changes nothing
    current.set(key, { ms: e.ms, value: e.value, order });
  });
  const step = feature.intervalSeconds * 1000;
  const end = Math.floor(tMs / step) * step;
  const inWindow = [...current.values()]
    .filter((e) => e.ms <= end && (feature.sizeSeconds === null || e.ms > end - feature.sizeSeconds * 1000))
    .sort((a, b) => a.ms - b.ms || a.order - b.order);
  const values = inWindow.map((e) => e.value);
  const sum = values.reduce((a, b) => a + b, 0);
  if (values.length === 0) return feature.aggregation === "count" || feature.aggregation === "sum" ? 0 : null;
  return {
    count: values.length,
    sum,
    avg: sum / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
    first: values[0],
    last: values.at(-1),
  }[feature.aggregation];
}

let tenantId: string;
let serial = 0;
/** How the online reads through Redis were served: most must be folds of Redis tiles. */
const servedFrom: string[] = [];

beforeAll(async () => {
  const ctx = testTenantContext();
  tenantId = ctx.tenantId;
  await defineFeatures(ctx, [
    {
      name: "agg",
      entityType: "user",
      features: features.map((f) => ({
        name: f.name,
        dataType: "float64" as const,
        sourceType: "stream" as const,
        aggregationType: f.aggregation,
        windowSizeSeconds: f.sizeSeconds,
        aggregationIntervalSeconds: f.intervalSeconds,
      })),
    },
  ]);
});

describe("stream window aggregations", () => {
  it("online (Redis and Postgres) = historical = a plain fold, for random event streams", async () => {
    const base = Math.floor(Date.now() / 60_000) * 60_000;
    // Times around the last boundaries: on them, a microsecond either side, or anywhere in
    // the last 6 minutes (some outside every online window: late events).
    const time = fc.oneof(
      fc
        .tuple(fc.integer({ min: -36, max: 0 }), fc.constantFrom(-0.001, 0, 0.001))
        .map(([k, d]) => base + k * 10_000 + d),
      fc.integer({ min: -360_000, max: 0 }).map((d) => base + d),
    );
    const event = fc.record({
      eventId: fc.option(fc.constantFrom("a", "b", "c", "d"), { nil: null, freq: 2 }),
      ms: time,
      value: fc.integer({ min: -400, max: 400 }).map((n) => n / 4),
    });
    const stream = fc
      .array(fc.oneof({ weight: 5, arbitrary: event }, { weight: 1, arbitrary: fc.constant("repeat" as const) }), {
        minLength: 1,
        maxLength: 14,
      })
      .chain((items) => fc.tuple(fc.constant(items), fc.array(fc.integer({ min: 0, max: 13 }), { maxLength: 3 })));

    await fc.assert(
      fc.asyncProperty(stream, async ([items, cuts]) => {
        const entityId = `u${serial++}`;
        // "repeat": the previous event sent again (a duplicate delivery).
        const events: SentEvent[] = [];
        for (const item of items) {
          if (item === "repeat") {
            if (events.length) events.push({ ...events.at(-1)! });
          } else events.push(item);
        }
        const boundaries = [...new Set([0, ...cuts.filter((c) => c < events.length), events.length])].sort(
          (a, b) => a - b,
        );
        // Read first, so the tiles are complete in Redis before the pushes: pushes then update them.
        await api.as(tenantId).post("/v1/features/online", { entityType: "user", entityId, features: names });
        const sent: SentEvent[] = [];
        const checkOnline = async (client: typeof api) => {
          const before = Date.now();
          const read = await client
            .as(tenantId)
            .post("/v1/features/online", { entityType: "user", entityId, features: names });
          const after = Date.now();
          expect(read.status, read.text).toBe(200);
          if (client === api) servedFrom.push(read.body.metadata.servedFrom);
          for (const f of features) {
            const got = read.body.features[`agg.${f.name}`];
            const candidates = [expectedAt(sent, f, before), expectedAt(sent, f, after)];
            const label = `${f.name} via ${read.body.metadata.servedFrom}: ${JSON.stringify(sent)}`;
            expect(candidates, label).toContainEqual(got);
            expect(read.body.statuses[`agg.${f.name}`], label).toBe(got === null ? "NOT_FOUND" : "PRESENT");
          }
        };
        for (let i = 1; i < boundaries.length; i++) {
          const batch = events.slice(boundaries[i - 1], boundaries[i]);
          const rows = batch.map((e) => ({
            entityId,
            eventTimestamp: isoFromMs(e.ms),
            ...(e.eventId === null ? {} : { eventId: e.eventId }),
            features: Object.fromEntries(features.map((f) => [`agg.${f.name}`, e.value])),
          }));
          if (rows.length === 0) continue;
          const push = await api.as(tenantId).post("/v1/features/push", { entityType: "user", rows });
          expect(push.status, push.text).toBe(200);
          expect(push.body.rejected).toBe(0);
          sent.push(...batch);
          // Read after every push (twice: the second answers from the kept fold), so a fold
          // kept by one read must be dropped by the next push.
          await checkOnline(api);
          await checkOnline(api);
        }
        await checkOnline(fromPostgres);

        const times = [base, base - 1, base + 1, base - 10_000, base - 60_000.001, base - 95_000, base - 400_000];
        const historical = await api.as(tenantId).post("/v1/features/historical", {
          entityType: "user",
          entityTimestampPairs: times.map((t) => ({ entityId, timestamp: isoFromMs(t) })),
          features: names,
        });
        expect(historical.status, historical.text).toBe(200);
        historical.body.rows.forEach((row: any, i: number) => {
          for (const f of features) {
            expect(
              row.features[`agg.${f.name}`],
              `${f.name} at ${isoFromMs(times[i]!)}: ${JSON.stringify(events)}`,
            ).toEqual(expectedAt(events, f, times[i]!));
          }
        });
        // asOfIngestion folds the events themselves (each ingested by then): the same answers.
        const nowMs = Date.now();
        const asOf = await api.as(tenantId).post("/v1/features/historical", {
          entityType: "user",
          entityTimestampPairs: [{ entityId, timestamp: isoFromMs(nowMs) }],
          features: names,
          asOfIngestion: true,
        });
        expect(asOf.status, asOf.text).toBe(200);
        for (const f of features) {
          expect(
            asOf.body.rows[0].features[`agg.${f.name}`],
            `${f.name} asOfIngestion: ${JSON.stringify(events)}`,
          ).toEqual(expectedAt(events, f, nowMs));
        }
      }),
      { numRuns: 25, seed: 4242 },
    );
    expect(servedFrom.filter((s) => s === "redis").length).toBeGreaterThan(servedFrom.length / 2);
  });

  it("counts an event once per id, and answers 0 for count and sum over nothing, NOT_FOUND for the others", async () => {
    const entityId = `u${serial++}`;
    const t = isoFromMs(Date.now() - 120_000);
    const row = { entityId, eventTimestamp: t, eventId: "m1", features: { "agg.count_all": 1, "agg.sum_all": 2 } };
    const first = await api.as(tenantId).post("/v1/features/push", { entityType: "user", rows: [row, row] });
    expect(first.body).toMatchObject({ accepted: 2, offlineInserted: 2, unchanged: 2 });
    const again = await api.as(tenantId).post("/v1/features/push", { entityType: "user", rows: [row] });
    expect(again.body).toMatchObject({ offlineInserted: 0, unchanged: 2 });
    const read = await api.as(tenantId).post("/v1/features/online", {
      entityType: "user",
      entityIds: [entityId, `${entityId}-none`],
      features: ["agg.count_all", "agg.sum_all", "agg.avg_all", "agg.last_2m"],
    });
    expect(read.body.results[0].features).toEqual({
      "agg.count_all": 1,
      "agg.sum_all": 2,
      "agg.avg_all": null,
      "agg.last_2m": null,
    });
    expect(read.body.results[0].timestamps["agg.count_all"]).toBe(t);
    expect(read.body.results[1].features).toEqual({
      "agg.count_all": 0,
      "agg.sum_all": 0,
      "agg.avg_all": null,
      "agg.last_2m": null,
    });
    expect(read.body.results[1].statuses).toMatchObject({ "agg.count_all": "PRESENT", "agg.avg_all": "NOT_FOUND" });
    expect(read.body.results[1].timestamps["agg.count_all"]).toBeNull();
  });

  it("refuses a null event, and a window that is not whole intervals", async () => {
    const push = await api.as(tenantId).post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId: "n", eventTimestamp: new Date().toISOString(), features: { "agg.sum_all": null } }],
    });
    expect(push.body.errors[0].reasons[0].reason).toMatch(/needs a value/);
    const ctx = testTenantContext();
    await expect(
      defineFeatures(ctx, [
        {
          name: "bad",
          entityType: "user",
          features: [
            {
              name: "w",
              dataType: "int64",
              aggregationType: "count",
              windowSizeSeconds: 90,
              aggregationIntervalSeconds: 60,
            },
          ],
        },
      ]),
    ).rejects.toThrow(/not consistent/);
  });

  it("keeps another tenant's events out of the aggregate", async () => {
    const entityId = `shared-${serial++}`;
    const other = testTenantContext();
    await defineFeatures(other, [
      {
        name: "agg",
        entityType: "user",
        features: [{ name: "count_all", dataType: "int64", aggregationType: "count" }],
      },
    ]);
    await api.as(other.tenantId).post("/v1/features/push", {
      entityType: "user",
      rows: [{ entityId, eventTimestamp: isoFromMs(Date.now() - 70_000), features: { "agg.count_all": 1 } }],
    });
    const mine = await api
      .as(tenantId)
      .post("/v1/features/online", { entityType: "user", entityId, features: ["agg.count_all"] });
    expect(mine.body.features["agg.count_all"]).toBe(0);
    const theirs = await api
      .as(other.tenantId)
      .post("/v1/features/online", { entityType: "user", entityId, features: ["agg.count_all"] });
    expect(theirs.body.features["agg.count_all"]).toBe(1);
    expectError(
      await api.as(tenantId).post("/v1/features/push", {
        entityType: "user",
        rows: [{ entityId, eventTimestamp: isoFromMs(Date.now()), eventId: "", features: { "agg.count_all": 1 } }],
      }),
      400,
      "VALIDATION_FAILED",
    );
  });

  it("answers windows of several groups beside plain features, entity by entity, from Redis and Postgres", async () => {
    const ctx = testTenantContext();
    await defineFeatures(ctx, [
      { name: "a", entityType: "user", features: [{ name: "n", dataType: "int64", aggregationType: "count" }] },
      {
        name: "b",
        entityType: "user",
        features: [
          { name: "s", dataType: "float64", aggregationType: "sum", windowSizeSeconds: 600 },
          { name: "plain", dataType: "string" },
          { name: "m", dataType: "float64", aggregationType: "max" },
        ],
      },
    ]);
    const at = Date.now() - 120_000;
    const rows = [0, 1, 2].flatMap((e) =>
      Array.from({ length: e + 1 }, (_, k) => ({
        entityId: `x${e}`,
        eventTimestamp: isoFromMs(at - k * 1000),
        features: { "a.n": 1, "b.s": e + k, "b.m": 10 * e - k },
      })),
    );
    rows.push({ entityId: "x1", eventTimestamp: isoFromMs(at), features: { "b.plain": "p1" } } as any);
    await api.as(ctx.tenantId).post("/v1/features/online", {
      entityType: "user",
      entityIds: ["x0", "x1", "x2"],
      features: ["a.n", "b.s", "b.m"],
    });
    expect((await api.as(ctx.tenantId).post("/v1/features/push", { entityType: "user", rows })).body.rejected).toBe(0);
    const request = { entityType: "user", entityIds: ["x2", "x0", "x1"], features: ["b.m", "b.plain", "a.n", "b.s"] };
    for (const client of [api, api, fromPostgres]) {
      const read = await client.as(ctx.tenantId).post("/v1/features/online", request);
      expect(read.body.results.map((r: any) => r.features)).toEqual([
        { "b.m": 20, "b.plain": null, "a.n": 3, "b.s": 2 + 3 + 4 },
        { "b.m": 0, "b.plain": null, "a.n": 1, "b.s": 0 },
        { "b.m": 10, "b.plain": "p1", "a.n": 2, "b.s": 1 + 2 },
      ]);
    }
  });

  it("gives stats of the current events: each id at one time counts, a moved event once", async () => {
    const ctx = testTenantContext();
    const { features: defined } = await defineFeatures(ctx, [
      { name: "s", entityType: "user", features: [{ name: "v", dataType: "float64", aggregationType: "sum" }] },
    ]);
    const t = Date.now() - 600_000;
    const event = (eventId: string, ms: number, v: number) => ({
      entityId: "e",
      eventId,
      eventTimestamp: isoFromMs(ms),
      features: { "s.v": v },
    });
    await api.as(ctx.tenantId).post("/v1/features/push", {
      entityType: "user",
      rows: [event("a", t, 1), event("b", t, 2), event("c", t + 1000, 3)],
    });
    // c moves: its old time keeps a retraction, which is no value.
    await api.as(ctx.tenantId).post("/v1/features/push", { entityType: "user", rows: [event("c", t + 2000, 3)] });
    const feature = defined.get("s.v")!;
    const stats = await computeFeatureStats(ctx, { id: feature.id, version: 1 }, new Date(t - 1000), new Date());
    expect(stats).toMatchObject({ count: 3, nullRate: 0, mean: 2, min: 1, max: 3 });
  });

  it("answers the same aggregates in JSON, NDJSON and CSV training sets, empty windows included", async () => {
    const entityId = `f${serial++}`;
    const at = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
    await api.as(tenantId).post("/v1/features/push", {
      entityType: "user",
      rows: [1, 2].map((k) => ({
        entityId,
        eventTimestamp: isoFromMs(at + k * 1000),
        features: { "agg.sum_all": k / 4 },
      })),
    });
    const body = {
      entityType: "user",
      entityTimestampPairs: [
        { entityId, timestamp: isoFromMs(at) },
        { entityId, timestamp: isoFromMs(at + 60_000) },
      ],
      features: ["agg.count_all", "agg.avg_all"],
    };
    // count_all has no events for this entity (only sum_all was pushed): 0 with no time.
    const json = await api.as(tenantId).post("/v1/features/historical", body);
    expect(json.body.rows.map((r: any) => [r.features, r.statuses, r.eventTimestamps])).toEqual([
      [
        { "agg.count_all": 0, "agg.avg_all": null },
        { "agg.count_all": "PRESENT", "agg.avg_all": "NOT_FOUND" },
        { "agg.count_all": null, "agg.avg_all": null },
      ],
      [
        { "agg.count_all": 0, "agg.avg_all": null },
        { "agg.count_all": "PRESENT", "agg.avg_all": "NOT_FOUND" },
        { "agg.count_all": null, "agg.avg_all": null },
      ],
    ]);
    const ndjson = await api.as(tenantId).call("/v1/features/historical", {
      method: "POST",
      body,
      headers: { accept: "application/x-ndjson" },
    });
    expect(
      ndjson.text
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual(json.body.rows);
    const csv = await api.as(tenantId).call("/v1/features/historical", {
      method: "POST",
      body: { ...body, features: ["agg.sum_all", "agg.count_all", "agg.avg_all"] },
      headers: { accept: "text/csv" },
    });
    expect(
      csv.text
        .trimEnd()
        .split("\r\n")
        .map((line) => line.split(",").slice(2)),
    ).toEqual([
      ["agg.sum_all", "agg.count_all", "agg.avg_all"],
      ["0", "0", ""],
      ["0.75", "0", ""],
    ]);
  });
});
