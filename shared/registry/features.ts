// Feature definitions and their versions. A change to a field that changes what values
// mean (versionedFields) writes a new version with a snapshot of the stored row; cosmetic
// changes update the row in place. Snapshots are built in SQL from the row itself.
import type { z } from "@hono/zod-openapi";
import { type SQL, sql } from "drizzle-orm";
import { keysetPage } from "#shared/db/keyset-page.ts";
import { pgCodes, pgError } from "#shared/db/pg-errors.ts";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import { checkTransformation } from "#shared/features/transformation.ts";
import { AppError } from "#shared/http/errors.ts";
import { invalidateRegistryCache } from "./cache.ts";
import { checkDefinition } from "./definition-checks.ts";
import { ensureTenantRow, findGroup } from "./groups.ts";
import { sameValue } from "./same-value.ts";
import {
  type createFeatureBody,
  type FeatureDefinition,
  type FeatureVersion,
  featureSchema,
  type UpdateFeatureBody,
  versionedFields,
} from "./schemas.ts";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type FeatureRef = { id: string } | { group: string; name: string };

/** A feature reference from a path: its id, or "group.feature". */
export function parseFeatureRef(ref: string): FeatureRef {
  if (uuidPattern.test(ref)) return { id: ref.toLowerCase() };
  const parts = ref.split(".");
  const ident = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
  if (parts.length === 2 && ident.test(parts[0]!) && ident.test(parts[1]!))
    return { group: parts[0]!, name: parts[1]! };
  throw new AppError("VALIDATION_FAILED", "A feature is named by its id or as 'group.feature'", [
    { path: "ref", message: "expected a uuid or 'group.feature'" },
  ]);
}

function refCondition(ref: FeatureRef): SQL {
  return "id" in ref
    ? sql`d.id = ${ref.id}`
    : sql`d.name = ${ref.name} AND d.group_id = (SELECT id FROM ai_feature_groups WHERE name = ${ref.group})`;
}

const featureJson = sql`feature_definition_json(d) AS json`;

interface FeatureRow {
  json: FeatureDefinition;
}

function notFound(ref: string | FeatureRef): AppError {
  const name = typeof ref === "string" ? ref : "id" in ref ? ref.id : `${ref.group}.${ref.name}`;
  return new AppError("NOT_FOUND", `Feature ${name} not found`);
}

export async function getFeature(ctx: TenantContext, refText: string): Promise<FeatureDefinition> {
  const ref = parseFeatureRef(refText);
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT ${featureJson} FROM ai_feature_definitions d WHERE ${refCondition(ref)}`,
  ]);
  const row = rows![0] as unknown as FeatureRow | undefined;
  if (!row) throw notFound(refText);
  return row.json;
}

const jsonParam = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

/**
 * Inserts a feature and its version 1, returning `json`. `groupId` is SQL: an id, or a
 * subquery by name when the group is created in the same transaction.
 */
export function insertFeatureSql(
  ctx: TenantContext,
  groupId: SQL,
  input: Omit<z.infer<typeof createFeatureBody>, "changelog">,
  changelog: string,
): SQL {
  return sql`WITH ins AS (
      INSERT INTO ai_feature_definitions AS d
        (tenant_id, group_id, name, display_name, description, data_type, embedding_dimension, source_type,
         source_config, transformation_sql, aggregation_type, window_size_seconds, aggregation_interval_seconds,
         validation_rules, tags, created_by)
      VALUES (${ctx.tenantId}, ${groupId}, ${input.name}, ${input.displayName}, ${input.description ?? null},
              ${input.dataType}, ${input.embeddingDimension ?? null}, ${input.sourceType}, ${jsonParam(input.sourceConfig)}::jsonb,
              ${input.transformationSql ?? null}, ${input.aggregationType ?? null}, ${input.windowSizeSeconds ?? null},
              ${input.aggregationIntervalSeconds ?? 60},
              ${jsonParam(input.validationRules)}::jsonb, ${JSON.stringify(input.tags ?? [])}::jsonb, ${ctx.subject})
      RETURNING d
    ), version AS (
      INSERT INTO ai_feature_versions (tenant_id, feature_id, version, changelog, definition_snapshot, created_by)
      SELECT (ins.d).tenant_id, (ins.d).id, 1, ${changelog}, feature_definition_json(ins.d), (ins.d).created_by
      FROM ins
    )
    SELECT feature_definition_json(ins.d) AS json FROM ins`;
}

export async function createFeature(
  ctx: TenantContext,
  groupRef: string,
  input: z.infer<typeof createFeatureBody>,
): Promise<FeatureDefinition> {
  const group = await findGroup(ctx, groupRef);
  if (!group) throw new AppError("NOT_FOUND", `Feature group ${groupRef} not found`);
  if (group.status === "archived") throw new AppError("CONFLICT", `Feature group ${group.name} is archived`);
  const definition = {
    dataType: input.dataType,
    embeddingDimension: input.embeddingDimension ?? null,
    aggregationType: input.aggregationType ?? null,
    windowSizeSeconds: input.windowSizeSeconds ?? null,
    aggregationIntervalSeconds: input.aggregationIntervalSeconds ?? 60,
    sourceType: input.sourceType,
    validationRules: input.validationRules ?? null,
  };
  checkDefinition(definition);
  if (input.transformationSql) await checkTransformation(ctx.db, ctx.tenantId, input.transformationSql);
  try {
    const rows = await tenantRows(ctx.db, ctx.tenantId, [
      ensureTenantRow(ctx.tenantId),
      ...(definition.embeddingDimension ? [sql`SELECT ensure_embedding_index(${definition.embeddingDimension})`] : []),
      insertFeatureSql(ctx, sql`${group.id}::uuid`, input, input.changelog ?? "Initial version"),
    ]);
    await invalidateRegistryCache(ctx.env, ctx.tenantId);
    return (rows.at(-1)![0] as unknown as FeatureRow).json;
  } catch (error) {
    if (pgError(error)?.code === pgCodes.uniqueViolation) {
      throw new AppError("CONFLICT", `Feature ${group.name}.${input.name} already exists`, [
        { path: "name", message: "already exists in this group" },
      ]);
    }
    throw error;
  }
}

export interface ListFeaturesOptions {
  group?: string;
  status?: string;
  dataType?: string;
  limit: number;
  cursor?: string;
}

export async function listFeatures(ctx: TenantContext, options: ListFeaturesOptions) {
  const filters: SQL[] = [];
  if (options.group) {
    filters.push(
      uuidPattern.test(options.group)
        ? sql`d.group_id = ${options.group}`
        : sql`d.group_id = (SELECT id FROM ai_feature_groups WHERE name = ${options.group})`,
    );
  }
  if (options.status) filters.push(sql`d.status = ${options.status}`);
  if (options.dataType) filters.push(sql`d.data_type = ${options.dataType}`);
  return keysetPage<FeatureDefinition>(ctx, {
    from: sql`ai_feature_definitions d`,
    alias: "d",
    json: sql`feature_definition_json(d)`,
    filters,
    order: "oldest first",
    limit: options.limit,
    cursor: options.cursor,
  });
}

const featureColumns: Record<string, string> = {
  displayName: "display_name",
  description: "description",
  dataType: "data_type",
  embeddingDimension: "embedding_dimension",
  sourceType: "source_type",
  sourceConfig: "source_config",
  transformationSql: "transformation_sql",
  aggregationType: "aggregation_type",
  windowSizeSeconds: "window_size_seconds",
  aggregationIntervalSeconds: "aggregation_interval_seconds",
  validationRules: "validation_rules",
  status: "status",
  tags: "tags",
};
const jsonColumns = new Set(["sourceConfig", "validationRules", "tags"]);

/**
 * Updates a feature's columns; with `newVersion`, also writes version N+1 (made current
 * when `promote`). Only the row `guard` still matches is touched; returns `json` (no row
 * when the guard failed).
 */
export function updateFeatureSql(
  ctx: TenantContext,
  update: {
    id: string;
    guard: SQL;
    changed: [string, unknown][];
    newVersion: boolean;
    promote: boolean;
    changelog: string;
  },
): SQL {
  const { newVersion, promote } = update;
  const assignments = update.changed.map(([field, value]) =>
    jsonColumns.has(field)
      ? sql`${sql.identifier(featureColumns[field]!)} = ${value === null ? null : JSON.stringify(value)}::jsonb`
      : sql`${sql.identifier(featureColumns[field]!)} = ${value}`,
  );
  return sql`WITH upd AS (
      UPDATE ai_feature_definitions AS d
      SET ${sql.join(assignments, sql`, `)}, version = d.version + ${newVersion ? 1 : 0},
          current_version = CASE WHEN ${newVersion && promote} THEN d.version + 1 ELSE d.current_version END,
          updated_at = now()
      WHERE d.id = ${update.id} AND ${update.guard}
      RETURNING d
    ), version AS (
      INSERT INTO ai_feature_versions (tenant_id, feature_id, version, changelog, definition_snapshot, created_by)
      SELECT (upd.d).tenant_id, (upd.d).id, (upd.d).version, ${update.changelog}, feature_definition_json(upd.d), ${ctx.subject}
      FROM upd WHERE ${newVersion}
    )
    SELECT feature_definition_json(upd.d) AS json FROM upd`;
}

export async function updateFeature(
  ctx: TenantContext,
  refText: string,
  update: UpdateFeatureBody,
): Promise<FeatureDefinition> {
  const current = await getFeature(ctx, refText);
  const { changelog, promote = true, ...changes } = update;
  const changed = Object.entries(changes).filter(
    ([field, value]) => value !== undefined && !sameValue(value, current[field as keyof FeatureDefinition]),
  );
  if (changed.length === 0) return current;
  const merged = { ...current, ...Object.fromEntries(changed) } as FeatureDefinition;
  checkDefinition(merged);
  const changedFields = changed.map(([field]) => field);
  if (changedFields.includes("transformationSql") && merged.transformationSql) {
    await checkTransformation(ctx.db, ctx.tenantId, merged.transformationSql);
  }
  const newVersion = changedFields.some((f) => (versionedFields as readonly string[]).includes(f));
  const note = changelog ?? `Changed ${changedFields.join(", ")}`;
  const rows = await tenantRows(ctx.db, ctx.tenantId, [
    ...(merged.embeddingDimension && changedFields.includes("embeddingDimension")
      ? [sql`SELECT ensure_embedding_index(${merged.embeddingDimension})`]
      : []),
    // The version check makes a concurrent update lose cleanly (409) instead of silently.
    updateFeatureSql(ctx, {
      id: current.id,
      guard: sql`d.version = ${current.version}`,
      changed,
      newVersion,
      promote,
      changelog: note,
    }),
  ]);
  const row = rows.at(-1)![0] as unknown as FeatureRow | undefined;
  if (!row)
    throw new AppError("CONFLICT", "The feature changed while this update was applied; read it again and retry");
  await invalidateRegistryCache(ctx.env, ctx.tenantId);
  return row.json;
}

/**
 * Makes `version` the one reads of the feature's name answer: a staged version goes live,
 * or an older one comes back. Every serving isolate re-resolves on its next read (registry
 * revision), and no read mixes versions: each resolves its names against one snapshot.
 */
export async function promoteVersion(ctx: TenantContext, refText: string, version: number): Promise<FeatureDefinition> {
  const current = await getFeature(ctx, refText);
  if (version > current.version) throw new AppError("NOT_FOUND", `Version ${version} of feature ${refText} not found`);
  if (version === current.currentVersion) return current;
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`UPDATE ai_feature_definitions AS d SET current_version = ${version}, updated_at = now()
        WHERE d.id = ${current.id} AND d.version = ${current.version}
          AND EXISTS (SELECT 1 FROM ai_feature_versions v WHERE v.feature_id = d.id AND v.version = ${version})
        RETURNING feature_definition_json(d) AS json`,
  ]);
  const row = rows![0] as unknown as FeatureRow | undefined;
  if (!row)
    throw new AppError("CONFLICT", "The feature changed while the version was promoted; read it again and retry");
  await invalidateRegistryCache(ctx.env, ctx.tenantId);
  return row.json;
}

const versionJson = sql`jsonb_build_object(
  'id', v.id, 'featureId', v.feature_id, 'version', v.version, 'changelog', v.changelog,
  'definitionSnapshot', v.definition_snapshot, 'stats', v.stats,
  'createdAt', to_char(v.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
  'createdBy', v.created_by) AS json`;

export async function listVersions(ctx: TenantContext, refText: string): Promise<FeatureVersion[]> {
  const feature = await getFeature(ctx, refText);
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT ${versionJson} FROM ai_feature_versions v WHERE v.feature_id = ${feature.id} ORDER BY v.version DESC`,
  ]);
  return (rows as unknown as { json: FeatureVersion }[]).map((r) => r.json);
}

export async function getVersion(ctx: TenantContext, refText: string, version: number): Promise<FeatureVersion> {
  const ref = parseFeatureRef(refText);
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT ${versionJson} FROM ai_feature_versions v
        JOIN ai_feature_definitions d ON d.id = v.feature_id
        WHERE ${refCondition(ref)} AND v.version = ${version}`,
  ]);
  const row = rows![0] as unknown as { json: FeatureVersion } | undefined;
  if (!row) throw new AppError("NOT_FOUND", `Version ${version} of feature ${refText} not found`);
  return row.json;
}

/** Fields a diff ignores: they change with every version by construction. */
const bookkeeping = new Set([
  "id",
  "tenantId",
  "groupId",
  "version",
  "currentVersion",
  "stagedVersion",
  "createdAt",
  "updatedAt",
  "createdBy",
]);

export async function diffVersions(ctx: TenantContext, refText: string, from: number, to: number) {
  const [a, b] = await Promise.all([getVersion(ctx, refText, from), getVersion(ctx, refText, to)]);
  const fields = Object.keys(featureSchema.shape).filter((f) => !bookkeeping.has(f));
  const changes = fields
    .map((field) => ({
      field,
      from: (a.definitionSnapshot as Record<string, unknown>)[field] ?? null,
      to: (b.definitionSnapshot as Record<string, unknown>)[field] ?? null,
    }))
    .filter((c) => !sameValue(c.from, c.to));
  return { featureId: a.featureId, from, to, changes };
}

export async function getStats(ctx: TenantContext, refText: string, version?: number) {
  const v = version === undefined ? (await listVersions(ctx, refText))[0] : await getVersion(ctx, refText, version);
  if (!v) throw notFound(refText);
  return { featureId: v.featureId, version: v.version, stats: v.stats };
}
