// Tenant bootstrap: the TIS TIS groups and features of the seed, created once. Safe to call
// again or concurrently: existing rows are kept (ON CONFLICT DO NOTHING) and reported.
import { sql } from "drizzle-orm";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import { invalidateRegistryCache } from "./cache.ts";
import { ensureTenantRow } from "./groups.ts";
import { TISTIS_GROUPS } from "./tistis-features.ts";

export interface BootstrapReport {
  groups: { created: string[]; existing: string[] };
  features: { created: string[]; existing: string[] };
}

export async function bootstrapTenant(ctx: TenantContext): Promise<BootstrapReport> {
  const groupValues = TISTIS_GROUPS.map(
    (g) =>
      sql`(${ctx.tenantId}, ${g.name}, ${g.displayName}, ${g.description ?? null}, ${g.entityType}, ${g.ttlSeconds ?? null}, ${ctx.subject})`,
  );
  const [, createdGroups, groups] = await tenantRows(ctx.db, ctx.tenantId, [
    ensureTenantRow(ctx.tenantId),
    sql`INSERT INTO ai_feature_groups (tenant_id, name, display_name, description, entity_type, ttl_seconds, created_by)
        VALUES ${sql.join(groupValues, sql`, `)}
        ON CONFLICT (tenant_id, name) DO NOTHING RETURNING name`,
    sql`SELECT id, name FROM ai_feature_groups WHERE name IN (${sql.join(
      TISTIS_GROUPS.map((g) => sql`${g.name}`),
      sql`, `,
    )})`,
  ]);
  const groupIds = new Map(groups!.map((g) => [g.name as string, g.id as string]));
  const specs = TISTIS_GROUPS.flatMap((g) =>
    g.features.map((f) => ({
      group_id: groupIds.get(g.name),
      name: f.name,
      display_name: f.displayName,
      description: f.description ?? null,
      data_type: f.dataType,
      embedding_dimension: f.embeddingDimension ?? null,
      source_type: f.sourceType,
      transformation_sql: f.transformationSql?.trim() ?? null,
      aggregation_type: f.aggregationType ?? null,
      window_size_seconds: f.windowSizeSeconds ?? null,
      aggregation_interval_seconds: f.aggregationIntervalSeconds ?? 60,
      validation_rules: f.validationRules ?? null,
    })),
  );
  const [createdFeatures] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`WITH spec AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(specs)}::jsonb) AS s(
            group_id uuid, name text, display_name text, description text, data_type text,
            embedding_dimension int, source_type text, transformation_sql text, aggregation_type text,
            window_size_seconds int, aggregation_interval_seconds int, validation_rules jsonb)
        ), ins AS (
          INSERT INTO ai_feature_definitions AS d
            (tenant_id, group_id, name, display_name, description, data_type, embedding_dimension, source_type,
             transformation_sql, aggregation_type, window_size_seconds, aggregation_interval_seconds, validation_rules,
             created_by)
          SELECT ${ctx.tenantId}, group_id, name, display_name, description, data_type, embedding_dimension, source_type,
                 transformation_sql, aggregation_type, window_size_seconds, aggregation_interval_seconds, validation_rules,
                 ${ctx.subject}
          FROM spec
          ON CONFLICT (tenant_id, group_id, name) DO NOTHING
          RETURNING d
        ), version AS (
          INSERT INTO ai_feature_versions (tenant_id, feature_id, version, changelog, definition_snapshot, created_by)
          SELECT (ins.d).tenant_id, (ins.d).id, 1, 'Initial version (TIS TIS bootstrap)', feature_definition_json(ins.d), (ins.d).created_by
          FROM ins
        )
        SELECT (ins.d).name AS name, g.name AS group_name
        FROM ins JOIN ai_feature_groups g ON g.id = (ins.d).group_id`,
  ]);
  const createdGroupNames = new Set(createdGroups!.map((g) => g.name as string));
  const createdFeatureNames = new Set(createdFeatures!.map((f) => `${f.group_name}.${f.name}`));
  const allFeatures = TISTIS_GROUPS.flatMap((g) => g.features.map((f) => `${g.name}.${f.name}`));
  if (createdGroupNames.size || createdFeatureNames.size) await invalidateRegistryCache(ctx.env, ctx.tenantId);
  return {
    groups: {
      created: TISTIS_GROUPS.map((g) => g.name).filter((n) => createdGroupNames.has(n)),
      existing: TISTIS_GROUPS.map((g) => g.name).filter((n) => !createdGroupNames.has(n)),
    },
    features: {
      created: allFeatures.filter((n) => createdFeatureNames.has(n)),
      existing: allFeatures.filter((n) => !createdFeatureNames.has(n)),
    },
  };
}
