// Features as code against the database: read the live registry, plan, and apply a plan in
// one transaction (all or nothing). Concurrent applies of one tenant queue on an advisory
// lock; the rows a plan changes are locked and compared with what it was planned from, and
// when anything moved the transaction fails (FS409) and the declaration is planned again.
// Applying a declaration already applied plans no change and writes nothing.
import { type SQL, sql } from "drizzle-orm";
import { pgCodes, pgError } from "#shared/db/pg-errors.ts";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import { checkTransformation } from "#shared/features/transformation.ts";
import { AppError } from "#shared/http/errors.ts";
import { invalidateRegistryCache } from "./cache.ts";
import type { RegistryDeclaration, RegistryPlan } from "./declaration.ts";
import { checkDefinition } from "./definition-checks.ts";
import { insertFeatureSql, updateFeatureSql } from "./features.ts";
import { ensureTenantRow, insertGroupSql, updateGroupSql } from "./groups.ts";
import { featureFields, featuresByTarget, type LiveRegistry, planRegistry } from "./plan.ts";
import type { FeatureDefinition, FeatureGroup } from "./schemas.ts";

const replanCode = "FS409";
const maxAttempts = 4;

export async function readLiveRegistry(ctx: TenantContext): Promise<LiveRegistry> {
  const [groups, features, current, withValues] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT feature_group_json(g) AS json FROM ai_feature_groups g ORDER BY g.name`,
    sql`SELECT feature_definition_json(d) AS json FROM ai_feature_definitions d ORDER BY d.name`,
    sql`SELECT v.feature_id, v.definition_snapshot AS json FROM ai_feature_versions v
        JOIN ai_feature_definitions d ON d.id = v.feature_id AND v.version = d.current_version
        WHERE d.current_version <> d.version`,
    // Only what an archive would cut off matters, so only live features are probed.
    sql`SELECT d.id FROM ai_feature_definitions d WHERE d.status <> 'archived' AND (
          EXISTS (SELECT 1 FROM ai_feature_values v WHERE v.tenant_id = d.tenant_id AND v.feature_id = d.id)
          OR EXISTS (SELECT 1 FROM ai_feature_embeddings e WHERE e.tenant_id = d.tenant_id AND e.feature_id = d.id))`,
  ]);
  return {
    groups: groups!.map((r) => r.json as FeatureGroup),
    features: features!.map((r) => r.json as FeatureDefinition),
    currentDefinitions: new Map(current!.map((r) => [r.feature_id as string, r.json as FeatureDefinition])),
    withValues: new Set(withValues!.map((r) => r.id as string)),
  };
}

function declaredFeatures(declaration: RegistryDeclaration) {
  return new Map(
    declaration.groups.flatMap((group, g) =>
      group.features.map((feature, f) => [
        `${group.name}.${feature.name}`,
        { group, feature, path: `declaration.groups.${g}.features.${f}` },
      ]),
    ),
  );
}

/** The checks a one-call create or update makes, for every feature the plan writes; paths point into the declaration. */
async function checkPlannedFeatures(ctx: TenantContext, declaration: RegistryDeclaration, plan: RegistryPlan) {
  const declared = declaredFeatures(declaration);
  const problems: { path: string; message: string }[] = [];
  let unprocessable = false;
  for (const change of plan.changes) {
    if (change.action !== "create_feature" && change.action !== "update_feature") continue;
    const { feature, path } = declared.get(change.target)!;
    const at = (error: unknown) => {
      if (!(error instanceof AppError)) throw error;
      if (error.code === "UNPROCESSABLE") unprocessable = true;
      const details = (error.details as { path: string; message: string }[] | undefined) ?? [
        { path: "(root)", message: error.message },
      ];
      problems.push(...details.map((d) => ({ ...d, path: `${path}.${d.path}` })));
    };
    try {
      checkDefinition(featureFields(feature));
    } catch (error) {
      at(error);
    }
    const sqlChanged =
      change.action === "create_feature" || change.changes.some((c) => c.field === "transformationSql");
    if (sqlChanged && feature.transformationSql) {
      await checkTransformation(ctx.db, ctx.tenantId, feature.transformationSql).catch(at);
    }
  }
  if (problems.length)
    throw new AppError(
      unprocessable ? "UNPROCESSABLE" : "VALIDATION_FAILED",
      "Some declared features are not valid",
      problems,
    );
}

export async function planDeclaration(ctx: TenantContext, declaration: RegistryDeclaration) {
  const live = await readLiveRegistry(ctx);
  const plan = planRegistry(declaration, live);
  await checkPlannedFeatures(ctx, declaration, plan);
  return { plan, live };
}

/** Locks the rows the plan changes and fails the transaction unless they are as planned from. */
function expectUnchanged(plan: RegistryPlan, live: LiveRegistry): SQL[] {
  const touched = new Set(plan.changes.map((c) => c.target));
  const features = [...featuresByTarget(live)].filter(([target]) => touched.has(target)).map(([, f]) => f);
  const groups = live.groups.filter((g) => touched.has(g.name));
  const expect = (table: SQL, alias: string, json: SQL, rows: { id: string }[]) => {
    const planned = sql`${JSON.stringify(Object.fromEntries(rows.map((r) => [r.id, r])))}::jsonb`;
    const id = sql.raw(`${alias}.id::text`);
    return sql`SELECT fs_expect(count(*) = ${rows.length}, 'the registry changed while the declaration was applied') FROM (
          SELECT 1 FROM ${table} ${sql.raw(alias)}
          WHERE ${planned} ? ${id} AND ${json} = ${planned} -> ${id}
          FOR UPDATE) locked`;
  };
  return [
    ...(groups.length ? [expect(sql`ai_feature_groups`, "g", sql`feature_group_json(g)`, groups)] : []),
    ...(features.length ? [expect(sql`ai_feature_definitions`, "d", sql`feature_definition_json(d)`, features)] : []),
  ];
}

function changeStatements(
  ctx: TenantContext,
  declaration: RegistryDeclaration,
  plan: RegistryPlan,
  live: LiveRegistry,
) {
  const declared = declaredFeatures(declaration);
  const groups = new Map(declaration.groups.map((g) => [g.name, g]));
  const liveFeatures = featuresByTarget(live);
  const fieldsOf = (changes: RegistryPlan["changes"][number]["changes"]) =>
    changes.map((c) => [c.field, c.to] as [string, unknown]);
  const statements: SQL[] = [];
  const dimensions = new Set<number>();
  for (const change of plan.changes) {
    const feature = liveFeatures.get(change.target);
    switch (change.action) {
      case "create_group": {
        const { features: _, status, ...group } = groups.get(change.target)!;
        statements.push(insertGroupSql(ctx, group));
        if (status && status !== "active") statements.push(updateGroupSql(sql`g.name = ${group.name}`, { status }));
        break;
      }
      case "update_group":
      case "archive_group":
        statements.push(updateGroupSql(sql`g.name = ${change.target}`, Object.fromEntries(fieldsOf(change.changes))));
        break;
      case "create_feature": {
        const { group, feature: declaredFeature } = declared.get(change.target)!;
        const { stage: _, status, ...input } = declaredFeature;
        if (input.embeddingDimension) dimensions.add(input.embeddingDimension);
        const groupId = sql`(SELECT id FROM ai_feature_groups WHERE name = ${group.name})`;
        statements.push(insertFeatureSql(ctx, groupId, input, "Declared (features as code)"));
        if (status && status !== "active")
          statements.push(
            sql`UPDATE ai_feature_definitions SET status = ${status} WHERE name = ${input.name} AND group_id = ${groupId}`,
          );
        break;
      }
      case "update_feature":
      case "archive_feature": {
        const dimension = change.changes.find((c) => c.field === "embeddingDimension")?.to;
        if (typeof dimension === "number") dimensions.add(dimension);
        statements.push(
          updateFeatureSql(ctx, {
            id: feature!.id,
            guard: sql`true`,
            changed: fieldsOf(change.changes),
            newVersion: change.version !== null,
            promote: change.version?.state === "promoted",
            changelog: `Declared (features as code): ${change.changes.map((c) => c.field).join(", ")}`,
          }),
        );
        break;
      }
      case "promote_version":
        statements.push(
          sql`UPDATE ai_feature_definitions SET current_version = ${change.version!.number}, updated_at = now()
              WHERE id = ${feature!.id}`,
        );
        break;
    }
  }
  return [...[...dimensions].map((d) => sql`SELECT ensure_embedding_index(${d})`), ...statements];
}

function breakingDetails(plan: RegistryPlan) {
  return plan.changes.flatMap((c) => c.breaking.map((message) => ({ path: c.target, message })));
}

export async function applyDeclaration(
  ctx: TenantContext,
  declaration: RegistryDeclaration,
  options: { allowBreaking?: boolean } = {},
) {
  for (let attempt = 1; ; attempt++) {
    const { plan, live } = await planDeclaration(ctx, declaration);
    if (plan.changes.length === 0) return { ...plan, applied: false };
    if (plan.summary.breaking && !options.allowBreaking)
      throw new AppError(
        "UNPROCESSABLE",
        `${plan.summary.breaking} change(s) would break readers; apply with allowBreaking to make them anyway`,
        breakingDetails(plan),
      );
    try {
      await tenantRows(ctx.db, ctx.tenantId, [
        ensureTenantRow(ctx.tenantId),
        sql`SELECT pg_advisory_xact_lock(hashtextextended(${`fs-registry-apply:${ctx.tenantId}`}, 0))`,
        ...expectUnchanged(plan, live),
        ...changeStatements(ctx, declaration, plan, live),
      ]);
    } catch (error) {
      const code = pgError(error)?.code;
      const replan = code === replanCode || code === pgCodes.uniqueViolation;
      if (!replan) throw error;
      if (attempt >= maxAttempts)
        throw new AppError("CONFLICT", "The registry kept changing while the declaration was applied; try again");
      continue;
    }
    await invalidateRegistryCache(ctx.env, ctx.tenantId);
    return { ...plan, applied: true };
  }
}
