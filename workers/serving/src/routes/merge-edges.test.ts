// The one-pass read of large training sets (merge.ts) on the edges a binary search can get
// wrong: a value at exactly the requested time, a request before the first value, an entity
// with no history, restatements of one event time (the latest ingestion wins), a staged
// version beside the served one, and embeddings next to scalars. Its answer must be the
// probes' answer and the one worked out here by hand.
import { describe, expect, it } from "vitest";
import { apiClient } from "#harness/http.ts";
import { defineFeatures, testTenantContext } from "#harness/registry.ts";
import { updateFeature } from "#shared/registry/features.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const T0 = Date.UTC(2026, 0, 5);
/** An entity id with what array literals and delimited lines must escape. */
const odd = 'q"u,o{t}e\\ NULL\x1f é';
const at = (hours: number) => new Date(T0 + hours * 3_600_000).toISOString();

describe("point-in-time merge on the edges", () => {
  it("answers what the probes answer, cell by cell, and what the history says", async () => {
    const ctx = testTenantContext();
    await defineFeatures(ctx, [
      {
        name: "g",
        entityType: "user",
        features: [
          { name: "n", dataType: "int64" },
          { name: "vec", dataType: "embedding", embeddingDimension: 2 },
        ],
      },
    ]);
    const client = api.as(ctx.tenantId, ["features:read", "features:write"]);
    const push = async (rows: { entityId: string; eventTimestamp: string; features: Record<string, unknown> }[]) =>
      expect((await client.post("/v1/features/push", { entityType: "user", rows })).status).toBe(200);
    await push([
      { entityId: "a", eventTimestamp: at(1), features: { n: 1, vec: [1, 0] } },
      { entityId: "a", eventTimestamp: at(5), features: { n: 5 } },
      { entityId: "b", eventTimestamp: at(3), features: { n: 30, vec: [0, 1] } },
      // Staged through a Postgres array and sent back in a delimited line: quoted, escaped.
      { entityId: odd, eventTimestamp: at(2), features: { n: 7 } },
    ]);
    // Restatements of a's value at hour 5 and of b's vector at hour 3: later ingestions.
    await push([{ entityId: "a", eventTimestamp: at(5), features: { n: 55 } }]);
    await push([{ entityId: "b", eventTimestamp: at(3), features: { vec: [0.5, 0.5] } }]);
    // Version 2 of n is staged, not served: its values must not show.
    await updateFeature(ctx, "g.n", { dataType: "string", promote: false });
    await push([{ entityId: "a", eventTimestamp: at(6), features: { "n@v2": "staged" } }]);

    const pairs = [
      { entityId: "a", timestamp: at(0) }, // before a's first value
      { entityId: "a", timestamp: at(1) }, // exactly at a value's event time
      { entityId: "a", timestamp: at(4) },
      { entityId: "a", timestamp: at(5) }, // at the restated time: the restatement
      { entityId: "a", timestamp: at(9) },
      { entityId: "b", timestamp: at(3) },
      { entityId: "c", timestamp: at(9) }, // no history at all
      { entityId: "a", timestamp: at(4) }, // a request asked twice keeps both rows, in order
      { entityId: odd, timestamp: at(2) },
    ];
    const read = async (strategy: "merge" | "probe", features = ["g.n", "g.vec"]) => {
      const response = await apiClient(worker, { PIT_STRATEGY: strategy })
        .as(ctx.tenantId, ["features:read"])
        .call("/v1/features/historical", {
          method: "POST",
          body: { entityType: "user", entityTimestampPairs: pairs, features },
          headers: { accept: "application/x-ndjson" },
        });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-point-in-time-strategy")).toBe(strategy);
      return response.text
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line));
    };
    const merged = await read("merge");
    expect(merged).toEqual(await read("probe"));
    // Scalars share one probe per pair and embeddings have their own: asked in another
    // order, each column still gets its own feature's values.
    for (const strategy of ["probe", "merge"] as const) {
      const reversed = await read(strategy, ["g.vec", "g.n"]);
      expect(reversed.map((r) => [r.features["g.n"], r.features["g.vec"], r.eventTimestamps["g.vec"]])).toEqual(
        merged.map((r) => [r.features["g.n"], r.features["g.vec"], r.eventTimestamps["g.vec"]]),
      );
    }
    expect(merged.map((r) => [r.entityId, r.features["g.n"], r.features["g.vec"], r.eventTimestamps["g.n"]])).toEqual([
      ["a", null, null, null],
      ["a", 1, [1, 0], at(1)],
      ["a", 1, [1, 0], at(1)],
      ["a", 55, [1, 0], at(5)],
      ["a", 55, [1, 0], at(5)],
      ["b", 30, [0.5, 0.5], at(3)],
      ["c", null, null, null],
      ["a", 1, [1, 0], at(1)],
      [odd, 7, null, at(2)],
    ]);
    expect(merged[0].statuses).toEqual({ "g.n": "NOT_FOUND", "g.vec": "NOT_FOUND" });
  });
});
