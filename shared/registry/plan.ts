// The change between a declared registry and the live one, computed without touching the
// database: what `plan` prints and exactly what `apply` then does. The declaration is the
// whole truth about the tenant's registry: what it leaves out is archived.
import { AppError } from "#shared/http/errors.ts";
import type {
  DeclaredFeature,
  DeclaredGroup,
  PlannedChange,
  RegistryDeclaration,
  RegistryPlan,
} from "./declaration.ts";
import { sameValue } from "./same-value.ts";
import { type FeatureDefinition, type FeatureGroup, versionedFields } from "./schemas.ts";

export interface LiveRegistry {
  groups: FeatureGroup[];
  features: FeatureDefinition[];
  /** For features with a staged version: the definition of the version reads answer now. */
  currentDefinitions: Map<string, FeatureDefinition>;
  /** Features with stored values (offline), the ones an archive would cut readers off. */
  withValues: Set<string>;
}

/** A declared group's fields as the registry stores them, defaults filled in. */
function groupFields(group: DeclaredGroup) {
  return {
    displayName: group.displayName,
    description: group.description ?? null,
    onlineEnabled: group.onlineEnabled ?? true,
    offlineEnabled: group.offlineEnabled ?? true,
    ttlSeconds: group.ttlSeconds ?? null,
    tags: group.tags ?? [],
    status: group.status ?? "active",
  };
}
export type GroupFields = ReturnType<typeof groupFields>;

/** A declared feature's fields as the registry stores them, defaults filled in. */
export function featureFields(feature: DeclaredFeature) {
  return {
    displayName: feature.displayName,
    description: feature.description ?? null,
    dataType: feature.dataType,
    embeddingDimension: feature.embeddingDimension ?? null,
    sourceType: feature.sourceType,
    sourceConfig: feature.sourceConfig ?? null,
    transformationSql: feature.transformationSql ?? null,
    aggregationType: feature.aggregationType ?? null,
    windowSizeSeconds: feature.windowSizeSeconds ?? null,
    aggregationIntervalSeconds: feature.aggregationIntervalSeconds ?? 60,
    validationRules: feature.validationRules ?? null,
    tags: feature.tags ?? [],
    status: feature.status ?? "active",
  };
}
export type FeatureFields = ReturnType<typeof featureFields>;

function fieldChanges<T extends Record<string, unknown>>(declared: T, live: Record<string, unknown> | null) {
  return Object.entries(declared)
    .filter(([field, value]) => !live || !sameValue(value, live[field]))
    .map(([field, value]) => ({ field, from: live ? (live[field] ?? null) : null, to: value }));
}

/** What readers of a feature's name would notice: the type of the values they get. */
function typeBreaks(
  target: string,
  from: FeatureDefinition,
  to: Pick<FeatureFields, "dataType" | "embeddingDimension">,
) {
  const reasons: string[] = [];
  if (from.dataType !== to.dataType)
    reasons.push(`${target} changes type ${from.dataType} → ${to.dataType}: readers get values of another type`);
  else if (from.embeddingDimension !== to.embeddingDimension)
    reasons.push(
      `${target} changes dimension ${from.embeddingDimension} → ${to.embeddingDimension}: readers get vectors of another length`,
    );
  return reasons;
}

function featurePlan(
  target: string,
  declared: DeclaredFeature,
  live: FeatureDefinition | undefined,
  registry: LiveRegistry,
): PlannedChange[] {
  const fields = featureFields(declared);
  if (!live)
    return [
      {
        action: "create_feature",
        target,
        changes: fieldChanges(fields, null),
        version: { number: 1, state: "promoted" },
        breaking: [],
      },
    ];
  const changes = fieldChanges(fields, live);
  const read = registry.currentDefinitions.get(live.id) ?? live;
  const staged = live.currentVersion < live.version;
  if (changes.length === 0) {
    if (!staged || declared.stage) return [];
    return [
      {
        action: "promote_version",
        target,
        changes: [{ field: "currentVersion", from: live.currentVersion, to: live.version }],
        version: { number: live.version, state: "promoted" },
        breaking: typeBreaks(target, read, live),
      },
    ];
  }
  const versioned = changes.some((c) => (versionedFields as readonly string[]).includes(c.field));
  const promote = !declared.stage;
  return [
    {
      action: "update_feature",
      target,
      changes,
      version: versioned ? { number: live.version + 1, state: promote ? "promoted" : "staged" } : null,
      // A staged version breaks nobody until it is promoted; a cosmetic change never does.
      breaking: versioned && promote ? typeBreaks(target, read, fields) : [],
    },
  ];
}

function archiveFeature(target: string, live: FeatureDefinition, registry: LiveRegistry): PlannedChange {
  return {
    action: "archive_feature",
    target,
    changes: [{ field: "status", from: live.status, to: "archived" }],
    version: null,
    breaking: registry.withValues.has(live.id) ? [`${target} has stored values that readers would lose`] : [],
  };
}

/** Declared groups' immutable fields: a change there is a new group, not an edit. */
function immutableProblems(g: number, declared: DeclaredGroup, live: FeatureGroup) {
  const problems: { path: string; message: string }[] = [];
  if (declared.entityType !== live.entityType)
    problems.push({
      path: `declaration.groups.${g}.entityType`,
      message: `group ${live.name} is keyed by ${live.entityType}: an entity type cannot change (declare a new group)`,
    });
  const column = declared.entityIdColumn ?? "entity_id";
  if (column !== live.entityIdColumn)
    problems.push({
      path: `declaration.groups.${g}.entityIdColumn`,
      message: `group ${live.name} reads ${live.entityIdColumn}: the entity id column cannot change`,
    });
  return problems;
}

/** The live features by the name a plan's changes target: "group.feature". */
export function featuresByTarget(registry: Pick<LiveRegistry, "groups" | "features">): Map<string, FeatureDefinition> {
  const groupNames = new Map(registry.groups.map((g) => [g.id, g.name]));
  return new Map(registry.features.map((f) => [`${groupNames.get(f.groupId)}.${f.name}`, f]));
}

export function planRegistry(declaration: RegistryDeclaration, registry: LiveRegistry): RegistryPlan {
  const liveGroups = new Map(registry.groups.map((g) => [g.name, g]));
  const liveFeatures = featuresByTarget(registry);
  const changes: PlannedChange[] = [];
  const problems: { path: string; message: string }[] = [];
  const declaredTargets = new Set<string>();
  let unchanged = 0;

  declaration.groups.forEach((group, g) => {
    const live = liveGroups.get(group.name);
    declaredTargets.add(group.name);
    if (live) problems.push(...immutableProblems(g, group, live));
    const fields = groupFields(group);
    const groupChanges = fieldChanges(fields, live ?? null);
    if (!live)
      changes.push({ action: "create_group", target: group.name, changes: groupChanges, version: null, breaking: [] });
    else if (groupChanges.length)
      changes.push({ action: "update_group", target: group.name, changes: groupChanges, version: null, breaking: [] });
    else unchanged++;
    for (const feature of group.features) {
      const target = `${group.name}.${feature.name}`;
      declaredTargets.add(target);
      const planned = featurePlan(target, feature, liveFeatures.get(target), registry);
      if (planned.length === 0) unchanged++;
      changes.push(...planned);
    }
  });
  if (problems.length) throw new AppError("UNPROCESSABLE", "The declaration changes what cannot change", problems);

  // Whatever the declaration leaves out is archived, features first (sorted, so the plan
  // reads the same every time), then their groups.
  const archives = [...liveFeatures]
    .filter(([target, f]) => !declaredTargets.has(target) && f.status !== "archived")
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([target, f]) => archiveFeature(target, f, registry));
  const groupArchives = [...liveGroups.values()]
    .filter((g) => !declaredTargets.has(g.name) && g.status !== "archived")
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map(
      (g): PlannedChange => ({
        action: "archive_group",
        target: g.name,
        changes: [{ field: "status", from: g.status, to: "archived" }],
        version: null,
        breaking: [],
      }),
    );
  changes.push(...archives, ...groupArchives);

  const count = (prefix: string) => changes.filter((c) => c.action.startsWith(prefix)).length;
  return {
    changes,
    summary: {
      create: count("create"),
      update: count("update") + count("promote"),
      archive: count("archive"),
      breaking: changes.filter((c) => c.breaking.length).length,
    },
    unchanged,
  };
}
