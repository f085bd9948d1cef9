// @tistis/feature-store: the typed HTTP client, the Workers RPC helper and the features-as-code
// definitions. No runtime dependency: fetch, streams and AbortSignal are all it uses.
export { type FeatureStoreService, featureStoreBinding } from "./binding.ts";
export {
  type BatchOnlineValues,
  createFeatureStore,
  type FeatureStore,
  type FeatureStoreOptions,
  type OnlineValues,
} from "./client.ts";
export type * from "./contract.ts";
export {
  defineFeatures,
  type FeatureDeclaration,
  type FeatureName,
  type FeatureRegistry,
  type FeatureValue,
  type GroupDeclaration,
  type ValueOfType,
} from "./define.ts";
export { type ClientErrorCode, FeatureStoreError } from "./errors.ts";
export type { CallOptions, RetryOptions } from "./transport.ts";
