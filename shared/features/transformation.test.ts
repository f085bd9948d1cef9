// How tenant transformation SQL is bound before it runs in the sandbox.
import { describe, expect, it } from "vitest";
import { AppError } from "#shared/http/errors.ts";
import { bindTransformation, windowValues } from "./transformation.ts";

describe("bindTransformation", () => {
  it("replaces the seed's named window parameters by positional ones, in order of first use", () => {
    const bound = bindTransformation(
      "SELECT user_id AS entity_id, count(*) AS value FROM ai_conversations WHERE started_at < :end_time AND started_at >= :start_time AND ended_at < :end_time GROUP BY 1;",
    );
    expect(bound.text).toBe(
      "SELECT user_id AS entity_id, count(*) AS value FROM ai_conversations WHERE started_at < $1::timestamptz AND started_at >= $2::timestamptz AND ended_at < $1::timestamptz GROUP BY 1",
    );
    expect(bound.parameters).toEqual(["end_time", "start_time"]);
  });

  it("leaves casts and other colons alone, and binds nothing the SQL does not use", () => {
    const bound = bindTransformation("SELECT id::text AS entity_id, 'a:b' AS value FROM users");
    expect(bound.text).toBe("SELECT id::text AS entity_id, 'a:b' AS value FROM users");
    expect(bound.parameters).toEqual([]);
  });

  it("gives each window bound's value in parameter order", () => {
    const bound = bindTransformation("SELECT 1 WHERE :end_time > :start_time");
    const start = new Date("2026-11-01T00:00:00Z");
    const end = new Date("2026-11-02T00:00:00Z");
    expect(windowValues(bound, start, end)).toEqual([end.toISOString(), start.toISOString()]);
  });

  it.each([
    ["CURRENT_TIMESTAMP", "SELECT 1 WHERE x < CURRENT_TIMESTAMP"],
    ["clock_timestamp", "SELECT clock_timestamp()"],
    ["pg_catalog.now", "SELECT pg_catalog . now()"],
  ])("refuses %s, which would ignore the window's end", (_name, sqlText) => {
    expect(() => bindTransformation(sqlText)).toThrow(AppError);
    expect(() => bindTransformation(sqlText)).toThrow(/ignores the materialization window/);
  });

  it("refuses set_config, whatever its case", () => {
    expect(() => bindTransformation("SELECT SET_CONFIG('app.tenant_id', 'x', true)")).toThrow(/set_config/i);
  });
});
