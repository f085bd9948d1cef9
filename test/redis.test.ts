// @upstash/redis inside workerd against the real Redis, through the local Upstash endpoint.
// (Key building is tested beside it: shared/online-store/keys.test.ts.)
import { Redis } from "@upstash/redis/cloudflare";
import { describe, expect, inject, it } from "vitest";
import { testEnv } from "#harness/stack.ts";
import { connectRedis } from "#shared/online-store/redis-client.ts";

const redis = () => connectRedis(testEnv())!;
const prefix = `test:${crypto.randomUUID()}`;

describe("Upstash REST client against the local Redis", () => {
  it("sets and gets strings, including unicode and binary-looking values", async () => {
    await redis().set(`${prefix}:a`, "héllo 🌍");
    await redis().set(`${prefix}:b`, "OK");
    expect(await redis().get(`${prefix}:a`)).toBe("héllo 🌍");
    expect(await redis().get(`${prefix}:b`)).toBe("OK");
    expect(await redis().get(`${prefix}:missing`)).toBeNull();
  });

  it("runs a pipeline in one request and returns every answer in order", async () => {
    const p = redis().pipeline();
    p.set(`${prefix}:p1`, "1");
    p.incrby(`${prefix}:p1`, 41);
    p.hset(`${prefix}:h`, { f1: "v1", f2: "v2" });
    p.hget(`${prefix}:h`, "f2");
    p.mget(`${prefix}:p1`, `${prefix}:nope`);
    const [set, incr, hset, hget, mget] = await p.exec();
    expect(set).toBe("OK");
    expect(incr).toBe(42);
    expect(hset).toBe(2);
    expect(hget).toBe("v2");
    expect(mget).toEqual(["42", null]);
  });

  it("runs a transaction with multi-exec", async () => {
    const tx = redis().multi();
    tx.set(`${prefix}:t`, "x");
    tx.append(`${prefix}:t`, "y");
    tx.get(`${prefix}:t`);
    expect(await tx.exec()).toEqual(["OK", 2, "xy"]);
  });

  it("runs a Lua script with EVAL and EVALSHA (compare-and-set on a timestamp)", async () => {
    // Newest-wins write: only replace the value when the incoming timestamp is newer.
    const script = redis().createScript<number>(`
      local current = tonumber(redis.call('HGET', KEYS[1], 'ts') or '-1')
      if tonumber(ARGV[1]) > current then
        redis.call('HSET', KEYS[1], 'ts', ARGV[1], 'v', ARGV[2])
        return 1
      end
      return 0`);
    const key = `${prefix}:lua`;
    expect(await script.exec([key], ["200", "new"])).toBe(1);
    expect(await script.exec([key], ["100", "old"])).toBe(0);
    expect(await redis().hget(key, "v")).toBe("new");
    expect(await redis().eval("return {KEYS[1], ARGV[1], 7}", [key], ["arg"])).toEqual([key, "arg", 7]);
  });

  it("reports a Redis error as an error, not a value", async () => {
    await redis().set(`${prefix}:str`, "text");
    await expect(redis().incr(`${prefix}:str`)).rejects.toThrow(/not an integer/);
  });

  it("refuses a wrong token", async () => {
    const intruder = new Redis({
      url: inject("upstashUrl"),
      token: "wrong",
      retry: { retries: 0 },
      enableTelemetry: false,
    });
    await expect(intruder.get(`${prefix}:a`)).rejects.toThrow();
  });
});
