// The client from Node against the serving and admin workers served over HTTP: every route,
// typed values, error codes, retries, timeouts and the streamed training set.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, expectTypeOf, inject, it } from "vitest";
import { type ServedWorkers, serveWorkers } from "../../harness/served-workers.ts";
import { failure } from "../../harness/store-errors.ts";
import { allScopes, signToken } from "../../harness/tokens.ts";
import { createFeatureStore, defineFeatures, type FeatureStore } from "../src/index.ts";

const features = defineFeatures({
  user: {
    displayName: "Users",
    entityType: "user",
    features: {
      score: { displayName: "Score", dataType: "float64", sourceType: "stream", validationRules: { min: 0, max: 1 } },
      plan: { displayName: "Plan", dataType: "string", sourceType: "stream" },
      vec: { displayName: "Vector", dataType: "embedding", embeddingDimension: 3, sourceType: "stream" },
    },
  },
});

let workers: ServedWorkers;
let tenantId: string;
let store: FeatureStore<typeof features>;

beforeAll(async () => {
  workers = await serveWorkers(inject);
  tenantId = crypto.randomUUID();
  const token = await signToken({ tenantId, scopes: allScopes, sub: "client-test" });
  store = createFeatureStore<typeof features>({ url: workers.servingUrl, adminUrl: workers.adminUrl, token });
  const applied = await store.apply(features.toDeclaration());
  expect(applied.applied).toBe(true);
});
afterAll(async () => {
  await workers?.stop();
});

describe("createFeatureStore over HTTP: serving", () => {
  const at = "2026-11-20T08:00:00.000001Z";
  beforeAll(async () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({
      entityId: `u${i}`,
      eventTimestamp: at,
      features: { score: i / 100, plan: i % 2 ? "pro" : "free", vec: [1, i, 0] },
    }));
    const pushed = await store.push({ entityType: "user", rows });
    expect(pushed).toMatchObject({ accepted: 50, rejected: 0 });
  });

  it("reads typed online values of one entity and of many", async () => {
    const one = await store.getOnline({ entityType: "user", entityId: "u3", features: ["user.score", "user.plan"] });
    expectTypeOf(one.features["user.score"]).toEqualTypeOf<number | null>();
    expectTypeOf(one.features["user.plan"]).toEqualTypeOf<string | null>();
    expect(one.features).toEqual({ "user.score": 0.03, "user.plan": "pro" });
    expect(one.timestamps["user.score"]).toBe(at);
    const many = await store.getOnlineBatch({
      entityType: "user",
      entityIds: ["u1", "u2", "zz"],
      features: ["user.vec"],
    });
    expectTypeOf(many.results[0]!.features["user.vec"]).toEqualTypeOf<number[] | null>();
    expect(many.results.map((r) => r.statuses["user.vec"])).toEqual(["PRESENT", "PRESENT", "NOT_FOUND"]);
    // An untyped client typed for one read.
    const untyped = createFeatureStore({
      url: workers.servingUrl,
      token: await signToken({ tenantId, scopes: allScopes }),
    });
    const typedRead = await untyped.getOnline<typeof features>({
      entityType: "user",
      entityId: "u3",
      features: ["user.plan"],
    });
    expectTypeOf(typedRead.features["user.plan"]).toEqualTypeOf<string | null>();
    expect(typedRead.features["user.plan"]).toBe("pro");
    const loose = await untyped.getOnline({ entityType: "user", entityId: "u3", features: ["plan"] });
    expectTypeOf(loose.features.plan).toEqualTypeOf<unknown>();
    expect(loose.features.plan).toBe("pro");
  });

  it("streams a training set row by row, equal to the JSON answer, and stops when the loop breaks", async () => {
    const request = {
      entityType: "user" as const,
      entityTimestampPairs: Array.from({ length: 3000 }, (_, i) => ({
        entityId: `u${i % 60}`,
        timestamp: i % 2 ? "2026-11-21T00:00:00Z" : "2026-11-19T00:00:00Z",
      })),
      features: ["user.score", "user.plan"],
    };
    const streamed = [];
    for await (const row of store.trainingSet(request)) streamed.push(row);
    const json = await store.getHistorical(request);
    expect(streamed).toHaveLength(3000);
    expect(streamed).toEqual(json.rows);
    expect(streamed.filter((r) => r.statuses["user.score"] === "PRESENT")).toHaveLength(1250);

    let seen = 0;
    for await (const _ of store.trainingSet(request)) if (++seen === 10) break;
    expect(seen).toBe(10);

    const controller = new AbortController();
    const cancelled = (async () => {
      for await (const _ of store.trainingSet(request, { signal: controller.signal })) controller.abort();
    })();
    expect((await failure(cancelled)).code).toBe("ABORTED");
  });

  it("searches embeddings and reads the batch rows", async () => {
    const near = await store.searchEmbeddings({ feature: "user.vec", vector: [1, 2, 0], k: 2 });
    expect(near.results.map((r) => r.entityId)).toEqual(["u2", "u3"]);
    const batch = await store.getBatch({ entityType: "user", entityIds: ["u4"], features: ["user.plan"] });
    expect(batch.rows).toEqual([{ entityId: "u4", eventTimestamp: at, features: { "user.plan": "free" } }]);
  });

  it("throws the envelope's code, status, details and request id", async () => {
    const unknown = await failure(
      store.getOnline({ entityType: "user", entityId: "u1", features: ["user.nope" as "user.score"] }),
    );
    expect([unknown.code, unknown.status]).toEqual(["UNKNOWN_FEATURE", 400]);
    expect(unknown.requestId).toMatch(/./);
    const invalid = await failure(store.push({ entityType: "user", rows: [] }));
    expect([invalid.code, (invalid.details as { path: string }[])[0]!.path]).toEqual(["VALIDATION_FAILED", "rows"]);
    const anonymous = createFeatureStore({ url: workers.servingUrl, token: "not-a-jwt" });
    const denied = await failure(anonymous.getOnline({ entityType: "user", entityId: "u1", features: ["user.score"] }));
    expect([denied.code, denied.status]).toEqual(["UNAUTHORIZED", 401]);
  });
});

describe("createFeatureStore over HTTP: admin", () => {
  it("manages groups, features, versions and stats", async () => {
    const group = await store.createGroup({ name: "conv", displayName: "Conversations", entityType: "conversation" });
    expect((await store.getGroup(group.id)).name).toBe("conv");
    expect((await store.updateGroup(group.id, { ttlSeconds: 3600 })).ttlSeconds).toBe(3600);
    expect((await store.listGroups({ entityType: "conversation" })).items.map((g) => g.id)).toEqual([group.id]);
    const created = await store.createFeature("conv", {
      name: "turns",
      displayName: "Turns",
      dataType: "int64",
      sourceType: "stream",
    });
    expect((await store.getFeature("conv.turns")).id).toBe(created.id);
    expect((await store.listFeatures({ group: "conv" })).items.map((f) => f.name)).toEqual(["turns"]);
    const staged = await store.updateFeature("conv.turns", { validationRules: { min: 0 }, promote: false });
    expect([staged.version, staged.currentVersion]).toEqual([2, 1]);
    expect((await store.listVersions("conv.turns")).items.map((v) => v.version)).toEqual([2, 1]);
    expect((await store.getVersion("conv.turns", 2)).definitionSnapshot.validationRules).toEqual({ min: 0 });
    expect((await store.diffVersions("conv.turns", 1, 2)).changes.map((c) => c.field)).toEqual(["validationRules"]);
    expect((await store.promoteVersion("conv.turns", 2)).currentVersion).toBe(2);
    expect(await store.getStats("conv.turns", 1)).toMatchObject({ version: 1, stats: null });
    expect((await store.archiveGroup(group.id)).status).toBe("archived");
    const other = createFeatureStore({
      url: workers.servingUrl,
      adminUrl: workers.adminUrl,
      token: await signToken({ tenantId: crypto.randomUUID(), scopes: allScopes }),
    });
    const hidden = await failure(other.getFeature(created.id));
    expect([hidden.code, hidden.status]).toEqual(["NOT_FOUND", 404]);
  });

  it("bootstraps, runs jobs, and plans and applies a declared registry", async () => {
    const report = await store.bootstrap();
    expect(report.groups.created).toContain("conversation");
    const groupId = (await store.listGroups({ entityType: "tenant" })).items[0]!.id;
    const job = await store.createJob({
      featureGroupId: groupId,
      jobType: "full",
      startTime: "2026-11-01T00:00:00Z",
      endTime: "2026-11-02T00:00:00Z",
    });
    expect((await store.getJob(job.id)).status).toMatch(/pending|running/);
    expect((await store.listJobs({ featureGroupId: groupId })).items.map((j) => j.id)).toContain(job.id);
    expect((await store.cancelJob(job.id)).status).toBe("cancelled");
    // The registry now holds more than `features` declares: a plan archives the rest.
    const plan = await store.plan(features.toDeclaration());
    expect(plan.summary.create).toBe(0);
    expect(plan.summary.archive).toBeGreaterThan(20);
  });
});

describe("retries, backoff and timeouts", () => {
  /** A proxy to the serving worker that answers the first `failures` requests itself. */
  async function flakyProxy(failures: number, answer: { status: number; headers?: Record<string, string> } | "stall") {
    let seen = 0;
    const server = http.createServer(async (req, res) => {
      seen++;
      if (seen <= failures) {
        if (answer === "stall") return; // never answers
        res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
        res.end(
          JSON.stringify({
            error: {
              code: answer.status === 429 ? "TOO_MANY_REQUESTS" : "SERVICE_UNAVAILABLE",
              message: "flaky",
              requestId: "proxy",
            },
          }),
        );
        return;
      }
      const body = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        req.on("data", (c) => chunks.push(c));
        req.on("end", () => resolve(Buffer.concat(chunks)));
      });
      const upstream = await fetch(`${workers.servingUrl}${req.url}`, {
        method: req.method,
        headers: req.headers as Record<string, string>,
        body: body.length ? body : undefined,
      });
      res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      url,
      seen: () => seen,
      close: () => {
        server.closeAllConnections();
        return new Promise((r) => server.close(r));
      },
    };
  }

  async function flakyStore(url: string, options: Partial<Parameters<typeof createFeatureStore>[0]> = {}) {
    const waits: number[] = [];
    const token = await signToken({ tenantId, scopes: allScopes });
    const client = createFeatureStore<typeof features>({
      url,
      adminUrl: url,
      token,
      random: () => 0.5,
      sleep: async (ms) => void waits.push(ms),
      ...options,
    });
    return { client, waits };
  }

  const read = { entityType: "user" as const, entityId: "u5", features: ["user.score" as const] };

  it("retries a 503 with backoff, waiting what Retry-After asks, then answers", async () => {
    const proxy = await flakyProxy(2, { status: 503, headers: { "retry-after": "2" } });
    const { client, waits } = await flakyStore(proxy.url);
    const answer = await client.getOnline(read);
    expect(answer.features["user.score"]).toBe(0.05);
    expect(proxy.seen()).toBe(3);
    expect(waits).toEqual([2000, 2000]);
    await proxy.close();
  });

  it("backs off exponentially with jitter on 429 without Retry-After, and gives up after the retries", async () => {
    const proxy = await flakyProxy(10, { status: 429 });
    const { client, waits } = await flakyStore(proxy.url, { retry: { retries: 3, baseDelayMs: 100 } });
    const error = await failure(client.getOnline(read));
    expect([error.status, error.code]).toEqual([429, "TOO_MANY_REQUESTS"]);
    expect(waits).toEqual([50, 100, 200]);
    expect(proxy.seen()).toBe(4);
    await proxy.close();
  });

  it("does not resend a job creation after a 503 (it may have been created)", async () => {
    const proxy = await flakyProxy(1, { status: 503, headers: { "retry-after": "1" } });
    const { client } = await flakyStore(proxy.url);
    const job = {
      featureGroupId: crypto.randomUUID(),
      jobType: "full" as const,
      startTime: "2026-11-01T00:00:00Z",
      endTime: "2026-11-02T00:00:00Z",
    };
    expect((await failure(client.createJob(job))).status).toBe(503);
    expect(proxy.seen()).toBe(1);
    await proxy.close();
  });

  it("times out an attempt that gets no answer, and retries it when the call is idempotent", async () => {
    const proxy = await flakyProxy(1, "stall");
    const { client, waits } = await flakyStore(proxy.url, { timeoutMs: 300 });
    const answer = await client.getOnline(read);
    expect(answer.features["user.score"]).toBe(0.05);
    expect(waits).toHaveLength(1);
    const stalled = await flakyProxy(5, "stall");
    const { client: noRetry } = await flakyStore(stalled.url, { timeoutMs: 200, retry: { retries: 0 } });
    expect((await failure(noRetry.getOnline(read))).code).toBe("TIMEOUT");
    await Promise.all([proxy.close(), stalled.close()]);
  });
});
