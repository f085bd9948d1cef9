// What reads and writes need to know about a tenant's features: loaded in one query,
// indexed by "group.feature" and by bare name, and used to resolve requested names.
import { sql } from "drizzle-orm";
import type { DatabaseHandle } from "#shared/db/client.ts";
import { tenantRows } from "#shared/db/tenant.ts";
import { AppError } from "#shared/http/errors.ts";
import type { ValidationRules } from "./schemas.ts";

export interface ServedFeature {
  id: string;
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
  byQualifiedName: Map<string, ServedFeature>;
  byBareName: Map<string, ServedFeature[]>;
}

export async function loadRegistryFeatures(db: DatabaseHandle, tenantId: string): Promise<ServedFeature[]> {
  const [rows] = await tenantRows(db, tenantId, [
    sql`SELECT jsonb_build_object(
          'id', d.id, 'name', d.name, 'qualifiedName', g.name || '.' || d.name,
          'groupId', g.id, 'groupName', g.name, 'entityType', g.entity_type, 'ttlSeconds', g.ttl_seconds,
          'onlineEnabled', g.online_enabled, 'offlineEnabled', g.offline_enabled,
          'dataType', d.data_type, 'embeddingDimension', d.embedding_dimension,
          'validationRules', d.validation_rules) AS feature
        FROM ai_feature_definitions d JOIN ai_feature_groups g ON g.id = d.group_id
        WHERE d.status <> 'archived' AND g.status <> 'archived'
        ORDER BY g.name, d.name`,
  ]);
  return rows!.map((r) => r.feature as ServedFeature);
}

export function indexRegistry(features: ServedFeature[]): RegistrySnapshot {
  const byQualifiedName = new Map<string, ServedFeature>();
  const byBareName = new Map<string, ServedFeature[]>();
  for (const f of features) {
    byQualifiedName.set(f.qualifiedName, f);
    byBareName.set(f.name, [...(byBareName.get(f.name) ?? []), f]);
  }
  return { features, byQualifiedName, byBareName };
}

/**
 * Maps each requested name ("group.feature", or a bare name when exactly one feature of
 * that entity type has it) to its feature. Every unknown or ambiguous name is reported at
 * once: 400 UNKNOWN_FEATURE.
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
    let feature: ServedFeature | undefined;
    if (name.includes(".")) {
      feature = snapshot.byQualifiedName.get(name);
    } else {
      const candidates = (snapshot.byBareName.get(name) ?? []).filter(
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
