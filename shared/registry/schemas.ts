// The registry's contract: request bodies (strict: unknown fields are errors) and the
// shapes returned. The same schemas validate requests, type handlers and generate OpenAPI.
import { z } from "@hono/zod-openapi";
import { isStorable, unstorableMessage, unstorablePath } from "#shared/db/storable.ts";

const TEN_YEARS = 10 * 365 * 24 * 3600;

export const identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "letters, digits and _, not starting with a digit");

export const entityType = z.enum(["tenant", "user", "conversation", "message"]);
export const dataType = z.enum(["int64", "float64", "string", "bool", "timestamp", "array", "embedding"]);
export const sourceType = z.enum(["batch", "stream", "on_demand"]);
export const aggregationType = z.enum(["sum", "avg", "count", "max", "min", "last", "first"]);
export const groupStatus = z.enum(["active", "deprecated", "archived"]);
export const featureStatus = z.enum(["active", "deprecated", "archived"]);

/** A string Postgres can store (no U+0000, no lone surrogate). */
const text = () => z.string().refine(isStorable, unstorableMessage);
const displayName = text().trim().min(1).max(256);
const description = text().max(4096);
const tags = z.array(text().min(1).max(64)).max(50);
const timestamp = z.string().openapi({ format: "date-time" });

export const validationRules = z
  .strictObject({
    min: z.number().optional(),
    max: z.number().optional(),
    notNull: z.boolean().optional(),
    pattern: text().min(1).max(512).optional(),
    allowedValues: z
      .array(z.union([text().max(1024), z.number(), z.boolean()]))
      .min(1)
      .max(1000)
      .optional(),
  })
  .openapi("ValidationRules");
export type ValidationRules = z.infer<typeof validationRules>;

// ---------- groups ----------

export const createGroupBody = z
  .strictObject({
    name: identifier,
    displayName,
    description: description.optional(),
    entityType,
    entityIdColumn: identifier.optional(),
    onlineEnabled: z.boolean().optional(),
    offlineEnabled: z.boolean().optional(),
    ttlSeconds: z.number().int().positive().max(TEN_YEARS).nullable().optional(),
    tags: tags.optional(),
  })
  .openapi("CreateFeatureGroup");

export const updateGroupBody = z
  .strictObject({
    displayName: displayName.optional(),
    description: description.nullable().optional(),
    onlineEnabled: z.boolean().optional(),
    offlineEnabled: z.boolean().optional(),
    ttlSeconds: z.number().int().positive().max(TEN_YEARS).nullable().optional(),
    status: groupStatus.optional(),
    tags: tags.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "nothing to update" })
  .openapi("UpdateFeatureGroup");

export const groupSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    name: z.string(),
    displayName: z.string(),
    description: z.string().nullable(),
    entityType,
    entityIdColumn: z.string(),
    onlineEnabled: z.boolean(),
    offlineEnabled: z.boolean(),
    ttlSeconds: z.number().int().nullable(),
    status: groupStatus,
    tags: z.array(z.string()),
    createdAt: timestamp,
    updatedAt: timestamp,
    createdBy: z.string().nullable(),
  })
  .openapi("FeatureGroup");
export type FeatureGroup = z.infer<typeof groupSchema>;

// ---------- features ----------

/** Fields whose change alters what the values mean: changing any makes a new version. */
export const versionedFields = [
  "dataType",
  "embeddingDimension",
  "sourceType",
  "sourceConfig",
  "transformationSql",
  "aggregationType",
  "windowSizeSeconds",
  "aggregationIntervalSeconds",
  "validationRules",
] as const;

const definitionFields = {
  displayName,
  description: description.nullable().optional(),
  dataType,
  embeddingDimension: z.number().int().min(1).max(2000).nullable().optional(),
  sourceType,
  sourceConfig: z
    .record(z.string(), z.unknown())
    .superRefine((config, ctx) => {
      const path = unstorablePath(config);
      if (path) ctx.addIssue({ code: "custom", path, message: unstorableMessage });
    })
    .nullable()
    .optional(),
  transformationSql: text().trim().min(1).max(20_000).nullable().optional(),
  aggregationType: aggregationType.nullable().optional(),
  windowSizeSeconds: z.number().int().positive().max(TEN_YEARS).nullable().optional(),
  aggregationIntervalSeconds: z.number().int().min(1).max(86_400).optional().openapi({
    description:
      "Aggregated stream features: the tile width. A window answered at time t ends at the last multiple of this interval <= t (default 60)",
  }),
  validationRules: validationRules.nullable().optional(),
  tags: tags.optional(),
};

export const createFeatureBody = z
  .strictObject({
    name: identifier,
    ...definitionFields,
    changelog: text().max(1000).optional(),
  })
  .openapi("CreateFeature");

export const updateFeatureBody = z
  .strictObject({
    displayName: displayName.optional(),
    description: definitionFields.description,
    dataType: dataType.optional(),
    embeddingDimension: definitionFields.embeddingDimension,
    sourceType: sourceType.optional(),
    sourceConfig: definitionFields.sourceConfig,
    transformationSql: definitionFields.transformationSql,
    aggregationType: definitionFields.aggregationType,
    windowSizeSeconds: definitionFields.windowSizeSeconds,
    aggregationIntervalSeconds: definitionFields.aggregationIntervalSeconds,
    validationRules: definitionFields.validationRules,
    status: featureStatus.optional(),
    tags: tags.optional(),
    changelog: text().max(1000).optional(),
    promote: z.boolean().optional().openapi({
      description:
        "false: a change that makes a new version stages it (jobs and pushes write it; reads keep the current version until POST …/versions/{n}/promote). Default true",
    }),
  })
  .refine((b) => Object.keys(b).some((k) => k !== "changelog" && k !== "promote"), { message: "nothing to update" })
  .openapi("UpdateFeature");
export type UpdateFeatureBody = z.infer<typeof updateFeatureBody>;

export const featureSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    groupId: z.uuid(),
    name: z.string(),
    displayName: z.string(),
    description: z.string().nullable(),
    dataType,
    embeddingDimension: z.number().int().nullable(),
    sourceType,
    sourceConfig: z.record(z.string(), z.unknown()).nullable(),
    transformationSql: z.string().nullable(),
    aggregationType: aggregationType.nullable(),
    windowSizeSeconds: z.number().int().nullable(),
    aggregationIntervalSeconds: z.number().int(),
    validationRules: validationRules.nullable(),
    status: featureStatus,
    version: z.number().int().openapi({ description: "The latest version (the staged one when there is one)" }),
    currentVersion: z.number().int().openapi({ description: "The version reads of the feature's name answer" }),
    stagedVersion: z.number().int().nullable().openapi({ description: "A version written but not read yet" }),
    tags: z.array(z.string()),
    createdAt: timestamp,
    updatedAt: timestamp,
    createdBy: z.string().nullable(),
  })
  .openapi("FeatureDefinition");
export type FeatureDefinition = z.infer<typeof featureSchema>;

export const featureStatsSchema = z
  .object({
    mean: z.number().nullable().optional(),
    std: z.number().nullable().optional(),
    min: z.number().nullable().optional(),
    max: z.number().nullable().optional(),
    nullRate: z.number().nullable().optional(),
    uniqueCount: z.number().int().nullable().optional(),
    histogram: z.record(z.string(), z.number()).optional(),
    count: z.number().int().optional(),
    computedAt: timestamp.optional(),
  })
  .openapi("FeatureStats");

export const featureVersionSchema = z
  .object({
    id: z.uuid(),
    featureId: z.uuid(),
    version: z.number().int(),
    changelog: z.string().nullable(),
    definitionSnapshot: featureSchema,
    stats: featureStatsSchema.nullable(),
    createdAt: timestamp,
    createdBy: z.string().nullable(),
  })
  .openapi("FeatureVersion");
export type FeatureVersion = z.infer<typeof featureVersionSchema>;

export const versionDiffSchema = z
  .object({
    featureId: z.uuid(),
    from: z.number().int(),
    to: z.number().int(),
    changes: z.array(z.object({ field: z.string(), from: z.unknown(), to: z.unknown() })),
  })
  .openapi("FeatureVersionDiff");

// ---------- jobs ----------

export const jobType = z.enum(["full", "incremental", "point_in_time"]);
export const jobStatus = z.enum(["pending", "running", "completed", "failed", "cancelled"]);

export const createJobBody = z
  .strictObject({
    featureGroupId: z.uuid(),
    jobType,
    startTime: z.iso.datetime({ offset: true }),
    endTime: z.iso.datetime({ offset: true }),
    featureVersion: z.number().int().min(1).max(1_000_000).optional().openapi({
      description: "Write only this version of the group's features (default: each one's current and staged versions)",
    }),
  })
  .openapi("CreateMaterializationJob");

export const jobSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    featureGroupId: z.uuid(),
    jobType,
    featureVersion: z.number().int().nullable(),
    startTime: timestamp,
    endTime: timestamp,
    status: jobStatus,
    progress: z.number().openapi({ description: "Percent done, 0-100" }),
    errorMessage: z.string().nullable(),
    rowsProcessed: z.number().int().openapi({ description: "Values written or restated" }),
    rowsUnchanged: z.number().int().openapi({ description: "Values computed again as they were stored" }),
    rowsFailed: z.number().int(),
    failureSamples: z.array(z.unknown()),
    durationMs: z.number().int().nullable(),
    attempts: z.number().int(),
    createdAt: timestamp,
    startedAt: timestamp.nullable(),
    completedAt: timestamp.nullable(),
    createdBy: z.string().nullable(),
  })
  .openapi("MaterializationJob");
export type MaterializationJob = z.infer<typeof jobSchema>;

export const uuidParam = z.uuid();
