// The offline store's vocabulary: what a point-in-time read is asked and what it answers.
import type { ServedFeature } from "#shared/registry/snapshot.ts";

export interface TrainingSetRequest {
  entityType: string;
  features: ServedFeature[];
  asOfIngestion: boolean;
}

export interface StagedPair {
  entityId: string;
  /** ISO-8601 with offset, as the request gave it (Postgres keeps microseconds). */
  timestamp: string;
}

export interface PointInTimeCell {
  /** The value as JSON text, as Postgres wrote it. */
  json: string;
  /** The event's time; for an aggregate, its newest event's (null: an aggregate over no events). */
  eventMs: number | null;
}

export interface PointInTimeRow {
  entityId: string;
  /** The request's time, in epoch milliseconds. */
  timestampMs: number;
  /** One per requested feature, in request order; null when no value existed at the time. */
  cells: (PointInTimeCell | null)[];
}

export type PointInTimeStrategy = "merge" | "probe";
