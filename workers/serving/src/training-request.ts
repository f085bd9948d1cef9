// A point-in-time request read as a stream: the pairs are checked and handed on in batches
// while the body arrives, so a request of 1,000,000 pairs (~70 MB of JSON) is never held
// in memory, parsed or not. The other fields are checked against the same schema as the
// JSON route, once the body has ended (JSON puts no order on an object's keys).

import type { z } from "@hono/zod-openapi";
import { JSONParser } from "@streamparser/json";
import { AppError, issuesToDetails } from "#shared/http/errors.ts";
import { historicalPair, historicalRequest, maxStreamedPairs } from "./schemas.ts";

export interface StreamedPair {
  entityId: string;
  timestamp: string;
}

export type TrainingRequestHeader = Omit<z.infer<typeof historicalRequest>, "entityTimestampPairs"> & {
  pairCount: number;
};

const headerSchema = historicalRequest.omit({ entityTimestampPairs: true });
/** Enough to fix a request; more would only grow the error. */
const maxIssues = 20;
const pairsKey = "entityTimestampPairs";

type Issue = { path: string; message: string; code: string };

/**
 * Reads `body`, calling `stage` with batches of batchSize valid pairs (the last smaller), in order,
 * one at a time: the next batch is parsed while the previous one is staged (parsing 100,000
 * pairs takes ~250 ms, as long again as staging them), and waits for it before handing on
 * another, which keeps at most two batches and one chunk in memory.
 * Throws VALIDATION_FAILED (400) with the offending paths, BAD_REQUEST for malformed JSON,
 * PAYLOAD_TOO_LARGE beyond maxBytes. Nothing is staged after the first invalid pair.
 */
export async function readTrainingRequest(
  body: ReadableStream<Uint8Array> | null,
  stage: (pairs: StreamedPair[]) => Promise<void>,
  options: {
    batchSize: number;
    maxBytes: number;
    maxPairs?: number;
    /** The body's Content-Length: up to wholeBodyMaxBytes, it is read whole and parsed at once. */
    declaredBytes?: number;
  },
): Promise<TrainingRequestHeader> {
  const maxPairs = options.maxPairs ?? maxStreamedPairs;
  // No prototype: a "__proto__" field is then a field (refused as unknown), not the object the
  // schema would read entityType and features from.
  const header: Record<string, unknown> = Object.create(null);
  const issues: Issue[] = [];
  const batch: StreamedPair[] = [];
  let pairCount = 0;
  let sawPairs = false;
  let tooMany = false;

  /** A top-level field, or (a root that is an array) an element of it. */
  const takeField = (key: string | number | undefined, value: unknown) => {
    if (typeof key === "number") issues.push({ path: "(root)", message: "expected an object", code: "invalid_type" });
    else if (key === pairsKey) {
      sawPairs = true;
      if (!Array.isArray(value)) issues.push({ path: pairsKey, message: "expected an array", code: "invalid_type" });
    } else if (key !== undefined) header[key] = value;
  };
  const takePair = (key: string | number | undefined, value: unknown) => {
    if (typeof key !== "number" || issues.length >= maxIssues || tooMany) return;
    pairCount++;
    if (pairCount > maxPairs) {
      tooMany = true;
      issues.push({ path: pairsKey, message: `at most ${maxPairs} pairs`, code: "too_big" });
      return;
    }
    const pair = historicalPair.safeParse(value);
    if (!pair.success) {
      for (const issue of issuesToDetails(pair.error.issues)) {
        if (issues.length < maxIssues)
          issues.push({ ...issue, path: `${pairsKey}.${key}${issue.path === "(root)" ? "" : `.${issue.path}`}` });
      }
    } else if (issues.length === 0) batch.push(pair.data);
  };

  if (!body)
    throw new AppError("VALIDATION_FAILED", "The body is empty", [
      { path: "(root)", message: "expected a JSON object", code: "invalid_type" },
    ]);
  // The batch being staged; its failure surfaces at the next hand-over or at the end.
  let staging: Promise<void> = Promise.resolve();
  const handOver = async (pairs: StreamedPair[]) => {
    await staging;
    staging = stage(pairs);
    // Observed now so that a failure while the body is still read is not "unhandled".
    staging.catch(() => {});
  };
  const reader = body.getReader();
  try {
    if (options.declaredBytes !== undefined && options.declaredBytes <= wholeBodyMaxBytes) {
      const root = parseWhole(await readWhole(reader, options.maxBytes));
      if (Array.isArray(root)) for (const [i, value] of root.entries()) takeField(i, value);
      else if (root !== null && typeof root === "object") {
        for (const [key, value] of Object.entries(root)) {
          takeField(key, value);
          if (key !== pairsKey || !Array.isArray(value)) continue;
          for (let i = 0; i < value.length && issues.length < maxIssues && !tooMany; i++) {
            takePair(i, value[i]);
            while (batch.length >= options.batchSize) await handOver(batch.splice(0, options.batchSize));
          }
        }
      }
    } else await readStreamed();
  } finally {
    await reader.cancel().catch(() => {});
    // Nothing is left running on the session when this returns or throws.
    await staging.catch(() => {});
  }
  await staging;

  const checked = headerSchema.safeParse(header);
  if (!checked.success) issues.push(...issuesToDetails(checked.error.issues));
  if (!sawPairs) issues.push({ path: pairsKey, message: "required", code: "invalid_type" });
  else if (pairCount === 0 && issues.length === 0)
    issues.push({ path: pairsKey, message: "at least one pair", code: "too_small" });
  if (issues.length) throw new AppError("VALIDATION_FAILED", undefined, issues.slice(0, maxIssues));
  if (batch.length) await stage(batch);
  return { ...checked.data!, pairCount };

  async function readStreamed() {
    // '$.*' gives the top-level fields (unknown ones included, so they can be refused);
    // its array of pairs is emptied as each pair is taken, so it never fills.
    const parser = new JSONParser({ paths: [`$.${pairsKey}.*`, "$.*"], keepStack: false });
    parser.onValue = ({ value, key, parent, stack }) => {
      if (stack.length === 1) return takeField(key, value);
      // A pair: stack = [root, the pairs array].
      if (Array.isArray(parent)) parent.pop();
      takePair(key, value);
    };
    for await (const value of chunksOf(reader, options.maxBytes)) {
      try {
        parser.write(value);
      } catch (error) {
        throw new AppError("BAD_REQUEST", `Malformed JSON: ${(error as Error).message}`);
      }
      if (issues.length >= maxIssues) break;
      // One chunk may hold more pairs than a batch: each INSERT stays at batchSize.
      while (batch.length >= options.batchSize) await handOver(batch.splice(0, options.batchSize));
    }
    if (issues.length < maxIssues && !parser.isEnded) {
      try {
        parser.end();
      } catch (error) {
        throw new AppError("BAD_REQUEST", `Malformed JSON: ${(error as Error).message}`);
      }
    }
  }
}

/**
 * A body that says it is at most this long is read whole and parsed by JSON.parse: the
 * streamed tokenizer takes ~4.5 µs a pair (45 ms of a 10,000-pair training set that is
 * answered in ~350 ms), JSON.parse a tenth of that. 2 MiB is ~30,000 pairs, whose parsed
 * form is a few MB: the memory stays bounded as the streamed path's does.
 */
export const wholeBodyMaxBytes = 2 * 1024 * 1024;

/** The body's chunks as they arrive: 400 when it cannot be read, 413 past maxBytes. */
async function* chunksOf(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number) {
  let bytes = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (error) {
      throw new AppError("BAD_REQUEST", `The body could not be read: ${(error as Error).message}`);
    }
    if (chunk.done) return;
    bytes += chunk.value.byteLength;
    if (bytes > maxBytes) throw new AppError("PAYLOAD_TOO_LARGE", `The body is larger than ${maxBytes} bytes`);
    yield chunk.value;
  }
}

/** The body's bytes as text. */
async function readWhole(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of chunksOf(reader, maxBytes)) {
    chunks.push(chunk);
    bytes += chunk.byteLength;
  }
  const whole = new Uint8Array(bytes);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(whole);
}

function parseWhole(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AppError("BAD_REQUEST", `Malformed JSON: ${(error as Error).message}`);
  }
}
