// workerd treats every named export of a worker's main module as an entrypoint: each worker
// exports its default handler and only the entrypoints it means to offer.
import { describe, expect, it } from "vitest";
import * as admin from "../workers/admin/src/index.ts";
import * as cron from "../workers/cron/src/index.ts";
import * as serving from "../workers/serving/src/index.ts";

describe("worker entrypoints", () => {
  it.each([
    ["serving", serving, ["FeatureStore", "default"]],
    ["admin", admin, ["default"]],
    ["cron", cron, ["default"]],
  ])("the %s worker exports %j", (_, module, expected) => {
    expect(Object.keys(module).sort()).toEqual(expected);
  });
});
