// Request and response contracts of the serving worker (DESIGN.md, the seed's types).
import { z } from "@hono/zod-openapi";
import { isStorable, unstorableMessage } from "#shared/db/storable.ts";
import { msFromIso } from "#shared/features/iso-time.ts";
import { entityType } from "#shared/registry/schemas.ts";

const encoder = new TextEncoder();

/** Entity ids are opaque strings of at most 1 KiB (UTF-8): longer ones would not fit an index entry. */
export const entityId = z
  .string()
  .min(1)
  .max(1024)
  .refine(isStorable, unstorableMessage)
  // UTF-8 takes at most 3 bytes per UTF-16 unit: short ids need no encoding to be measured.
  .refine((id) => id.length * 3 <= 1024 || encoder.encode(id).length <= 1024, {
    message: "at most 1024 bytes (UTF-8)",
  });

export const featureName = z.string().min(1).max(260).refine(isStorable, unstorableMessage);
/** ISO-8601 with an offset. Year 0000 matches the pattern but PostgreSQL has no year 0. */
export const isoTimestamp = z.iso
  .datetime({ offset: true })
  .refine((t) => !t.startsWith("0000"), { message: "year 0000 does not exist; the earliest is 0001" });

export const onlineRequest = z
  .strictObject({
    entityType,
    entityId: entityId.optional(),
    entityIds: z.array(entityId).min(1).max(1000).optional(),
    features: z.array(featureName).min(1).max(200),
    timestamp: isoTimestamp.optional().openapi({ description: "Answer as of this time, from the offline store" }),
  })
  .refine((r) => (r.entityId === undefined) !== (r.entityIds === undefined), {
    message: "give exactly one of entityId or entityIds",
    path: ["entityId"],
  })
  .openapi("FeatureRequest");
export type OnlineRequest = z.infer<typeof onlineRequest>;

const status = z.enum(["PRESENT", "NOT_FOUND", "EXPIRED"]);
const entityFeatures = z.object({
  entityId: z.string(),
  features: z.record(z.string(), z.unknown()),
  timestamps: z.record(z.string(), z.string().nullable()),
  statuses: z.record(z.string(), status),
});
const metadata = z.object({
  source: z.enum(["online", "offline"]),
  latencyMs: z.number(),
  servedFrom: z.enum(["redis", "postgres", "redis+postgres"]),
  redis: z.enum(["hit", "partial", "unavailable", "disabled"]),
});

export const onlineResponse = entityFeatures.extend({ entityType, metadata }).openapi("FeatureResponse");
export const batchOnlineResponse = z
  .object({ entityType, results: z.array(entityFeatures), metadata })
  .openapi("BatchOnlineFeatureResponse");

export const maxPushRows = 1000;
export const pushRequest = z
  .strictObject({
    entityType,
    rows: z
      .array(
        z.strictObject({
          entityId,
          eventTimestamp: z.union([isoTimestamp, z.number().int().min(0)]),
          eventId: z.string().min(1).max(256).optional().openapi({
            description:
              "Aggregated stream features: the event's identity. Sent again it counts once; with a new value (or time) it restates the event. Without it, the event time is the identity",
          }),
          features: z
            .record(featureName, z.unknown())
            .refine((f) => Object.keys(f).length > 0, { message: "at least one feature" })
            .refine((f) => Object.keys(f).length <= 200, { message: "at most 200 features per row" }),
        }),
      )
      .min(1),
  })
  .openapi("PushRequest");

export const pushResponse = z
  .object({
    accepted: z.number().int(),
    rejected: z.number().int(),
    errors: z.array(
      z.object({
        row: z.number().int(),
        entityId: z.string(),
        reasons: z.array(z.object({ feature: z.string().nullable(), reason: z.string() })),
      }),
    ),
    offlineInserted: z.number().int().openapi({ description: "Values stored offline: new ones and restatements" }),
    restated: z.number().int().openapi({
      description: "Values that replaced a different value of the same feature version, entity and event time",
    }),
    unchanged: z.number().int().openapi({ description: "Values sent again as stored: nothing written" }),
    onlineUpdated: z.number().int(),
    cache: z.enum(["written", "unavailable", "disabled"]),
  })
  .openapi("PushResponse");

export const searchRequest = z
  .strictObject({
    feature: featureName,
    vector: z.array(z.number()).min(1).max(2000).optional(),
    entityId: entityId.optional(),
    entityType: entityType.optional(),
    k: z.number().int().min(1).max(100).default(10),
  })
  .refine((r) => (r.vector === undefined) !== (r.entityId === undefined), {
    message: "give exactly one of vector or entityId",
    path: ["vector"],
  })
  .openapi("EmbeddingSearchRequest");

export const searchResponse = z
  .object({
    feature: z.string(),
    results: z.array(z.object({ entityId: z.string(), distance: z.number(), eventTimestamp: z.string() })),
    metadata: z.object({
      latencyMs: z.number(),
      /** "hnsw" when the feature version has its own index or more vectors than EXACT_SEARCH_MAX_ROWS, else "exact". */
      strategy: z.enum(["exact", "hnsw"]),
      efSearch: z.number().int(),
    }),
  })
  .openapi("EmbeddingSearchResponse");

export const maxJsonPairs = 10_000;
export const maxStreamedPairs = 1_000_000;

export const historicalPair = z.strictObject({ entityId, timestamp: isoTimestamp });

export const historicalRequest = z
  .strictObject({
    entityType,
    entityTimestampPairs: z.array(historicalPair).min(1).max(maxStreamedPairs),
    features: z.array(featureName).min(1).max(200),
    asOfIngestion: z
      .boolean()
      .default(false)
      .openapi({ description: "Also require created_at <= timestamp (what the store knew then)" }),
  })
  .openapi("PointInTimeRequest");

export const historicalResponse = z
  .object({
    rows: z.array(
      z.object({
        entityId: z.string(),
        timestamp: z.string(),
        features: z.record(z.string(), z.unknown()),
        eventTimestamps: z.record(z.string(), z.string().nullable()),
        statuses: z.record(z.string(), z.enum(["PRESENT", "NOT_FOUND", "EXPIRED"])),
      }),
    ),
    metadata: z.object({ source: z.literal("offline"), totalRows: z.number().int(), latencyMs: z.number() }),
  })
  .openapi("PointInTimeResponse");

export const batchRequest = z
  .strictObject({
    entityType,
    entityIds: z.array(entityId).min(1).max(1000),
    features: z.array(featureName).min(1).max(200),
    startTime: isoTimestamp.optional(),
    endTime: isoTimestamp.optional(),
    limit: z.number().int().min(1).max(10_000).default(1000),
    cursor: z.string().max(2048).optional(),
  })
  .refine((r) => !r.startTime || !r.endTime || msFromIso(r.startTime) < msFromIso(r.endTime), {
    message: "startTime must be before endTime",
    path: ["endTime"],
  })
  .openapi("BatchFeatureRequest");

export const batchResponse = z
  .object({
    rows: z.array(
      z.object({ entityId: z.string(), eventTimestamp: z.string(), features: z.record(z.string(), z.unknown()) }),
    ),
    metadata: z.object({ totalRows: z.number().int(), latencyMs: z.number(), nextCursor: z.string().nullable() }),
  })
  .openapi("BatchFeatureResponse");
