// What reads and writes need to know about a tenant's features: loaded in one query,
// indexed by "group.feature" and by bare name, and used to resolve requested names. Each
// version of a feature is served apart: `name` means the current version, `name@vN` version
// N, with that version's type and rules; values of different versions never mix.
import { sql } from "drizzle-orm";
import type { DatabaseHandle } from "#shared/db/client.ts";
import { tenantRows } from "#shared/db/tenant.ts";
import { AppError } from "#shared/http/errors.ts";
import type { ValidationRules } from "./schemas.ts";

export type Aggregation = "sum" | "avg" | "count" | "max" | "min" | "last" | "first";

/** A stream feature with an aggregation: pushes carry events, reads answer the window's aggregate. */
export interface AggregationWindow {
  aggregation: Aggregation;
  /** The window's length; null: every event up to the window's end. */
  sizeSeconds: number | null;
  /** Tile width: a window answered at t ends at the last multiple of it <= t. */
  intervalSeconds: number;
}

export interface ServedFeature {
  /** The feature's id (the same for all its versions). */
  id: string;
  /** The version this entry reads and writes. */
  version: number;
  /** Where this version's latest value sits in the online store: `<id>@<version>`. */
  field: string;
  /** The version `name` answers. */
  currentVersion: number;
  /** A version above the current one, written by jobs and pushes but not read by `name`. */
  stagedVersion: number | null;
  /** This version's transformation (jobs materialize it; on-demand features run it when read). */
  transformationSql: string | null;
  sourceType: "batch" | "stream" | "on_demand";
  /** Set for an aggregated stream feature (DESIGN.md, "Source types mean what they say"). */
  window: AggregationWindow | null;
  name: string;
  qualifiedName: string;
  groupId: string;
  groupName: string;
  entityType: string;
  ttlSeconds: number | null;
  onlineEnabled: boolean;
  offlineEnabled: boolean;
  dataType: string;
  embeddingDimension: number | null;
  validationRules: ValidationRules | null;
}

export interface RegistrySnapshot {
  features: ServedFeature[];
  /** The current version of each feature. */
  byQualifiedName: Map<string, ServedFeature>;
  byBareName: Map<string, ServedFeature[]>;
  /** Every version: "group.feature@vN". */
  byVersion: Map<string, ServedFeature>;
}

type VersionDefinition = Pick<
  ServedFeature,
  "dataType" | "embeddingDimension" | "validationRules" | "transformationSql" | "sourceType"
> & {
  aggregationType: Aggregation | null;
  windowSizeSeconds: number | null;
  /** Absent from versions saved before migration 0012: the default. */
  aggregationIntervalSeconds: number | null;
};

interface LoadedFeature extends Omit<ServedFeature, "version" | "field" | "window" | keyof VersionDefinition> {
  /** Each version's definition, by version number. */
  versions: Record<string, VersionDefinition>;
}

function windowOf(definition: VersionDefinition): AggregationWindow | null {
  if (definition.sourceType !== "stream" || !definition.aggregationType) return null;
  return {
    aggregation: definition.aggregationType,
    sizeSeconds: definition.windowSizeSeconds ?? null,
    intervalSeconds: definition.aggregationIntervalSeconds ?? 60,
  };
}

/** Every version of every active feature, each as its own ServedFeature. */
export async function loadRegistryFeatures(db: DatabaseHandle, tenantId: string): Promise<ServedFeature[]> {
  const [rows] = await tenantRows(db, tenantId, [
    sql`SELECT jsonb_build_object(
          'id', d.id, 'name', d.name, 'qualifiedName', g.name || '.' || d.name,
          'groupId', g.id, 'groupName', g.name, 'entityType', g.entity_type, 'ttlSeconds', g.ttl_seconds,
          'onlineEnabled', g.online_enabled, 'offlineEnabled', g.offline_enabled,
          'currentVersion', d.current_version,
          'stagedVersion', CASE WHEN d.version > d.current_version THEN d.version END,
          'versions', COALESCE((
            SELECT jsonb_object_agg(v.version, jsonb_build_object(
                     'dataType', v.definition_snapshot->'dataType',
                     'embeddingDimension', v.definition_snapshot->'embeddingDimension',
                     'validationRules', v.definition_snapshot->'validationRules',
                     'transformationSql', v.definition_snapshot->'transformationSql',
                     'sourceType', v.definition_snapshot->'sourceType',
                     'aggregationType', v.definition_snapshot->'aggregationType',
                     'windowSizeSeconds', v.definition_snapshot->'windowSizeSeconds',
                     'aggregationIntervalSeconds', v.definition_snapshot->'aggregationIntervalSeconds'))
            FROM ai_feature_versions v WHERE v.feature_id = d.id
          ), '{}') || jsonb_build_object(d.version::text, jsonb_build_object(
                 'dataType', d.data_type, 'embeddingDimension', d.embedding_dimension,
                 'validationRules', d.validation_rules, 'transformationSql', d.transformation_sql,
                 'sourceType', d.source_type, 'aggregationType', d.aggregation_type,
                 'windowSizeSeconds', d.window_size_seconds,
                 'aggregationIntervalSeconds', d.aggregation_interval_seconds))) AS feature
        FROM ai_feature_definitions d JOIN ai_feature_groups g ON g.id = d.group_id
        WHERE d.status <> 'archived' AND g.status <> 'archived'
        ORDER BY g.name, d.name`,
  ]);
  const served: ServedFeature[] = [];
  for (const row of rows!) {
    const { versions, ...feature } = row.feature as LoadedFeature;
    for (const [version, definition] of Object.entries(versions)) {
      const { aggregationType: _a, windowSizeSeconds: _w, aggregationIntervalSeconds: _i, ...kept } = definition;
      served.push({
        ...feature,
        ...kept,
        window: windowOf(definition),
        version: Number(version),
        field: `${feature.id}@${version}`,
      });
    }
  }
  return served;
}

export function indexRegistry(features: ServedFeature[]): RegistrySnapshot {
  const byQualifiedName = new Map<string, ServedFeature>();
  const byBareName = new Map<string, ServedFeature[]>();
  const byVersion = new Map<string, ServedFeature>();
  for (const f of features) {
    byVersion.set(`${f.qualifiedName}@v${f.version}`, f);
    if (f.version !== f.currentVersion) continue;
    byQualifiedName.set(f.qualifiedName, f);
    byBareName.set(f.name, [...(byBareName.get(f.name) ?? []), f]);
  }
  return { features, byQualifiedName, byBareName, byVersion };
}

/** `name@vN` → the name and N; a name without a version → the name and null. */
export function splitVersion(name: string): { base: string; version: number | null } {
  const match = /^(.+)@v([1-9][0-9]{0,8})$/.exec(name);
  return match ? { base: match[1]!, version: Number(match[2]) } : { base: name, version: null };
}

/**
 * Maps each requested name ("group.feature", or a bare name when exactly one feature of
 * that entity type has it, either with "@vN" for version N) to its feature version. Every
 * unknown or ambiguous name, or missing version, is reported at once: 400 UNKNOWN_FEATURE.
 */
export function resolveFeatureNames(
  snapshot: RegistrySnapshot,
  names: readonly string[],
  entityType?: string,
): Map<string, ServedFeature> {
  const resolved = new Map<string, ServedFeature>();
  const problems: { feature: string; message: string }[] = [];
  for (const name of names) {
    if (resolved.has(name)) continue;
    const { base, version } = splitVersion(name);
    let feature: ServedFeature | undefined;
    if (base.includes(".")) {
      feature = snapshot.byQualifiedName.get(base);
    } else {
      const candidates = (snapshot.byBareName.get(base) ?? []).filter(
        (f) => !entityType || f.entityType === entityType,
      );
      if (candidates.length > 1) {
        problems.push({
          feature: name,
          message: `ambiguous: use one of ${candidates.map((c) => c.qualifiedName).join(", ")}`,
        });
        continue;
      }
      feature = candidates[0];
    }
    if (!feature) {
      problems.push({ feature: name, message: "no such feature" });
      continue;
    }
    if (entityType && feature.entityType !== entityType) {
      problems.push({ feature: name, message: `belongs to ${feature.entityType} entities, not ${entityType}` });
      continue;
    }
    if (version !== null && version !== feature.version) {
      const versioned = snapshot.byVersion.get(`${feature.qualifiedName}@v${version}`);
      if (!versioned) {
        problems.push({ feature: name, message: `${feature.qualifiedName} has no version ${version}` });
        continue;
      }
      feature = versioned;
    }
    resolved.set(name, feature);
  }
  if (problems.length) {
    throw new AppError(
      "UNKNOWN_FEATURE",
      `Unknown feature${problems.length > 1 ? "s" : ""}: ${problems.map((p) => p.feature).join(", ")}`,
      problems,
    );
  }
  return resolved;
}
