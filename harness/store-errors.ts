// The FeatureStoreError a client call throws (the test fails when it throws nothing, or
// something else): shared by the client's HTTP tests and the Workers RPC tests.
import { expect } from "vitest";
import { FeatureStoreError } from "../client/src/errors.ts";

export async function failure(call: Promise<unknown>): Promise<FeatureStoreError> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FeatureStoreError);
  return error as FeatureStoreError;
}
