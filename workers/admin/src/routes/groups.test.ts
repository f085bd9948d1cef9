import { describe, expect, it } from "vitest";
import { apiClient, detailPaths, expectError } from "#harness/http.ts";
import worker from "../index.ts";

const api = apiClient(worker);
const newTenant = () => api.as(crypto.randomUUID());
const groupBody = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  displayName: `Group ${name}`,
  entityType: "user",
  ...extra,
});

describe("groups: happy paths", () => {
  it("creates, gets, updates and archives a group", async () => {
    const t = newTenant();
    const created = await t.post("/v1/admin/groups", groupBody("users", { ttlSeconds: 3600, tags: ["core"] }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "users",
      displayName: "Group users",
      entityType: "user",
      entityIdColumn: "entity_id",
      onlineEnabled: true,
      offlineEnabled: true,
      ttlSeconds: 3600,
      status: "active",
      tags: ["core"],
      tenantId: t.tenantId,
      createdBy: `tester-${t.tenantId.slice(0, 8)}`,
    });
    const id = created.body.id;

    const fetched = await t.get(`/v1/admin/groups/${id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(created.body);

    const updated = await t.patch(`/v1/admin/groups/${id}`, {
      displayName: "Users",
      ttlSeconds: null,
      description: "all users",
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      displayName: "Users",
      ttlSeconds: null,
      description: "all users",
      name: "users",
    });

    const archived = await t.post(`/v1/admin/groups/${id}/archive`);
    expect(archived.status).toBe(200);
    expect(archived.body.status).toBe("archived");
    expect((await t.get(`/v1/admin/groups/${id}`)).body.status).toBe("archived");
  });

  it("lists with filters and cursor pagination, newest first, without gaps or repeats", async () => {
    const t = newTenant();
    const names = ["g1", "g2", "g3", "g4", "g5"];
    for (const [i, name] of names.entries()) {
      const r = await t.post("/v1/admin/groups", groupBody(name, { entityType: i % 2 ? "message" : "user" }));
      expect(r.status).toBe(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await t.get(`/v1/admin/groups?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((g: any) => g.name));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual([...names].reverse());
    expect(pages).toBe(3);

    const messages = await t.get("/v1/admin/groups?entityType=message");
    expect(messages.body.items.map((g: any) => g.name).sort()).toEqual(["g2", "g4"]);
    await t.post(`/v1/admin/groups/${(await t.get("/v1/admin/groups?limit=1")).body.items[0].id}/archive`);
    const archived = await t.get("/v1/admin/groups?status=archived");
    expect(archived.body.items.map((g: any) => g.name)).toEqual(["g5"]);
  });

  it("lets two tenants use the same group name", async () => {
    const [a, b] = [newTenant(), newTenant()];
    expect((await a.post("/v1/admin/groups", groupBody("shared"))).status).toBe(201);
    expect((await b.post("/v1/admin/groups", groupBody("shared"))).status).toBe(201);
  });
});

describe("groups: bad input", () => {
  const t = newTenant();

  it("rejects a duplicate name with 409", async () => {
    expect((await t.post("/v1/admin/groups", groupBody("dup"))).status).toBe(201);
    expectError(await t.post("/v1/admin/groups", groupBody("dup")), 409, "CONFLICT");
  });

  it("answers two concurrent creates of one name with one 201 and one 409", async () => {
    const t2 = newTenant();
    const results = await Promise.all([
      t2.post("/v1/admin/groups", groupBody("race")),
      t2.post("/v1/admin/groups", groupBody("race")),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  it.each([
    ["an unknown field", { ...groupBody("x"), owner: "me" }, "(root)"],
    ["a wrong type", { ...groupBody("x"), onlineEnabled: "yes" }, "onlineEnabled"],
    ["a name over 128 characters", groupBody("n".repeat(129)), "name"],
    ["a name with a dot", groupBody("a.b"), "name"],
    ["an unknown entity type", { ...groupBody("x"), entityType: "account" }, "entityType"],
    ["a negative TTL", { ...groupBody("x"), ttlSeconds: -5 }, "ttlSeconds"],
    ["a missing displayName", { name: "x", entityType: "user" }, "displayName"],
  ])("rejects %s with 400 naming the path", async (_label, body, path) => {
    const response = await t.post("/v1/admin/groups", body);
    expectError(response, 400, "VALIDATION_FAILED");
    expect(detailPaths(response)).toContain(path);
  });

  it("rejects malformed JSON with 400", async () => {
    const response = await t.call("/v1/admin/groups", {
      method: "POST",
      rawBody: "{not json",
      headers: { "content-type": "application/json" },
    });
    expectError(response, 400, "BAD_REQUEST");
  });

  it("rejects a body that is not JSON with 415", async () => {
    const response = await t.call("/v1/admin/groups", {
      method: "POST",
      rawBody: "name=x",
      headers: { "content-type": "text/plain" },
    });
    expectError(response, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("rejects an oversize body with 413", async () => {
    const response = await t.post("/v1/admin/groups", groupBody("big", { description: "x".repeat(70_000) }));
    expectError(response, 413, "PAYLOAD_TOO_LARGE");
  });

  it("rejects a bad uuid with 400 and a bad cursor with 400", async () => {
    expect(detailPaths(await t.get("/v1/admin/groups/not-a-uuid"))).toContain("id");
    expectError(await t.get("/v1/admin/groups?cursor=garbage"), 400, "INVALID_CURSOR");
    expectError(await t.get("/v1/admin/groups?limit=0"), 400, "VALIDATION_FAILED");
    expectError(await t.get("/v1/admin/groups?status=gone"), 400, "VALIDATION_FAILED");
  });

  it("rejects strings Postgres cannot store with 400 naming their path, never 500", async () => {
    const nul = await t.post("/v1/admin/groups", groupBody("nul", { displayName: "a\u0000b", tags: ["ok", "\ud800"] }));
    expectError(nul, 400, "VALIDATION_FAILED");
    expect(detailPaths(nul)).toEqual(["displayName", "tags.1"]);
  });

  it("rejects an empty update with 400", async () => {
    const g = await t.post("/v1/admin/groups", groupBody("empty_update"));
    expectError(await t.patch(`/v1/admin/groups/${g.body.id}`, {}), 400, "VALIDATION_FAILED");
  });
});

describe("groups: security", () => {
  it("requires a token", async () => {
    expectError(await api.call("/v1/admin/groups"), 401, "UNAUTHORIZED");
    expectError(await api.call("/v1/admin/groups", { method: "POST", body: groupBody("x") }), 401, "UNAUTHORIZED");
  });

  it("requires registry:read to read and registry:write to change", async () => {
    const tenantId = crypto.randomUUID();
    const reader = api.as(tenantId, ["registry:read"]);
    const writer = api.as(tenantId, ["registry:write"]);
    expectError(await reader.post("/v1/admin/groups", groupBody("x")), 403, "FORBIDDEN");
    const created = await writer.post("/v1/admin/groups", groupBody("x"));
    expect(created.status).toBe(201);
    expectError(await writer.get("/v1/admin/groups"), 403, "FORBIDDEN");
    expectError(await writer.get(`/v1/admin/groups/${created.body.id}`), 403, "FORBIDDEN");
    expect((await reader.get(`/v1/admin/groups/${created.body.id}`)).status).toBe(200);
    expectError(await reader.patch(`/v1/admin/groups/${created.body.id}`, { displayName: "y" }), 403, "FORBIDDEN");
    expectError(await reader.post(`/v1/admin/groups/${created.body.id}/archive`), 403, "FORBIDDEN");
  });

  it("answers another tenant's group with 404, like a missing one, and never changes it", async () => {
    const [owner, intruder] = [newTenant(), newTenant()];
    const g = await owner.post("/v1/admin/groups", groupBody("private"));
    const missing = await intruder.get(`/v1/admin/groups/${crypto.randomUUID()}`);
    const foreign = await intruder.get(`/v1/admin/groups/${g.body.id}`);
    expectError(foreign, 404, "NOT_FOUND");
    expect(foreign.body.error.message.replace(g.body.id, "ID")).toBe(
      missing.body.error.message.replace(/[0-9a-f-]{36}/, "ID"),
    );
    expectError(await intruder.patch(`/v1/admin/groups/${g.body.id}`, { displayName: "pwned" }), 404, "NOT_FOUND");
    expectError(await intruder.post(`/v1/admin/groups/${g.body.id}/archive`), 404, "NOT_FOUND");
    expect((await intruder.get("/v1/admin/groups")).body.items).toEqual([]);
    expect((await owner.get(`/v1/admin/groups/${g.body.id}`)).body).toMatchObject({
      displayName: "Group private",
      status: "active",
    });
  });
});
