// Every failure as one typed object: the server's envelope code when there was an answer,
// or what went wrong on the way (NETWORK_ERROR, TIMEOUT, ABORTED, BAD_RESPONSE).
import type { ErrorCode } from "./contract.ts";

export type ClientErrorCode = "NETWORK_ERROR" | "TIMEOUT" | "ABORTED" | "BAD_RESPONSE";

export class FeatureStoreError extends Error {
  override name = "FeatureStoreError";
  constructor(
    /** The envelope's code, or the client's own when no envelope came back. */
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    /** HTTP status; 0 when no answer came back. */
    readonly status: number,
    readonly details?: unknown,
    readonly requestId?: string,
    /** Seconds the server asked to wait (Retry-After), when it did. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

interface Envelope {
  error?: { code?: unknown; message?: unknown; details?: unknown; requestId?: unknown };
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date). */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

/** A FeatureStoreError from a worker's error answer (its body already read as text). */
export function errorFromAnswer(status: number, text: string, headers: Headers): FeatureStoreError {
  let envelope: Envelope | null = null;
  try {
    envelope = JSON.parse(text) as Envelope;
  } catch {}
  const error = envelope?.error;
  const retryAfter = retryAfterSeconds(headers.get("retry-after"));
  if (!error || typeof error.code !== "string")
    return new FeatureStoreError(
      "BAD_RESPONSE",
      `HTTP ${status} without the error envelope`,
      status,
      text.slice(0, 500),
      undefined,
      retryAfter,
    );
  return new FeatureStoreError(
    error.code as ErrorCode,
    typeof error.message === "string" ? error.message : error.code,
    status,
    error.details,
    typeof error.requestId === "string" ? error.requestId : undefined,
    retryAfter,
  );
}
