// A streamed training set (NDJSON) as an async iterator of rows. Breaking out of the loop,
// or the caller's signal, cancels the body, and so the query behind it. The server's
// in-band failure marker (a line `{"error":…}` before it aborts the body) is thrown as
// the FeatureStoreError it carries: a cut stream never passes for a complete one.
import type { TrainingRow } from "./contract.ts";
import { FeatureStoreError } from "./errors.ts";

export async function* trainingRows(response: Response, signal?: AbortSignal): AsyncGenerator<TrainingRow> {
  if (!response.body) throw new FeatureStoreError("BAD_RESPONSE", "The training set has no body", response.status);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  let buffer = "";
  let done = false;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<string>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal?.aborted) throw new FeatureStoreError("ABORTED", "The training set was cancelled", 0);
        throw new FeatureStoreError("NETWORK_ERROR", `The training set was cut: ${(error as Error).message}`, 0);
      }
      if (chunk.done) break;
      buffer += chunk.value;
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line) yield parseLine(line);
        newline = buffer.indexOf("\n");
      }
    }
    if (signal?.aborted) throw new FeatureStoreError("ABORTED", "The training set was cancelled", 0);
    if (buffer.trim()) yield parseLine(buffer);
    done = true;
  } finally {
    signal?.removeEventListener("abort", cancel);
    if (!done) cancel();
  }
}

function parseLine(line: string): TrainingRow {
  const value = JSON.parse(line) as TrainingRow & { error?: { code: string; message: string; requestId?: string } };
  if (value.error) {
    throw new FeatureStoreError(
      value.error.code as FeatureStoreError["code"],
      `The training set failed part way: ${value.error.message}`,
      200,
      undefined,
      value.error.requestId,
    );
  }
  return value;
}
