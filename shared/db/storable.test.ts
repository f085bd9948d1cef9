// What PostgreSQL can store as it is.
import { describe, expect, it } from "vitest";
import { isStorable, unstorablePath } from "./storable.ts";

describe("storable strings", () => {
  it("refuses U+0000 and lone surrogates, keeps everything else (pairs, RTL marks, BOM)", () => {
    expect(isStorable("a\u0000b")).toBe(false);
    expect(isStorable("\ud800")).toBe(false);
    expect(isStorable("x\udc00")).toBe(false);
    expect(isStorable("\udc00\ud800")).toBe(false);
    expect(isStorable("🌍 \u202e\u200f\ufeff ß")).toBe(true);
    expect(isStorable("\ud83c\udf0d")).toBe(true);
  });

  it("names the path of the first bad key or value in a JSON value", () => {
    expect(unstorablePath({ a: [1, "ok", { b: "x\u0000" }] })).toEqual(["a", 2, "b"]);
    expect(unstorablePath({ "k\ud800": 1 })).toEqual(["k\ud800"]);
    expect(unstorablePath("\u0000")).toEqual([]);
    expect(unstorablePath({ a: [null, true, 1.5, "fine"] })).toBeNull();
  });
});
