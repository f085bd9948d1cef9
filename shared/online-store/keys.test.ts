// Redis key building: every key under the tenant's prefix, nothing in an id escapes its segment.
import { describe, expect, it } from "vitest";
import { registryRevisionKey, tenantKey, tenantKeyNow, valueKey, valueKeys } from "./keys.ts";

describe("tenant keys", () => {
  const tenant = crypto.randomUUID();

  it("put every key under the tenant's prefix", async () => {
    expect(await tenantKey(tenant, "online", "user", "u1")).toBe(`fs1:{${tenant}}:online:user:u1`);
  });

  it.each([
    ["a colon", "u1:evil"],
    ["a glob", "u*"],
    ["a newline", "u1\r\nFLUSHALL"],
    ["braces", "}{other"],
    ["unicode", "usuário-ß-🌍"],
  ])("keep an entity id with %s inside its own segment", async (_label, entityId) => {
    const key = await tenantKey(tenant, "online", "user", entityId);
    const segments = key.split(":");
    expect(segments).toHaveLength(5);
    expect(segments[1]).toBe(`{${tenant}}`);
    expect(decodeURIComponent(segments[4]!)).toBe(entityId);
    expect(key).not.toMatch(/[*\r\n]/);
  });

  it("hash a 10 KB id to a bounded segment, distinct from a short one", async () => {
    const long = "x".repeat(10_240);
    const key = await tenantKey(tenant, "online", "user", long);
    expect(key.length).toBeLessThan(200);
    expect(key).not.toBe(await tenantKey(tenant, "online", "user", long.slice(1)));
  });

  it("never let two different ids share a key", async () => {
    const ids = ["a:b", "a%3Ab", "a", "a:", "#abc", "%23abc"];
    const keys = await Promise.all(ids.map((id) => tenantKey(tenant, "online", "user", id)));
    expect(new Set(keys).size).toBe(ids.length);
  });
});

describe("value keys", () => {
  const tenant = crypto.randomUUID();

  it("build the same key with and without a promise, and none without one when an id needs a digest", async () => {
    expect(tenantKeyNow(tenant, "v", "g", "e:1")).toBe(await valueKey(tenant, "g", "e:1"));
    expect(tenantKeyNow(tenant, "v", "g", "é".repeat(200))).toBeNull();
  });

  it("lay out entities x groups entity-major, synchronously unless an id needs a digest", async () => {
    const keys = valueKeys(tenant, ["e1", "e2"], ["g1", "g2"]);
    expect(Array.isArray(keys)).toBe(true);
    expect(keys).toEqual([
      await valueKey(tenant, "g1", "e1"),
      await valueKey(tenant, "g2", "e1"),
      await valueKey(tenant, "g1", "e2"),
      await valueKey(tenant, "g2", "e2"),
    ]);
    const long = "x".repeat(600);
    const pending = valueKeys(tenant, ["e1", long], ["g1"]);
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toEqual([await valueKey(tenant, "g1", "e1"), await valueKey(tenant, "g1", long)]);
  });

  it("keep the registry revision apart from every value hash", async () => {
    expect(registryRevisionKey(tenant)).toBe(`fs1:{${tenant}}:registry:rev`);
    expect(await valueKey(tenant, "registry", "rev")).not.toBe(registryRevisionKey(tenant));
  });
});
