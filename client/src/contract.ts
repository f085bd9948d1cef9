// The wire contract, as types only: every request and answer type is inferred from the zod
// schemas the workers validate with (never copied), and erased when compiled, so the client
// carries no runtime dependency.
import type { z } from "zod";
import type { ErrorCode } from "../../shared/http/errors.ts";
import type * as declaration from "../../shared/registry/declaration.ts";
import type * as registry from "../../shared/registry/schemas.ts";
import type * as bootstrap from "../../workers/admin/src/routes/bootstrap.ts";
import type * as features from "../../workers/admin/src/routes/features.ts";
import type * as groups from "../../workers/admin/src/routes/groups.ts";
import type * as jobs from "../../workers/admin/src/routes/jobs.ts";
import type * as serving from "../../workers/serving/src/schemas.ts";

export type { ErrorCode };

export type OnlineRequest = z.input<typeof serving.onlineRequest>;
export type OnlineResponse = z.output<typeof serving.onlineResponse>;
export type BatchOnlineResponse = z.output<typeof serving.batchOnlineResponse>;
export type PushRequest = z.input<typeof serving.pushRequest>;
export type PushResponse = z.output<typeof serving.pushResponse>;
export type SearchRequest = z.input<typeof serving.searchRequest>;
export type SearchResponse = z.output<typeof serving.searchResponse>;
export type HistoricalRequest = z.input<typeof serving.historicalRequest>;
export type HistoricalResponse = z.output<typeof serving.historicalResponse>;
export type TrainingRow = HistoricalResponse["rows"][number];
export type BatchRequest = z.input<typeof serving.batchRequest>;
export type BatchResponse = z.output<typeof serving.batchResponse>;

export type EntityType = z.output<typeof registry.entityType>;
export type DataType = z.output<typeof registry.dataType>;
export type CreateGroup = z.input<typeof registry.createGroupBody>;
export type UpdateGroup = z.input<typeof registry.updateGroupBody>;
export type FeatureGroup = z.output<typeof registry.groupSchema>;
export type ListGroupsQuery = z.input<typeof groups.listGroupsQuery>;
export type CreateFeature = z.input<typeof registry.createFeatureBody>;
export type UpdateFeature = z.input<typeof registry.updateFeatureBody>;
export type FeatureDefinition = z.output<typeof registry.featureSchema>;
export type FeatureVersion = z.output<typeof registry.featureVersionSchema>;
export type VersionDiff = z.output<typeof registry.versionDiffSchema>;
export type FeatureVersionStats = z.output<typeof features.featureVersionStats>;
export type ListFeaturesQuery = z.input<typeof features.listFeaturesQuery>;
export type CreateJob = z.input<typeof registry.createJobBody>;
export type MaterializationJob = z.output<typeof registry.jobSchema>;
export type ListJobsQuery = z.input<typeof jobs.listJobsQuery>;
export type BootstrapReport = z.output<typeof bootstrap.bootstrapReport>;
export type Page<T> = { items: T[]; nextCursor: string | null };

export type RegistryDeclaration = z.input<typeof declaration.registryDeclaration>;
export type DeclaredGroup = z.input<typeof declaration.declaredGroup>;
export type DeclaredFeature = z.input<typeof declaration.declaredFeature>;
export type RegistryPlan = z.output<typeof declaration.registryPlan>;
export type PlannedChange = z.output<typeof declaration.plannedChange>;
export type ApplyResult = z.output<typeof declaration.applyResult>;
