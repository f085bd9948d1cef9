// One request with what every call needs: the token, a timeout per attempt, the caller's
// cancellation, and retries with exponential backoff and full jitter on 429 and 503
// (and on network failures of idempotent calls), waiting at least what Retry-After asks.
import { errorFromAnswer, FeatureStoreError } from "./errors.ts";

export interface RetryOptions {
  /** Retries after the first attempt (default 3; 0 disables). */
  retries?: number;
  /** First backoff ceiling in ms (default 100), doubled per retry. */
  baseDelayMs?: number;
  /** Longest wait between attempts in ms, Retry-After included (default 10,000). */
  maxDelayMs?: number;
}

export interface TransportOptions {
  token: string | (() => string | Promise<string>);
  /** Per attempt, until the answer's headers, in ms (default 10,000). */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** A fetch to call instead of the global one (a service binding's, a test's). */
  fetch?: (request: Request) => Promise<Response>;
  /** Random in [0, 1): jitter. Tests fix it. */
  random?: () => number;
  /** Waits between attempts. Tests record them. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Extra headers (Accept for streamed training sets). */
  headers?: Record<string, string>;
}

export interface Call {
  method: "GET" | "POST" | "PATCH";
  url: string;
  body?: unknown;
  /** Safe to send again after a failure whose outcome is unknown (503, network). */
  idempotent: boolean;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

export function createTransport(options: TransportOptions) {
  const retries = options.retry?.retries ?? 3;
  const base = options.retry?.baseDelayMs ?? 100;
  const max = options.retry?.maxDelayMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? abortableSleep;
  const doFetch = options.fetch ?? ((request: Request) => fetch(request));

  const token = async () => (typeof options.token === "function" ? options.token() : options.token);

  function backoff(attempt: number, error: FeatureStoreError): number {
    const jittered = random() * Math.min(max, base * 2 ** attempt);
    const asked = error.retryAfterSeconds === undefined ? 0 : error.retryAfterSeconds * 1000;
    return Math.min(max, Math.max(jittered, asked));
  }

  function retryable(error: FeatureStoreError, call: Call): boolean {
    if (error.status === 429) return true;
    if (error.status === 503 || error.code === "NETWORK_ERROR" || error.code === "TIMEOUT") return call.idempotent;
    return false;
  }

  /** One attempt: the answer when it is 2xx (body unread), else a FeatureStoreError. */
  async function attempt(call: Call, callOptions: CallOptions): Promise<Response> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signal = callOptions.signal ? AbortSignal.any([callOptions.signal, timeout.signal]) : timeout.signal;
    const headers: Record<string, string> = {
      authorization: `Bearer ${await token()}`,
      accept: "application/json",
      ...callOptions.headers,
    };
    if (call.body !== undefined) headers["content-type"] = "application/json";
    try {
      const response = await doFetch(
        new Request(call.url, {
          method: call.method,
          headers,
          body: call.body === undefined ? undefined : JSON.stringify(call.body),
          signal,
        }),
      );
      if (response.ok) return response;
      throw errorFromAnswer(response.status, await response.text(), response.headers);
    } catch (error) {
      if (error instanceof FeatureStoreError) throw error;
      if (callOptions.signal?.aborted) throw new FeatureStoreError("ABORTED", "The call was cancelled", 0);
      if (timeout.signal.aborted) throw new FeatureStoreError("TIMEOUT", `No answer within ${timeoutMs} ms`, 0);
      throw new FeatureStoreError("NETWORK_ERROR", (error as Error).message ?? String(error), 0);
    } finally {
      // The timeout bounds the wait for an answer's headers; a streamed body can take
      // minutes, and only the caller's signal bounds it.
      clearTimeout(timer);
    }
  }

  /** The 2xx answer of a call, after the retries its failures allow. */
  async function send(call: Call, callOptions: CallOptions = {}): Promise<Response> {
    for (let n = 0; ; n++) {
      try {
        return await attempt(call, callOptions);
      } catch (error) {
        const failure = error as FeatureStoreError;
        if (n >= retries || !retryable(failure, call)) throw failure;
        try {
          await sleep(backoff(n, failure), callOptions.signal);
        } catch {
          throw new FeatureStoreError("ABORTED", "The call was cancelled", 0);
        }
      }
    }
  }

  async function json<T>(call: Call, callOptions?: CallOptions): Promise<T> {
    const response = await send(call, callOptions);
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new FeatureStoreError("BAD_RESPONSE", "The answer is not JSON", response.status, text.slice(0, 500));
    }
  }

  return { send, json };
}
export type Transport = ReturnType<typeof createTransport>;
