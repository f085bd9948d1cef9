// Drizzle schema of migrations/*.sql. The migrations are the source of truth; the test
// test/schema-drift.test.ts fails when a column here and in the database disagree.
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  customType,
  date,
  doublePrecision,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

/** pgvector's `vector` without a fixed dimension: dimensions are per feature. */
export const vector = customType<{ data: number[]; driverData: string }>({
  dataType: () => "vector",
  toDriver: (value) => JSON.stringify(value),
  fromDriver: (value) => JSON.parse(value) as number[],
});

const tz = (name: string) => timestamp(name, { withTimezone: true, mode: "string" });
const createdAt = () => tz("created_at").notNull().defaultNow();

// Source tables (read by transformations).
export const tenants = pgTable("tenants", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull().default(""),
  createdAt: createdAt(),
});

export const users = pgTable("users", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  email: text("email"),
  displayName: text("display_name"),
  createdAt: createdAt(),
});

export const aiConversations = pgTable("ai_conversations", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  userId: uuid("user_id"),
  channel: text("channel").notNull().default("web"),
  status: text("status").notNull().default("open"),
  metadata: jsonb("metadata").notNull().default({}),
  createdAt: createdAt(),
  updatedAt: tz("updated_at"),
});

export const aiMessages = pgTable("ai_messages", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  conversationId: uuid("conversation_id").notNull(),
  role: text("role").notNull(),
  content: text("content").notNull().default(""),
  metadata: jsonb("metadata").notNull().default({}),
  createdAt: createdAt(),
});

export const aiFeedback = pgTable("ai_feedback", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  userId: uuid("user_id"),
  conversationId: uuid("conversation_id"),
  messageId: uuid("message_id"),
  rating: integer("rating").notNull(),
  comment: text("comment"),
  createdAt: createdAt(),
});

// Registry.
export const featureGroups = pgTable("ai_feature_groups", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  name: text("name").notNull(),
  displayName: text("display_name").notNull(),
  description: text("description"),
  entityType: text("entity_type").notNull(),
  entityIdColumn: text("entity_id_column").notNull().default("entity_id"),
  onlineEnabled: boolean("online_enabled").notNull().default(true),
  offlineEnabled: boolean("offline_enabled").notNull().default(true),
  ttlSeconds: integer("ttl_seconds"),
  status: text("status").notNull().default("active"),
  tags: jsonb("tags").$type<string[]>().notNull().default([]),
  createdAt: createdAt(),
  updatedAt: tz("updated_at").notNull().defaultNow(),
  createdBy: text("created_by"),
});

export const featureDefinitions = pgTable("ai_feature_definitions", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  groupId: uuid("group_id").notNull(),
  name: text("name").notNull(),
  displayName: text("display_name").notNull(),
  description: text("description"),
  dataType: text("data_type").notNull(),
  embeddingDimension: integer("embedding_dimension"),
  sourceType: text("source_type").notNull(),
  sourceConfig: jsonb("source_config"),
  transformationSql: text("transformation_sql"),
  aggregationType: text("aggregation_type"),
  windowSizeSeconds: integer("window_size_seconds"),
  /** Tile width of an aggregated stream feature: its windows end on these boundaries. */
  aggregationIntervalSeconds: integer("aggregation_interval_seconds").notNull().default(60),
  validationRules: jsonb("validation_rules"),
  status: text("status").notNull().default("active"),
  version: integer("version").notNull().default(1),
  /** The version reads answer; `version` above it is staged. */
  currentVersion: integer("current_version").notNull().default(1),
  tags: jsonb("tags").$type<string[]>().notNull().default([]),
  createdAt: createdAt(),
  updatedAt: tz("updated_at").notNull().defaultNow(),
  createdBy: text("created_by"),
});

export const featureVersions = pgTable("ai_feature_versions", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  featureId: uuid("feature_id").notNull(),
  version: integer("version").notNull(),
  changelog: text("changelog"),
  definitionSnapshot: jsonb("definition_snapshot").notNull(),
  stats: jsonb("stats"),
  createdAt: createdAt(),
  createdBy: text("created_by"),
});

// Offline store.
export const featureValues = pgTable(
  "ai_feature_values",
  {
    id: uuid("id").notNull().defaultRandom(),
    tenantId: uuid("tenant_id").notNull(),
    featureId: uuid("feature_id").notNull(),
    featureVersion: integer("feature_version").notNull().default(1),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    value: jsonb("value").notNull(),
    valueType: text("value_type").notNull(),
    eventTimestamp: tz("event_timestamp").notNull(),
    createdAt: createdAt(),
    /** Ingestion order (a global sequence): the latest ingestion of an event time wins. */
    ingestSeq: bigint("ingest_seq", { mode: "number" }).notNull(),
    /** An aggregated stream event's id, when its push gave one (migration 0012). */
    eventId: text("event_id"),
    partitionKey: date("partition_key").generatedAlwaysAs(sql`((event_timestamp AT TIME ZONE 'UTC')::date)`),
  },
  (t) => [primaryKey({ columns: [t.id, t.eventTimestamp] })],
);

export const featureEmbeddings = pgTable("ai_feature_embeddings", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  featureId: uuid("feature_id").notNull(),
  featureVersion: integer("feature_version").notNull().default(1),
  entityType: text("entity_type").notNull(),
  entityId: text("entity_id").notNull(),
  embedding: vector("embedding").notNull(),
  dimension: integer("dimension").generatedAlwaysAs(sql`vector_dims(embedding)`),
  modelVersion: text("model_version").notNull().default("text-embedding-3-small"),
  eventTimestamp: tz("event_timestamp").notNull(),
  createdAt: createdAt(),
  ingestSeq: bigint("ingest_seq", { mode: "number" }).notNull(),
});

// Online store.
export const featureOnline = pgTable(
  "ai_feature_online",
  {
    tenantId: uuid("tenant_id").notNull(),
    featureId: uuid("feature_id").notNull(),
    featureVersion: integer("feature_version").notNull().default(1),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    value: jsonb("value").notNull(),
    valueType: text("value_type").notNull(),
    eventTimestamp: tz("event_timestamp").notNull(),
    ingestSeq: bigint("ingest_seq", { mode: "number" }).notNull().default(0),
    updatedAt: tz("updated_at").notNull().defaultNow(),
    expiresAt: tz("expires_at"),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.featureId, t.featureVersion, t.entityType, t.entityId] })],
);

export const featureEmbeddingsOnline = pgTable(
  "ai_feature_embeddings_online",
  {
    tenantId: uuid("tenant_id").notNull(),
    featureId: uuid("feature_id").notNull(),
    featureVersion: integer("feature_version").notNull().default(1),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    embedding: vector("embedding").notNull(),
    dimension: integer("dimension").generatedAlwaysAs(sql`vector_dims(embedding)`),
    eventTimestamp: tz("event_timestamp").notNull(),
    ingestSeq: bigint("ingest_seq", { mode: "number" }).notNull().default(0),
    updatedAt: tz("updated_at").notNull().defaultNow(),
    expiresAt: tz("expires_at"),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.featureId, t.featureVersion, t.entityType, t.entityId] })],
);

// Jobs.
export const materializationJobs = pgTable("ai_feature_materialization_jobs", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  featureGroupId: uuid("feature_group_id").notNull(),
  jobType: text("job_type").notNull(),
  startTime: tz("start_time").notNull(),
  endTime: tz("end_time").notNull(),
  status: text("status").notNull().default("pending"),
  progress: doublePrecision("progress").notNull().default(0),
  errorMessage: text("error_message"),
  featureVersion: integer("feature_version"),
  rowsProcessed: bigint("rows_processed", { mode: "number" }).notNull().default(0),
  rowsUnchanged: bigint("rows_unchanged", { mode: "number" }).notNull().default(0),
  rowsFailed: bigint("rows_failed", { mode: "number" }).notNull().default(0),
  failureSamples: jsonb("failure_samples").notNull().default([]),
  durationMs: bigint("duration_ms", { mode: "number" }),
  leaseOwner: text("lease_owner"),
  leaseExpiresAt: tz("lease_expires_at"),
  attempts: integer("attempts").notNull().default(0),
  createdAt: createdAt(),
  startedAt: tz("started_at"),
  completedAt: tz("completed_at"),
  createdBy: text("created_by"),
});

// A job's units (window × feature version): its progress and counts are their sums.
export const materializationUnits = pgTable(
  "ai_feature_materialization_units",
  {
    tenantId: uuid("tenant_id").notNull(),
    jobId: uuid("job_id").notNull(),
    unitIndex: integer("unit_index").notNull(),
    featureField: text("feature_field").notNull(),
    windowStart: tz("window_start").notNull(),
    windowEnd: tz("window_end").notNull(),
    status: text("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    rowsWritten: bigint("rows_written", { mode: "number" }).notNull().default(0),
    rowsUnchanged: bigint("rows_unchanged", { mode: "number" }).notNull().default(0),
    rowsFailed: bigint("rows_failed", { mode: "number" }).notNull().default(0),
    failureSamples: jsonb("failure_samples").notNull().default([]),
    seqLow: bigint("seq_low", { mode: "bigint" }),
    seqHigh: bigint("seq_high", { mode: "bigint" }),
    redisAfter: bigint("redis_after", { mode: "bigint" }),
    lastError: text("last_error"),
    updatedAt: tz("updated_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.unitIndex] })],
);

// Ingestion ranges whose Redis write failed after Postgres committed them (cache-repair.ts).
export const cacheRepairs = pgTable("ai_feature_cache_repairs", {
  id: bigint("id", { mode: "number" }).primaryKey(), // BIGSERIAL: the database draws it
  tenantId: uuid("tenant_id").notNull(),
  featureId: uuid("feature_id").notNull(),
  featureVersion: integer("feature_version").notNull(),
  groupId: uuid("group_id").notNull(),
  embedding: boolean("embedding").notNull(),
  seqLow: bigint("seq_low", { mode: "bigint" }).notNull(),
  seqHigh: bigint("seq_high", { mode: "bigint" }).notNull(),
  /** Tile repairs: the entities whose tile sets are dropped (migration 0012). */
  tileEntities: text("tile_entities").array(),
  createdAt: createdAt(),
});

/** Aggregated stream features' tiles: partial aggregates of current events (migration 0013). */
export const featureTiles = pgTable(
  "ai_feature_tiles",
  {
    tenantId: uuid("tenant_id").notNull(),
    featureId: uuid("feature_id").notNull(),
    featureVersion: integer("feature_version").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    tile: bigint("tile", { mode: "number" }).notNull(),
    tileEnd: tz("tile_end").notNull(),
    n: integer("n").notNull(),
    sum: doublePrecision("sum").notNull(),
    min: doublePrecision("min"),
    max: doublePrecision("max"),
    firstMs: doublePrecision("first_ms"),
    firstSeq: bigint("first_seq", { mode: "number" }),
    firstJson: text("first_json"),
    lastMs: doublePrecision("last_ms"),
    lastSeq: bigint("last_seq", { mode: "number" }),
    lastJson: text("last_json"),
    rev: bigint("rev", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.featureId, t.featureVersion, t.entityType, t.entityId, t.tile] })],
);

/** Where each pushed event id lives now (migration 0014). */
export const featureEventTimes = pgTable(
  "ai_feature_event_times",
  {
    tenantId: uuid("tenant_id").notNull(),
    featureId: uuid("feature_id").notNull(),
    featureVersion: integer("feature_version").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    eventId: text("event_id").notNull(),
    eventTimestamp: tz("event_timestamp").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.featureId, t.featureVersion, t.entityType, t.entityId, t.eventId] })],
);

/** Every table that carries tenant data, with the column that names the tenant. */
export const tenantTables = {
  tenants: { table: tenants, tenantColumn: "id" },
  users: { table: users, tenantColumn: "tenant_id" },
  ai_conversations: { table: aiConversations, tenantColumn: "tenant_id" },
  ai_messages: { table: aiMessages, tenantColumn: "tenant_id" },
  ai_feedback: { table: aiFeedback, tenantColumn: "tenant_id" },
  ai_feature_groups: { table: featureGroups, tenantColumn: "tenant_id" },
  ai_feature_definitions: { table: featureDefinitions, tenantColumn: "tenant_id" },
  ai_feature_versions: { table: featureVersions, tenantColumn: "tenant_id" },
  ai_feature_values: { table: featureValues, tenantColumn: "tenant_id" },
  ai_feature_embeddings: { table: featureEmbeddings, tenantColumn: "tenant_id" },
  ai_feature_online: { table: featureOnline, tenantColumn: "tenant_id" },
  ai_feature_embeddings_online: { table: featureEmbeddingsOnline, tenantColumn: "tenant_id" },
  ai_feature_materialization_jobs: { table: materializationJobs, tenantColumn: "tenant_id" },
  ai_feature_materialization_units: { table: materializationUnits, tenantColumn: "tenant_id" },
  ai_feature_cache_repairs: { table: cacheRepairs, tenantColumn: "tenant_id" },
  ai_feature_tiles: { table: featureTiles, tenantColumn: "tenant_id" },
  ai_feature_event_times: { table: featureEventTimes, tenantColumn: "tenant_id" },
} as const;
