// Each worker's env schema asks for what that worker uses, and names what is wrong.
import { describe, expect, it } from "vitest";
import { adminEnv, ConfigError, cronEnv, parseEnv, servingEnv } from "./env.ts";

const store = { DATABASE_URL: "postgres://fs_app@127.0.0.1:5432/fs", UPSTASH_REDIS_REST_URL: "" };
const secret = { JWT_SECRET: "s".repeat(32) };

describe("worker env schemas", () => {
  it("serving and admin need a way to verify tokens; cron does not", () => {
    expect(() => parseEnv({ ...store }, servingEnv)).toThrow(/JWT_SECRET: set JWT_SECRET or JWKS_URL/);
    expect(() => parseEnv({ ...store }, adminEnv)).toThrow(/JWT_SECRET/);
    const cron = parseEnv({ ...store }, cronEnv);
    expect(cron.RETENTION_MONTHS).toBe(24);
    expect(cron.MATERIALIZE_TENANTS).toEqual([]);
    expect(parseEnv({ ...store, ...secret }, servingEnv).PIT_MERGE_THRESHOLD).toBe(50_000);
  });

  it("cron reads its own settings through the schema: a bad value is named, never NaN", () => {
    const tenant = crypto.randomUUID();
    const parsed = parseEnv({ ...store, RETENTION_MONTHS: "6", MATERIALIZE_TENANTS: ` ${tenant} ,` }, cronEnv);
    expect(parsed.RETENTION_MONTHS).toBe(6);
    expect(parsed.MATERIALIZE_TENANTS).toEqual([tenant]);
    expect(() => parseEnv({ ...store, RETENTION_MONTHS: "two years" }, cronEnv)).toThrow(/RETENTION_MONTHS/);
    expect(() => parseEnv({ ...store, MATERIALIZE_TENANTS: "acme" }, cronEnv)).toThrow(/MATERIALIZE_TENANTS/);
  });

  it("wants the Upstash URL and token together, and says so as a ConfigError", () => {
    const bindings = { ...store, ...secret, UPSTASH_REDIS_REST_URL: "http://127.0.0.1:8079" };
    expect(() => parseEnv(bindings, servingEnv)).toThrow(ConfigError);
    expect(() => parseEnv(bindings, cronEnv)).toThrow(/go together/);
  });

  it("parses a bindings object once per schema", () => {
    const bindings = { ...store, ...secret };
    expect(parseEnv(bindings, servingEnv)).toBe(parseEnv(bindings, servingEnv));
    expect(parseEnv(bindings, cronEnv)).not.toBe(parseEnv(bindings, servingEnv));
  });
});
