// Calls a worker's fetch handler inside workerd, with a token for a tenant and scopes.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { Scope } from "#shared/http/auth.ts";
import { allScopes, signToken } from "./tokens.ts";

interface FetchWorker {
  fetch: (request: Request, env: any, ctx: ExecutionContext) => Response | Promise<Response>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
  /** The body as received. */
  text: string;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  /** Sent as is (a string is not JSON-encoded again). */
  rawBody?: string;
  headers?: Record<string, string>;
}

/** `bindings` replaces some of the test bindings for every call of this client. */
export function apiClient(worker: FetchWorker, bindings: Record<string, unknown> = {}) {
  async function call(path: string, options: CallOptions & { token?: string | null } = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request(`http://worker${path}`, { method: options.method ?? (body ? "POST" : "GET"), headers, body }),
      { ...env, ...bindings },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, headers: response.headers, body: parsed, text };
  }

  /** A caller for one tenant with the given scopes (all by default). */
  function as(tenantId: string, scopes: readonly Scope[] = allScopes) {
    const token = signToken({ tenantId, scopes, sub: `tester-${tenantId.slice(0, 8)}` });
    const withToken = async (path: string, options: CallOptions = {}) => call(path, { ...options, token: await token });
    return {
      tenantId,
      get: (path: string) => withToken(path),
      post: (path: string, body?: unknown) => withToken(path, { method: "POST", body }),
      patch: (path: string, body: unknown) => withToken(path, { method: "PATCH", body }),
      call: withToken,
    };
  }

  return { call, as };
}

/** Asserts the error envelope with its code, and returns the details. */
export function expectError(response: ApiResponse, status: number, code: string): any {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.body?.error?.code, JSON.stringify(response.body)).toBe(code);
  expect(typeof response.body.error.requestId).toBe("string");
  return response.body.error.details;
}

/** The paths named in a 400's details. */
export function detailPaths(response: ApiResponse): string[] {
  return ((response.body?.error?.details ?? []) as { path: string }[]).map((d) => d.path);
}
