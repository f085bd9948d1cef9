import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { apiClient, detailPaths, expectError } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { createTenant, ownerSql } from "#harness/stack.ts";
import { updateFeature } from "#shared/registry/features.ts";
import worker from "../index.ts";

const api = apiClient(worker);
/** The same worker with the sort-merge strategy for every request (normally from 20,000 pairs on). */
const merging = apiClient(worker, { PIT_MERGE_THRESHOLD: "1" });
const MINUTE = 60_000;
const T0 = Date.UTC(2031, 2, 1, 12, 0, 0);
const at = (minutes: number) => new Date(T0 + minutes * MINUTE);
/**
 * g has a 5-minute TTL (TTL boundaries fall on whole minutes); h has none. g.count has a
 * staged version 2 (float64): `g.count` reads version 1, `g.count@v2` version 2.
 */
const featureNames = ["g.count", "g.score", "h.label", "g.count@v2"] as const;
const ttlMinutes = [5, 5, null, 5];
/** The feature and version each name reads. */
const slots = [
  { feature: 0, version: 1 },
  { feature: 1, version: 1 },
  { feature: 2, version: 1 },
  { feature: 0, version: 2 },
];

interface HistoryRow {
  tenant: 0 | 1;
  /** A slot of featureNames: 3 is version 2 of feature 0. */
  feature: 0 | 1 | 2 | 3;
  entity: number;
  eventMinute: number;
  /** Ingested this many minutes after the event: rows that arrive late. */
  lateBy: number;
  value: number;
}

async function tenantWithFeatures() {
  const tenantId = await createTenant("pit");
  const ctx = testTenantContext(tenantId);
  const { features } = await defineFeatures(ctx, [
    {
      name: "g",
      entityType: "user",
      ttlSeconds: 300,
      features: [
        { name: "count", dataType: "int64" },
        { name: "score", dataType: "float64" },
      ],
    },
    { name: "h", entityType: "user", features: [{ name: "label", dataType: "string" }] },
  ]);
  await updateFeature(ctx, "g.count", { dataType: "float64", promote: false });
  return { tenantId, ids: ["g.count", "g.score", "h.label"].map((n) => features.get(n)!.id) };
}

function storedValue(feature: number, value: number): unknown {
  return feature === 0 ? value : feature === 1 ? value / 4 : feature === 2 ? `label,"${value}"` : value / 2;
}

/**
 * History in ingestion order (created_at, then the order given): the store numbers rows as
 * they are inserted, and a later ingestion of the same event time is a restatement.
 */
function ingestionOrder(history: HistoryRow[]): HistoryRow[] {
  return history
    .map((h, i) => ({ h, i }))
    .sort((a, b) => a.h.eventMinute + a.h.lateBy - (b.h.eventMinute + b.h.lateBy) || a.i - b.i)
    .map((x) => x.h);
}

async function insertHistory(tenants: { tenantId: string; ids: string[] }[], history: HistoryRow[]) {
  const rows = ingestionOrder(history).map((h, ord) => ({
    ord,
    tenant_id: tenants[h.tenant]!.tenantId,
    feature_id: tenants[h.tenant]!.ids[slots[h.feature]!.feature],
    feature_version: slots[h.feature]!.version,
    entity_id: `u${h.entity}`,
    value: storedValue(h.feature, h.value),
    event_timestamp: at(h.eventMinute).toISOString(),
    created_at: at(h.eventMinute + h.lateBy).toISOString(),
  }));
  const owner = ownerSql();
  await owner`INSERT INTO ai_feature_values (tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type, event_timestamp, created_at)
              SELECT tenant_id, feature_id, feature_version, 'user', entity_id, value, 'scalar', event_timestamp, created_at
              FROM (SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
                AS r(ord int, tenant_id uuid, feature_id uuid, feature_version int, entity_id text, value jsonb,
                     event_timestamp timestamptz, created_at timestamptz) ORDER BY ord) AS ordered`;
}

/** The answer, written plainly: scan every row of the history. */
function reference(history: HistoryRow[], pairs: { entity: number; minute: number }[], asOfIngestion: boolean) {
  const ingested = ingestionOrder(history);
  return pairs.map((p) => {
    const row = {
      entityId: `u${p.entity}`,
      timestamp: at(p.minute).toISOString(),
      features: {} as Record<string, unknown>,
      eventTimestamps: {} as Record<string, string | null>,
      statuses: {} as Record<string, string>,
    };
    featureNames.forEach((name, f) => {
      // The newest event time, and of its restatements the latest ingested (by then).
      let best: HistoryRow | null = null;
      for (const h of ingested) {
        if (h.tenant !== 0 || h.feature !== f || h.entity !== p.entity) continue;
        if (h.eventMinute > p.minute) continue;
        if (asOfIngestion && h.eventMinute + h.lateBy > p.minute) continue;
        if (!best || h.eventMinute >= best.eventMinute) best = h;
      }
      const ttl = ttlMinutes[f];
      const expired = best !== null && ttl !== null && p.minute - best.eventMinute > ttl!;
      row.statuses[name] = !best ? "NOT_FOUND" : expired ? "EXPIRED" : "PRESENT";
      row.features[name] = best && !expired ? storedValue(f, best.value) : null;
      row.eventTimestamps[name] = best && !expired ? at(best.eventMinute).toISOString() : null;
    });
    return row;
  });
}

function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = "";
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      record.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i++;
    } else field += ch;
  }
  return records;
}

const historyArbitrary = fc
  .array(
    fc.record({
      tenant: fc.constantFrom(0 as const, 1 as const),
      feature: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
      entity: fc.integer({ min: 0, max: 3 }),
      eventMinute: fc.integer({ min: 0, max: 30 }),
      lateBy: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 })),
      value: fc.integer({ min: -1000, max: 1000 }),
    }),
    { maxLength: 60 },
  )
  // Restatements: some rows are written again for the same event time, later, with another value.
  .chain((rows) =>
    fc
      .array(
        fc.record({
          of: fc.nat({ max: Math.max(0, rows.length - 1) }),
          later: fc.integer({ min: 0, max: 15 }),
          value: fc.integer({ min: -1000, max: 1000 }),
        }),
        { maxLength: rows.length ? 15 : 0 },
      )
      .map((restatements) => [
        ...rows,
        ...restatements.map((r) => ({ ...rows[r.of]!, lateBy: rows[r.of]!.lateBy + r.later, value: r.value })),
      ]),
  );

const pairsArbitrary = fc.array(
  fc.record({ entity: fc.integer({ min: 0, max: 4 }), minute: fc.integer({ min: -2, max: 45 }) }),
  {
    minLength: 1,
    maxLength: 25,
  },
);

describe("historical: point-in-time correctness", () => {
  it("matches a brute-force reference, row for row, in JSON, NDJSON and CSV (restatements, late rows, versions)", async () => {
    await fc.assert(
      fc.asyncProperty(
        historyArbitrary,
        pairsArbitrary,
        fc.boolean(),
        fc.boolean(),
        async (history, pairs, asOfIngestion, mergeAll) => {
          const tenants = [await tenantWithFeatures(), await tenantWithFeatures()];
          if (history.length) await insertHistory(tenants, history);
          const client = (mergeAll ? merging : api).as(tenants[0]!.tenantId, ["features:read"]);
          const body = {
            entityType: "user",
            entityTimestampPairs: pairs.map((p) => ({
              entityId: `u${p.entity}`,
              timestamp: at(p.minute).toISOString(),
            })),
            features: [...featureNames],
            asOfIngestion,
          };
          const expected = reference(history, pairs, asOfIngestion);

          const json = await client.post("/v1/features/historical", body);
          expect(json.status, JSON.stringify(json.body).slice(0, 300)).toBe(200);
          expect(json.body.rows).toEqual(expected);
          expect(json.body.metadata.source).toBe("offline");

          const ndjson = await client.call("/v1/features/historical", {
            method: "POST",
            body,
            headers: { accept: "application/x-ndjson" },
          });
          expect(ndjson.headers.get("content-type")).toMatch(/ndjson/);
          const lines = ndjson.text
            .trimEnd()
            .split("\n")
            .map((l) => JSON.parse(l));
          expect(lines).toEqual(expected);

          const csv = await client.call("/v1/features/historical", {
            method: "POST",
            body,
            headers: { accept: "text/csv" },
          });
          const records = parseCsv(csv.text);
          expect(records[0]).toEqual(["entity_id", "timestamp", ...featureNames]);
          expect(records.slice(1)).toEqual(
            expected.map((r) => [
              r.entityId,
              r.timestamp,
              ...featureNames.map((n) =>
                r.features[n] === null
                  ? ""
                  : typeof r.features[n] === "string"
                    ? (r.features[n] as string)
                    : JSON.stringify(r.features[n]),
              ),
            ]),
          );
        },
      ),
      { numRuns: 20, seed: 20261125 },
    );
  });

  it.each([
    ["probing", api],
    ["sort-merge", merging],
  ])(
    "answers the latest restatement of an event time, and what was known then with asOfIngestion (%s)",
    async (_label, client) => {
      const t = await tenantWithFeatures();
      await insertHistory(
        [t, t],
        [
          { tenant: 0, feature: 0, entity: 0, eventMinute: 5, lateBy: 0, value: 1 },
          { tenant: 0, feature: 0, entity: 0, eventMinute: 5, lateBy: 3, value: 7 },
          { tenant: 0, feature: 0, entity: 0, eventMinute: 5, lateBy: 4, value: 8 },
          { tenant: 0, feature: 3, entity: 0, eventMinute: 5, lateBy: 0, value: 10 },
        ],
      );
      const ask = (asOfIngestion: boolean) =>
        client.as(t.tenantId, ["features:read"]).post("/v1/features/historical", {
          entityType: "user",
          entityTimestampPairs: [5, 6, 8, 9].map((m) => ({ entityId: "u0", timestamp: at(m).toISOString() })),
          features: ["g.count", "g.count@v2"],
          asOfIngestion,
        });
      const now = await ask(false);
      expect(now.body.rows.map((row: any) => row.features["g.count"])).toEqual([8, 8, 8, 8]);
      expect(now.body.rows.map((row: any) => row.features["g.count@v2"])).toEqual([5, 5, 5, 5]);
      const then = await ask(true);
      expect(then.body.rows.map((row: any) => row.features["g.count"])).toEqual([1, 1, 7, 8]);
    },
  );

  it.each([
    ["probing", api],
    ["sort-merge", merging],
  ])("counts a value whose event time equals the request time (%s)", async (_label, client) => {
    const t = await tenantWithFeatures();
    await insertHistory(
      [t, t],
      [
        { tenant: 0, feature: 0, entity: 0, eventMinute: 5, lateBy: 0, value: 1 },
        { tenant: 0, feature: 0, entity: 0, eventMinute: 9, lateBy: 0, value: 2 },
      ],
    );
    const r = await client.as(t.tenantId, ["features:read"]).post("/v1/features/historical", {
      entityType: "user",
      entityTimestampPairs: [4, 5, 8, 9, 9].map((m) => ({ entityId: "u0", timestamp: at(m).toISOString() })),
      features: ["g.count"],
    });
    expect(r.body.rows.map((row: any) => row.features["g.count"])).toEqual([null, 1, 1, 2, 2]);
  });

  it.each([
    ["probing", api],
    ["sort-merge", merging],
  ])("answers embeddings next to scalar features (%s)", async (_label, client) => {
    // Pushes refuse future event times; T0 is in the future.
    const past = (minutes: number) => new Date(Date.UTC(2026, 0, 1) + minutes * MINUTE);
    const tenantId = await createTenant("pit embeddings");
    await defineFeatures(testTenantContext(tenantId), [
      {
        name: "m",
        entityType: "message",
        features: [
          { name: "vec", dataType: "embedding", embeddingDimension: 3 },
          { name: "len", dataType: "int64" },
        ],
      },
    ]);
    const caller = client.as(tenantId, ["features:read", "features:write"]);
    const push = await caller.post("/v1/features/push", {
      entityType: "message",
      rows: [
        { entityId: "m1", eventTimestamp: past(1).toISOString(), features: { vec: [1, 0, 0], len: 3 } },
        { entityId: "m1", eventTimestamp: past(5).toISOString(), features: { vec: [0, 0.5, 0.25], len: 4 } },
      ],
    });
    expect(push.body.accepted, JSON.stringify(push.body)).toBe(2);
    const request = {
      entityType: "message",
      entityTimestampPairs: [0, 1, 4, 5, 9].map((m) => ({ entityId: "m1", timestamp: past(m).toISOString() })),
      features: ["m.vec", "m.len"],
    };
    const expected = [
      [null, null],
      [[1, 0, 0], 3],
      [[1, 0, 0], 3],
      [[0, 0.5, 0.25], 4],
      [[0, 0.5, 0.25], 4],
    ];
    const json = await caller.post("/v1/features/historical", request);
    expect(json.body.rows.map((r: any) => [r.features["m.vec"], r.features["m.len"]])).toEqual(expected);
    const ndjson = await caller.call("/v1/features/historical", {
      method: "POST",
      body: request,
      headers: { accept: "application/x-ndjson" },
    });
    const lines = ndjson.text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((r) => [r.features["m.vec"], r.features["m.len"]])).toEqual(expected);
  });

  it.each([
    ["application/x-ndjson;q=0.5, text/csv", "text/csv"],
    ["text/csv;q=0, application/json", "application/json"],
    ["application/json;q=0.1, application/x-ndjson;q=0.9", "application/x-ndjson"],
    ["text/*", "text/csv"],
    ["*/*", "application/json"],
    ["image/png", "application/json"],
  ])("chooses the answer's form by Accept with q-values: %s", async (accept, contentType) => {
    const t = await tenantWithFeatures();
    const r = await api.as(t.tenantId, ["features:read"]).call("/v1/features/historical", {
      method: "POST",
      body: {
        entityType: "user",
        entityTimestampPairs: [{ entityId: "u0", timestamp: at(1).toISOString() }],
        features: ["g.count"],
      },
      headers: { accept },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain(contentType);
  });

  it("streams large NDJSON answers in request order", async () => {
    const t = await tenantWithFeatures();
    await insertHistory([t, t], [{ tenant: 0, feature: 2, entity: 1, eventMinute: 0, lateBy: 0, value: 7 }]);
    const pairs = Array.from({ length: 25_000 }, (_, i) => ({
      entityId: `u${i % 3}`,
      timestamp: at(i % 2).toISOString(),
    }));
    const r = await api.as(t.tenantId, ["features:read"]).call("/v1/features/historical", {
      method: "POST",
      body: { entityType: "user", entityTimestampPairs: pairs, features: ["h.label"] },
      headers: { accept: "application/x-ndjson" },
    });
    expect(r.status).toBe(200);
    const lines = r.text.trimEnd().split("\n");
    expect(lines).toHaveLength(25_000);
    expect(JSON.parse(lines[1]!).features["h.label"]).toBe('label,"7"');
    expect(JSON.parse(lines[24_999]!).entityId).toBe(`u${24_999 % 3}`);
  });
});

describe("historical: bad input and security", () => {
  const body = (extra: Record<string, unknown> = {}) => ({
    entityType: "user",
    entityTimestampPairs: [{ entityId: "u0", timestamp: at(0).toISOString() }],
    features: ["g.count"],
    ...extra,
  });
  /** JSON answers read a validated body; NDJSON and CSV answers read it as a stream. */
  const answerForms = [
    ["JSON", {}],
    ["NDJSON", { accept: "application/x-ndjson" }],
    ["CSV", { accept: "text/csv" }],
  ] as const;
  const cases = [
    ["zero pairs", { entityTimestampPairs: [] }, "entityTimestampPairs"],
    [
      "an invalid timestamp",
      { entityTimestampPairs: [{ entityId: "u", timestamp: "31/02/2031" }] },
      "entityTimestampPairs.0.timestamp",
    ],
    [
      "a timestamp in year 0000",
      { entityTimestampPairs: [{ entityId: "u", timestamp: "0000-06-01T00:00:00Z" }] },
      "entityTimestampPairs.0.timestamp",
    ],
    [
      "a timestamp without offset",
      { entityTimestampPairs: [{ entityId: "u", timestamp: "2031-03-01T00:00:00" }] },
      "entityTimestampPairs.0.timestamp",
    ],
    [
      "a bad pair after good ones",
      {
        entityTimestampPairs: [
          ...Array.from({ length: 7_000 }, () => ({ entityId: "u", timestamp: at(0).toISOString() })),
          { entityId: "u", timestamp: at(0).toISOString(), extra: 1 },
        ],
      },
      "entityTimestampPairs.7000",
    ],
    [
      "an empty entity id",
      { entityTimestampPairs: [{ entityId: "", timestamp: at(0).toISOString() }] },
      "entityTimestampPairs.0.entityId",
    ],
    ["pairs that are not a list", { entityTimestampPairs: { a: 1 } }, "entityTimestampPairs"],
    ["no pairs at all", { entityTimestampPairs: undefined }, "entityTimestampPairs"],
    ["no features", { features: [] }, "features"],
    ["an unknown field", { window: 3 }, "(root)"],
  ] as const;

  it.each(
    answerForms.flatMap(([form, headers]) =>
      cases.map(([label, extra, path]) => [form, label, headers, extra, path] as const),
    ),
  )("%s: rejects %s with 400", async (_form, _label, headers, extra, path) => {
    const t = await tenantWithFeatures();
    const r = await api
      .as(t.tenantId, ["features:read"])
      .call("/v1/features/historical", { method: "POST", body: body(extra), headers });
    expectError(r, 400, "VALIDATION_FAILED");
    expect(detailPaths(r)).toContain(path);
  });

  it.each(answerForms)(
    "%s: rejects malformed JSON, a body that is not JSON, and unknown features",
    async (_form, headers) => {
      const t = await tenantWithFeatures();
      const client = api.as(t.tenantId, ["features:read"]);
      const raw = (rawBody: string, contentType = "application/json") =>
        client.call("/v1/features/historical", {
          method: "POST",
          rawBody,
          headers: { ...headers, "content-type": contentType },
        });
      const malformed = await raw('{"entityType":"user","entityTimestampPairs":[{"entityId":"u0",');
      expect(malformed.status).toBe(400);
      expect(["BAD_REQUEST", "VALIDATION_FAILED"]).toContain(malformed.body.error.code);
      expectError(await raw("entityType=user", "application/x-www-form-urlencoded"), 415, "UNSUPPORTED_MEDIA_TYPE");
      expect((await raw("[1, 2]")).status).toBe(400);
      expectError(
        await client.call("/v1/features/historical", { method: "POST", body: body({ features: ["g.nope"] }), headers }),
        400,
        "UNKNOWN_FEATURE",
      );
    },
  );

  it("rejects more than 10,000 pairs as JSON, and streams them as NDJSON", async () => {
    const t = await tenantWithFeatures();
    const client = api.as(t.tenantId, ["features:read"]);
    const pairs = Array.from({ length: 10_001 }, () => ({ entityId: "u", timestamp: at(0).toISOString() }));
    expectError(
      await client.post("/v1/features/historical", body({ entityTimestampPairs: pairs })),
      413,
      "PAYLOAD_TOO_LARGE",
    );
    const streamed = await client.call("/v1/features/historical", {
      method: "POST",
      body: body({ entityTimestampPairs: pairs }),
      headers: { accept: "application/x-ndjson" },
    });
    expect(streamed.status).toBe(200);
    expect(streamed.text.trimEnd().split("\n")).toHaveLength(10_001);
  });

  it.each(answerForms)(
    "%s: requires features:read and never shows another tenant's history",
    async (_form, headers) => {
      const [a, b] = [await tenantWithFeatures(), await tenantWithFeatures()];
      await insertHistory([a, b], [{ tenant: 1, feature: 0, entity: 0, eventMinute: 0, lateBy: 0, value: 5 }]);
      const post = (client: { call: typeof api.call } | ReturnType<typeof api.as>) =>
        client.call("/v1/features/historical", { method: "POST", body: body(), headers });
      expectError(await post(api), 401, "UNAUTHORIZED");
      expectError(await post(api.as(a.tenantId, ["features:write"])), 403, "FORBIDDEN");
      const firstRow = (r: Awaited<ReturnType<typeof post>>) => {
        expect(r.status, r.text.slice(0, 300)).toBe(200);
        if (r.body?.rows) return [r.body.rows[0].statuses["g.count"], r.body.rows[0].features["g.count"]];
        if (r.headers.get("content-type")?.includes("csv")) {
          const value = parseCsv(r.text)[1]![2];
          return [value === "" ? "NOT_FOUND" : "PRESENT", value === "" ? null : Number(value)];
        }
        const row = JSON.parse(r.text.split("\n")[0]!);
        return [row.statuses["g.count"], row.features["g.count"]];
      };
      expect(firstRow(await post(api.as(a.tenantId, ["features:read"])))).toEqual(["NOT_FOUND", null]);
      expect(firstRow(await post(api.as(b.tenantId, ["features:read"])))).toEqual(["PRESENT", 5]);
    },
  );
});

describe("batch: every value in a range", () => {
  it("returns rows by entity and time, paginated, this tenant only", async () => {
    const t = await tenantWithFeatures();
    const other = await tenantWithFeatures();
    const history: HistoryRow[] = [];
    for (const entity of [0, 1])
      for (const minute of [1, 2, 3])
        history.push({ tenant: 0, feature: 0, entity, eventMinute: minute, lateBy: 0, value: entity * 10 + minute });
    history.push({ tenant: 0, feature: 2, entity: 0, eventMinute: 2, lateBy: 0, value: 9 });
    history.push({ tenant: 1, feature: 0, entity: 0, eventMinute: 2, lateBy: 0, value: 999 });
    await insertHistory([t, other], history);
    const client = api.as(t.tenantId, ["features:read"]);
    const request = {
      entityType: "user",
      entityIds: ["u1", "u0"],
      features: ["g.count", "h.label"],
      startTime: at(2).toISOString(),
      endTime: at(4).toISOString(),
      limit: 3,
    };
    const first = await client.post("/v1/features/batch", request);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.rows).toEqual([
      { entityId: "u0", eventTimestamp: at(2).toISOString(), features: { "g.count": 2, "h.label": 'label,"9"' } },
      { entityId: "u0", eventTimestamp: at(3).toISOString(), features: { "g.count": 3 } },
      { entityId: "u1", eventTimestamp: at(2).toISOString(), features: { "g.count": 12 } },
    ]);
    const second = await client.post("/v1/features/batch", { ...request, cursor: first.body.metadata.nextCursor });
    expect(second.body.rows).toEqual([
      { entityId: "u1", eventTimestamp: at(3).toISOString(), features: { "g.count": 13 } },
    ]);
    expect(second.body.metadata.nextCursor).toBeNull();
    expectError(
      await client.post("/v1/features/batch", { ...request, startTime: at(5).toISOString() }),
      400,
      "VALIDATION_FAILED",
    );
    expectError(await client.post("/v1/features/batch", { ...request, cursor: "bad" }), 400, "INVALID_CURSOR");
    expectError(await api.as(t.tenantId, ["features:write"]).post("/v1/features/batch", request), 403, "FORBIDDEN");
  });
});
