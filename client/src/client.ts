// createFeatureStore: every serving and admin route as a typed method. Types come from the
// workers' own zod schemas (contract.ts); values are typed per feature when given a declared
// registry, for the whole client (createFeatureStore<typeof features>(…)) or one read
// (store.getOnline<typeof features>(…)).
import type * as api from "./contract.ts";
import type { FeatureName, FeatureValue } from "./define.ts";
import { trainingRows } from "./training-rows.ts";
import { type CallOptions, createTransport, type TransportOptions } from "./transport.ts";

export interface FeatureStoreOptions extends TransportOptions {
  /** The serving worker, e.g. http://localhost:8787. */
  url: string;
  /** The admin worker (default: `url`, for a deployment that routes /v1/admin/* to it on one host). */
  adminUrl?: string;
}

type Typed<R, N extends string> = {
  features: { [K in N]: FeatureValue<R, K> | null };
  timestamps: { [K in N]: string | null };
  statuses: { [K in N]: "PRESENT" | "NOT_FOUND" | "EXPIRED" };
};
export type OnlineValues<R, N extends string> = Omit<api.OnlineResponse, "features" | "timestamps" | "statuses"> &
  Typed<R, N>;
export type BatchOnlineValues<R, N extends string> = Omit<api.BatchOnlineResponse, "results"> & {
  results: (Omit<api.BatchOnlineResponse["results"][number], "features" | "timestamps" | "statuses"> & Typed<R, N>)[];
};
type Names<N> = { features: readonly N[] };

const query = (params: object = {}) => {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined);
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)]))}` : "";
};
const part = encodeURIComponent;

export function createFeatureStore<R = unknown>(options: FeatureStoreOptions) {
  const transport = createTransport(options);
  const serving = options.url.replace(/\/+$/, "");
  const admin = (options.adminUrl ?? options.url).replace(/\/+$/, "");
  const post = <T>(base: string, path: string, body: unknown, idempotent = true, o?: CallOptions) =>
    transport.json<T>({ method: "POST", url: `${base}${path}`, body, idempotent }, o);
  const get = <T>(path: string, o?: CallOptions) =>
    transport.json<T>({ method: "GET", url: `${admin}${path}`, idempotent: true }, o);
  const patch = <T>(path: string, body: unknown, o?: CallOptions) =>
    transport.json<T>({ method: "PATCH", url: `${admin}${path}`, body, idempotent: true }, o);

  return {
    // ---------- serving ----------
    /** Latest values of one entity; with `timestamp`, the values as of then (offline). */
    getOnline<Reg = R, N extends FeatureName<Reg> = FeatureName<Reg>>(
      request: Omit<api.OnlineRequest, "features" | "entityIds"> & { entityId: string } & Names<N>,
      o?: CallOptions,
    ) {
      return post<OnlineValues<Reg, N>>(serving, "/v1/features/online", request, true, o);
    },
    /** Latest values of up to 1,000 entities in one call. */
    getOnlineBatch<Reg = R, N extends FeatureName<Reg> = FeatureName<Reg>>(
      request: Omit<api.OnlineRequest, "features" | "entityId"> & { entityIds: string[] } & Names<N>,
      o?: CallOptions,
    ) {
      return post<BatchOnlineValues<Reg, N>>(serving, "/v1/features/online", request, true, o);
    },
    /** Pushes rows; sent again, a row is a no-op, so a retried push is safe. */
    push(request: api.PushRequest, o?: CallOptions) {
      return post<api.PushResponse>(serving, "/v1/features/push", request, true, o);
    },
    searchEmbeddings(request: api.SearchRequest, o?: CallOptions) {
      return post<api.SearchResponse>(serving, "/v1/embeddings/search", request, true, o);
    },
    /** A point-in-time training set as one JSON answer (up to 10,000 pairs). */
    getHistorical(request: api.HistoricalRequest, o?: CallOptions) {
      return post<api.HistoricalResponse>(serving, "/v1/features/historical", request, true, o);
    },
    /**
     * A point-in-time training set streamed as NDJSON (up to 1,000,000 pairs), row by row:
     * `for await (const row of store.trainingSet(request, { signal }))`.
     */
    async *trainingSet(request: api.HistoricalRequest, o: CallOptions = {}): AsyncGenerator<api.TrainingRow> {
      const response = await transport.send(
        { method: "POST", url: `${serving}/v1/features/historical`, body: request, idempotent: true },
        { ...o, headers: { ...o.headers, accept: "application/x-ndjson" } },
      );
      yield* trainingRows(response, o.signal);
    },
    getBatch(request: api.BatchRequest, o?: CallOptions) {
      return post<api.BatchResponse>(serving, "/v1/features/batch", request, true, o);
    },

    // ---------- admin: groups ----------
    createGroup: (body: api.CreateGroup, o?: CallOptions) =>
      post<api.FeatureGroup>(admin, "/v1/admin/groups", body, true, o),
    listGroups: (q?: api.ListGroupsQuery, o?: CallOptions) =>
      get<api.Page<api.FeatureGroup>>(`/v1/admin/groups${query(q)}`, o),
    getGroup: (id: string, o?: CallOptions) => get<api.FeatureGroup>(`/v1/admin/groups/${part(id)}`, o),
    updateGroup: (id: string, body: api.UpdateGroup, o?: CallOptions) =>
      patch<api.FeatureGroup>(`/v1/admin/groups/${part(id)}`, body, o),
    archiveGroup: (id: string, o?: CallOptions) =>
      post<api.FeatureGroup>(admin, `/v1/admin/groups/${part(id)}/archive`, undefined, true, o),

    // ---------- admin: features ----------
    createFeature: (group: string, body: api.CreateFeature, o?: CallOptions) =>
      post<api.FeatureDefinition>(admin, `/v1/admin/groups/${part(group)}/features`, body, true, o),
    listFeatures: (q?: api.ListFeaturesQuery, o?: CallOptions) =>
      get<api.Page<api.FeatureDefinition>>(`/v1/admin/features${query(q)}`, o),
    /** By id or "group.feature". */
    getFeature: (ref: string, o?: CallOptions) => get<api.FeatureDefinition>(`/v1/admin/features/${part(ref)}`, o),
    updateFeature: (ref: string, body: api.UpdateFeature, o?: CallOptions) =>
      patch<api.FeatureDefinition>(`/v1/admin/features/${part(ref)}`, body, o),
    listVersions: (ref: string, o?: CallOptions) =>
      get<{ items: api.FeatureVersion[] }>(`/v1/admin/features/${part(ref)}/versions`, o),
    getVersion: (ref: string, version: number, o?: CallOptions) =>
      get<api.FeatureVersion>(`/v1/admin/features/${part(ref)}/versions/${version}`, o),
    promoteVersion: (ref: string, version: number, o?: CallOptions) =>
      post<api.FeatureDefinition>(
        admin,
        `/v1/admin/features/${part(ref)}/versions/${version}/promote`,
        undefined,
        true,
        o,
      ),
    diffVersions: (ref: string, from: number, to: number, o?: CallOptions) =>
      get<api.VersionDiff>(`/v1/admin/features/${part(ref)}/diff${query({ from, to })}`, o),
    getStats: (ref: string, version?: number, o?: CallOptions) =>
      get<api.FeatureVersionStats>(`/v1/admin/features/${part(ref)}/stats${query({ version })}`, o),

    // ---------- admin: bootstrap, jobs, features as code ----------
    bootstrap: (o?: CallOptions) => post<api.BootstrapReport>(admin, "/v1/admin/bootstrap", undefined, true, o),
    /** Not retried after a 503 or a network failure: the job may have been created. */
    createJob: (body: api.CreateJob, o?: CallOptions) =>
      post<api.MaterializationJob>(admin, "/v1/admin/jobs", body, false, o),
    listJobs: (q?: api.ListJobsQuery, o?: CallOptions) =>
      get<api.Page<api.MaterializationJob>>(`/v1/admin/jobs${query(q)}`, o),
    getJob: (id: string, o?: CallOptions) => get<api.MaterializationJob>(`/v1/admin/jobs/${part(id)}`, o),
    cancelJob: (id: string, o?: CallOptions) =>
      post<api.MaterializationJob>(admin, `/v1/admin/jobs/${part(id)}/cancel`, undefined, true, o),
    plan: (declaration: api.RegistryDeclaration, o?: CallOptions) =>
      post<api.RegistryPlan>(admin, "/v1/admin/registry/plan", { declaration }, true, o),
    apply: (declaration: api.RegistryDeclaration, options: { allowBreaking?: boolean } = {}, o?: CallOptions) =>
      post<api.ApplyResult>(admin, "/v1/admin/registry/apply", { declaration, ...options }, true, o),
  };
}
export type FeatureStore<R = unknown> = ReturnType<typeof createFeatureStore<R>>;
