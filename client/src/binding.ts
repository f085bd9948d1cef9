// The serving worker through a Workers service binding (its FeatureStore entrypoint): the
// same typed methods as the HTTP client, no public hop. Answers come back as RpcAnswer and
// failures are thrown as the same FeatureStoreError the HTTP client throws.
import type { RpcAnswer } from "../../workers/serving/src/rpc.ts";
import type { BatchOnlineValues, OnlineValues } from "./client.ts";
import type * as api from "./contract.ts";
import type { FeatureName } from "./define.ts";
import { FeatureStoreError } from "./errors.ts";

/** What a service binding to the serving worker's FeatureStore entrypoint offers. */
export interface FeatureStoreService {
  getOnline(token: string, request: api.OnlineRequest): Promise<RpcAnswer<unknown>>;
  push(token: string, request: api.PushRequest): Promise<RpcAnswer<unknown>>;
  searchEmbeddings(token: string, request: api.SearchRequest): Promise<RpcAnswer<unknown>>;
  getHistorical(token: string, request: api.HistoricalRequest): Promise<RpcAnswer<unknown>>;
  getBatch(token: string, request: api.BatchRequest): Promise<RpcAnswer<unknown>>;
}

async function unwrap<T>(answer: Promise<RpcAnswer<unknown>>): Promise<T> {
  const result = await answer;
  if (result.ok) return result.value as T;
  const { code, message, details, requestId } = result.error;
  throw new FeatureStoreError(
    code as FeatureStoreError["code"],
    message,
    result.status,
    details,
    requestId,
    result.retryAfterSeconds,
  );
}

export function featureStoreBinding<R = unknown>(
  service: FeatureStoreService,
  options: { token: string | (() => string | Promise<string>) },
) {
  const token = async () => (typeof options.token === "function" ? options.token() : options.token);
  return {
    async getOnline<Reg = R, N extends FeatureName<Reg> = FeatureName<Reg>>(
      request: Omit<api.OnlineRequest, "features" | "entityIds"> & { entityId: string; features: readonly N[] },
    ) {
      return unwrap<OnlineValues<Reg, N>>(service.getOnline(await token(), request as unknown as api.OnlineRequest));
    },
    async getOnlineBatch<Reg = R, N extends FeatureName<Reg> = FeatureName<Reg>>(
      request: Omit<api.OnlineRequest, "features" | "entityId"> & { entityIds: string[]; features: readonly N[] },
    ) {
      return unwrap<BatchOnlineValues<Reg, N>>(
        service.getOnline(await token(), request as unknown as api.OnlineRequest),
      );
    },
    push: async (request: api.PushRequest) => unwrap<api.PushResponse>(service.push(await token(), request)),
    searchEmbeddings: async (request: api.SearchRequest) =>
      unwrap<api.SearchResponse>(service.searchEmbeddings(await token(), request)),
    getHistorical: async (request: api.HistoricalRequest) =>
      unwrap<api.HistoricalResponse>(service.getHistorical(await token(), request)),
    getBatch: async (request: api.BatchRequest) => unwrap<api.BatchResponse>(service.getBatch(await token(), request)),
  };
}
