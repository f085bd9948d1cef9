// The streamed request reader on its own: pairs in order and in batches, whatever the body's
// chunking; the limits; errors named by path; nothing staged after the first bad pair.
import { describe, expect, it } from "vitest";
import { AppError } from "#shared/http/errors.ts";
import { readTrainingRequest, type StreamedPair, wholeBodyMaxBytes } from "./training-request.ts";

/** The body as a stream of `chunkSize`-byte pieces, so tokens are cut anywhere. */
function body(value: unknown, chunkSize = 7): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

const pairs = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    entityId: `u${i}`,
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
  }));

const byteLength = (value: unknown) =>
  new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value)).byteLength;

/** Read streamed (no length) or whole (its Content-Length given, under wholeBodyMaxBytes). */
type Mode = "streamed" | "whole";
const modes: Mode[] = ["streamed", "whole"];

async function read(
  value: unknown,
  options: { batchSize?: number; maxBytes?: number; maxPairs?: number; chunkSize?: number; mode?: Mode } = {},
) {
  const batches: StreamedPair[][] = [];
  const header = await readTrainingRequest(
    body(value, options.chunkSize),
    async (batch) => {
      batches.push(batch);
    },
    {
      batchSize: options.batchSize ?? 3,
      maxBytes: options.maxBytes ?? 1e6,
      maxPairs: options.maxPairs,
      declaredBytes: options.mode === "whole" ? byteLength(value) : undefined,
    },
  );
  return { header, batches };
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe.each(modes)("readTrainingRequest, %s", (mode) => {
  it("hands on every pair in order, in batches, with the other fields checked whatever their place", async () => {
    const request = { features: ["g.a"], entityTimestampPairs: pairs(8), asOfIngestion: true, entityType: "user" };
    for (const chunkSize of [1, 7, 4096]) {
      const { header, batches } = await read(request, { chunkSize, mode });
      expect(header).toEqual({ entityType: "user", features: ["g.a"], asOfIngestion: true, pairCount: 8 });
      expect(batches.map((b) => b.length)).toEqual([3, 3, 2]);
      expect(batches.flat()).toEqual(pairs(8));
    }
  });

  it("refuses more than maxPairs pairs and a body over maxBytes", async () => {
    const request = { entityType: "user", features: ["g.a"], entityTimestampPairs: pairs(6) };
    const tooMany = await failure(read(request, { maxPairs: 5, mode }));
    expect(tooMany.code).toBe("VALIDATION_FAILED");
    expect(tooMany.details).toContainEqual(expect.objectContaining({ path: "entityTimestampPairs", code: "too_big" }));
    expect((await failure(read(request, { maxBytes: 100, mode }))).code).toBe("PAYLOAD_TOO_LARGE");
    expect((await read(request, { maxPairs: 6, mode })).header.pairCount).toBe(6);
  });

  it("names each bad pair by its position and stages nothing after the first", async () => {
    const bad = [...pairs(4), { entityId: "x", timestamp: "yesterday" }, ...pairs(4), { entityId: 5, timestamp: "x" }];
    const batches: StreamedPair[][] = [];
    const request = { entityType: "user", features: ["g.a"], entityTimestampPairs: bad };
    const error = await failure(
      readTrainingRequest(body(request), async (b) => void batches.push(b), {
        batchSize: 3,
        maxBytes: 1e6,
        declaredBytes: mode === "whole" ? byteLength(request) : undefined,
      }),
    );
    expect(error.code).toBe("VALIDATION_FAILED");
    const paths = (error.details as { path: string }[]).map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(["entityTimestampPairs.4.timestamp", "entityTimestampPairs.9.entityId"]),
    );
    // Only batches completed before pair 4 went out.
    expect(batches.flat().length).toBeLessThanOrEqual(3);
  });

  it("tells malformed JSON from a body of the wrong shape", async () => {
    expect((await failure(read('{"entityType":"user","entityTimestampPairs":[{"entityId":', { mode }))).code).toBe(
      "BAD_REQUEST",
    );
    expect((await failure(read('{"entityType":"user"} {}', { mode }))).code).toBe("BAD_REQUEST");
    const array = await failure(read([1, 2], { mode }));
    expect(array.code).toBe("VALIDATION_FAILED");
    expect((array.details as { path: string }[]).map((d) => d.path)).toContain("(root)");
    const notPairs = await failure(read({ entityType: "user", features: ["g.a"], entityTimestampPairs: {} }, { mode }));
    expect(notPairs.details).toContainEqual(
      expect.objectContaining({ path: "entityTimestampPairs", code: "invalid_type" }),
    );
    const unknown = await failure(
      read({ entityType: "user", features: ["g.a"], entityTimestampPairs: pairs(1), x: 1 }, { mode }),
    );
    expect(unknown.code).toBe("VALIDATION_FAILED");
    // A "__proto__" key is an unknown field like any other (as in the JSON route), never the
    // prototype the other fields are read from.
    const sneaky = `{"__proto__":{"entityType":"user","features":["g.a"]},"entityTimestampPairs":${JSON.stringify(pairs(1))}}`;
    const proto = await failure(read(sneaky, { mode }));
    expect(proto.code).toBe("VALIDATION_FAILED");
    expect((proto.details as { path: string }[]).map((d) => d.path)).toEqual(
      expect.arrayContaining(["entityType", "features"]),
    );
  });
});

describe("readTrainingRequest, either way", () => {
  it("reads a body whole only when its declared length is at most wholeBodyMaxBytes", async () => {
    // Told apart by a key given twice: JSON.parse keeps the last (as the JSON route does),
    // the streamed reader takes the pairs of both.
    const text = `{"entityType":"user","features":["g.a"],"entityTimestampPairs":${JSON.stringify(pairs(1))},"entityTimestampPairs":${JSON.stringify(pairs(2))}}`;
    const count = async (declaredBytes: number | undefined) =>
      (await readTrainingRequest(body(text), async () => {}, { batchSize: 3, maxBytes: 1e9, declaredBytes })).pairCount;
    expect(await count(byteLength(text))).toBe(2);
    expect(await count(wholeBodyMaxBytes)).toBe(2);
    expect(await count(wholeBodyMaxBytes + 1)).toBe(3);
    expect(await count(undefined)).toBe(3);
  });
});
