// Point-in-time probes bounded by the run of monthly partitions (probe.ts, migration 0017):
// the same answers as every partition read, whether the bounds apply (no value before the
// run) or must not (a value in the DEFAULT partition, older than any partition).
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { createTenant, ownerSql } from "#harness/stack.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { probeSpanFrom, probeSpanQuery } from "#shared/offline-store/probe.ts";
import { loadRegistryFeatures } from "#shared/registry/snapshot.ts";
import worker from "../index.ts";

const HOUR = 3_600_000;
/** Inside the partition the upkeep always keeps: the current month. */
const monthStart = (() => {
  const now = new Date();
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
})();
/** Half a year back: no partition there, so rows land in DEFAULT. */
const longAgo = monthStart - 180 * 24 * HOUR;
const entities = 40;
const pairCount = 600; // x 1 feature: enough probes for the bounds' own round trip

async function setUp() {
  const tenantId = await createTenant("partition span");
  const ctx = testTenantContext(tenantId);
  const { features } = await defineFeatures(ctx, [
    { name: "g", entityType: "user", features: [{ name: "n", dataType: "int64" }] },
  ]);
  return { tenantId, ctx, featureId: features.get("g.n")!.id };
}

/** Values at the start of the month, one an hour per entity, every third hour skipped. */
function history() {
  const rows: { entity: number; ms: number; value: number }[] = [];
  for (let e = 0; e < entities; e++)
    for (let h = 1; h < 40; h++)
      if ((e + h) % 3 !== 0) rows.push({ entity: e, ms: monthStart + h * HOUR, value: e * 1000 + h });
  return rows;
}

async function insert(tenantId: string, featureId: string, rows: { entity: number; ms: number; value: number }[]) {
  await ownerSql().query(
    `INSERT INTO ai_feature_values (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp, created_at)
     SELECT $1, $2, 'user', 'u' || r.e, to_jsonb(r.v), 'scalar', to_timestamp(r.ms / 1000.0), to_timestamp(r.ms / 1000.0)
     FROM jsonb_to_recordset($3::jsonb) AS r(e int, ms float8, v int)`,
    [tenantId, featureId, JSON.stringify(rows.map((r) => ({ e: r.entity, ms: r.ms, v: r.value })))],
  );
}

const pairs = Array.from({ length: pairCount }, (_, i) => ({
  entity: (i * 7) % entities,
  ms: monthStart + ((i * 37) % (42 * 60)) * 60_000, // minute by minute over the first 42 hours
}));

function reference(rows: { entity: number; ms: number; value: number }[]) {
  return pairs.map((p) => {
    const before = rows.filter((r) => r.entity === p.entity && r.ms <= p.ms).sort((a, b) => b.ms - a.ms)[0];
    return before ? before.value : null;
  });
}

async function span(ctx: ReturnType<typeof testTenantContext>, tenantId: string) {
  const features = await loadRegistryFeatures(ctx.db, tenantId);
  const query = probeSpanQuery(
    { entityType: "user", features, asOfIngestion: false },
    Math.max(...pairs.map((p) => p.ms)),
  );
  const [rows] = await withTenantSql(ctx.db, tenantId, (sql) => [sql.query(query.text, query.values)]);
  return probeSpanFrom(rows!);
}

async function answer(tenantId: string) {
  const response = await apiClient(worker)
    .as(tenantId, ["features:read"])
    .post("/v1/features/historical", {
      entityType: "user",
      entityTimestampPairs: pairs.map((p) => ({ entityId: `u${p.entity}`, timestamp: new Date(p.ms).toISOString() })),
      features: ["g.n"],
    });
  expect(response.status, JSON.stringify(response.body).slice(0, 300)).toBe(200);
  return response.body.rows.map((r: any) => r.features["g.n"]);
}

describe("point-in-time probes bounded by the partitions", () => {
  it("answers from the partitions' run when nothing is older, and reads DEFAULT too when something is", async () => {
    const { tenantId, ctx, featureId } = await setUp();
    const rows = history();
    await insert(tenantId, featureId, rows);
    // Bounded: the run holding this month, and nothing before it.
    expect(await span(ctx, tenantId)).toMatchObject({ lo: expect.any(String), hi: expect.any(String) });
    const bounded = await answer(tenantId);
    expect(bounded).toEqual(reference(rows));
    expect(bounded.filter((v: unknown) => v === null).length).toBeGreaterThan(0);

    // A value from half a year ago (DEFAULT partition): entities with nothing this month
    // before their pair's time must now get it, so the probes must not be bounded.
    const old = Array.from({ length: entities }, (_, e) => ({ entity: e, ms: longAgo, value: -(e + 1) }));
    await insert(tenantId, featureId, old);
    const [partition] = await ownerSql()`
      SELECT tableoid::regclass::text AS name FROM ai_feature_values
      WHERE tenant_id = ${tenantId} AND event_timestamp = ${new Date(longAgo).toISOString()} LIMIT 1`;
    expect(partition!.name).toBe("ai_feature_values_default");
    expect(await span(ctx, tenantId)).toBeNull();
    const unbounded = await answer(tenantId);
    expect(unbounded).toEqual(reference([...rows, ...old]));
    expect(unbounded.filter((v: unknown) => v === null)).toEqual([]);
  });
});
