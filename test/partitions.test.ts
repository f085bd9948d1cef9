// The offline store's partitions: a row in a month with no partition is kept (default
// partition), read back, and moved into its month's partition by upkeep.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appDatabase, createTenant, ownerSql } from "#harness/stack.ts";
import { withTenantSql } from "#shared/db/tenant.ts";

let tenantId: string;
const featureId = crypto.randomUUID();
// A month no other test touches and no migration created: somewhere in 2200-2999.
const year = 2200 + Math.floor(Math.random() * 800);
const partitionName = `ai_feature_values_y${year}m05`;
// 23:30 on April 30th at UTC-5 is already May 1st in UTC: the row belongs to May.
const eventTime = `${year}-04-30T23:30:00-05:00`;

async function readBack() {
  const [rows] = await withTenantSql(appDatabase(), tenantId, (sql) => [
    sql`SELECT entity_id, value, partition_key::text AS partition_key, event_timestamp, feature_version, ingest_seq
        FROM ai_feature_values WHERE feature_id = ${featureId} ORDER BY entity_id, ingest_seq`,
  ]);
  return rows!;
}

async function whereIsIt(): Promise<string[]> {
  const owner = ownerSql();
  const rows =
    await owner`SELECT tableoid::regclass::text AS part FROM ai_feature_values WHERE feature_id = ${featureId}`;
  return rows.map((r) => r.part as string);
}

beforeAll(async () => {
  tenantId = await createTenant("partitions");
});

afterAll(async () => {
  await ownerSql().query(`DROP TABLE IF EXISTS ${partitionName}`);
});

describe("offline store partitions", () => {
  it("stores a row whose month has no partition in the default partition, keyed by its UTC date", async () => {
    const [inserted] = await withTenantSql(appDatabase(), tenantId, (sql) => [
      sql`INSERT INTO ai_feature_values (tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp)
          VALUES (${tenantId}, ${featureId}, 'user', 'u-1', '{"n": 1}', 'scalar', ${eventTime}) RETURNING id`,
    ]);
    expect(inserted).toHaveLength(1);
    expect(await whereIsIt()).toEqual(["ai_feature_values_default"]);
    const rows = await readBack();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.value).toEqual({ n: 1 });
    expect(rows[0]!.partition_key).toBe(`${year}-05-01`);
  });

  it("keeps a restatement of the same (feature version, entity, event time) beside the first value, ingested later", async () => {
    const [again] = await withTenantSql(appDatabase(), tenantId, (sql) => [
      sql`INSERT INTO ai_feature_values
            (tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type, event_timestamp)
          VALUES (${tenantId}, ${featureId}, 2, 'user', 'u-1', '{"n": 2}', 'scalar', ${eventTime}) RETURNING id`,
    ]);
    expect(again).toHaveLength(1);
    const rows = await readBack();
    expect(rows.map((r) => r.value)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(Number(rows[1]!.ingest_seq)).toBeGreaterThan(Number(rows[0]!.ingest_seq));
  });

  it("moves default-partition rows into the month's partition when upkeep creates it, idempotently", async () => {
    const before = await readBack();
    const [created] = await withTenantSql(appDatabase(), tenantId, (sql) => [
      sql`SELECT create_feature_partition(0, ${`${year}-05-15T00:00:00Z`}) AS name`,
    ]);
    expect(created!.map((r) => r.name)).toEqual([partitionName]);
    expect(await whereIsIt()).toEqual([partitionName, partitionName]);
    const rows = await readBack();
    // Every column moves along: the version and the ingestion order decide what reads answer.
    expect(rows.map((r) => [r.value, r.feature_version])).toEqual([
      [{ n: 1 }, 1],
      [{ n: 2 }, 2],
    ]);
    expect(rows.map((r) => r.ingest_seq)).toEqual(before.map((r) => r.ingest_seq));

    const [second] = await withTenantSql(appDatabase(), tenantId, (sql) => [
      sql`SELECT create_feature_partition(0, ${`${year}-05-15T00:00:00Z`}) AS name`,
    ]);
    expect(second).toEqual([]);
    expect(await readBack()).toHaveLength(2);
  });

  it("prunes partitions for a time-bounded query", async () => {
    const [plan] = await withTenantSql(appDatabase(), tenantId, (sql) => [
      sql`EXPLAIN (FORMAT JSON) SELECT * FROM ai_feature_values
          WHERE event_timestamp >= ${`${year}-05-01T00:00:00Z`} AND event_timestamp < ${`${year}-06-01T00:00:00Z`}`,
    ]);
    const text = JSON.stringify(plan);
    expect(text).toContain(partitionName);
    expect(text).not.toContain("ai_feature_values_default");
    expect(text).not.toMatch(/ai_feature_values_y20[0-9]{2}m/);
  });
});
