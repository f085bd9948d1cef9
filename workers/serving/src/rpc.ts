// Workers RPC: `env.FEATURES.getOnline(token, request)` from a Worker with a service binding
// to this entrypoint, without a public HTTP hop.
//
// Identity: the caller passes its tenant JWT on every call, verified exactly as over HTTP
// (same keys, scopes, expiry; verified tokens are cached per isolate, so a warm call skips
// the signature check). A tenant fixed per binding (ctx.props) was rejected: props are
// written in the *calling* Worker's deploy config, so whoever deploys a Worker on the account
// could claim any tenant; a token is signed by the platform and names its tenant and scopes.
//
// Each method runs the HTTP route in-process (the same validation, auth, isolation and error
// envelope as HTTP, by construction) and answers an RpcAnswer instead of throwing: Workers
// RPC keeps only an error's message, not its code, status or details.
import { WorkerEntrypoint } from "cloudflare:workers";
import type { z } from "@hono/zod-openapi";
import app from "./app.ts";
import type {
  batchOnlineResponse,
  batchRequest,
  batchResponse,
  historicalRequest,
  historicalResponse,
  onlineRequest,
  onlineResponse,
  pushRequest,
  pushResponse,
  searchRequest,
  searchResponse,
} from "./schemas.ts";

export interface RpcError {
  code: string;
  message: string;
  details?: unknown;
  requestId: string;
}

export type RpcAnswer<T> =
  | { ok: true; status: number; value: T }
  | { ok: false; status: number; error: RpcError; retryAfterSeconds?: number };

export class FeatureStore extends WorkerEntrypoint<Record<string, unknown>> {
  private async call<T>(path: string, token: unknown, body: unknown): Promise<RpcAnswer<T>> {
    if (typeof token !== "string") {
      return {
        ok: false,
        status: 401,
        error: { code: "UNAUTHORIZED", message: "pass the tenant JWT as the first argument", requestId: "rpc" },
      };
    }
    const response = await app.fetch(
      new Request(`https://rpc.internal${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body ?? null),
      }),
      this.env,
      this.ctx,
    );
    const value = await response.json();
    if (response.ok) return { ok: true, status: response.status, value: value as T };
    const retryAfter = response.headers.get("retry-after");
    return {
      ok: false,
      status: response.status,
      error: (value as { error: RpcError }).error,
      ...(retryAfter ? { retryAfterSeconds: Number(retryAfter) } : {}),
    };
  }

  /** POST /v1/features/online: one entity (entityId) or many (entityIds). */
  getOnline(token: string, request: z.input<typeof onlineRequest>) {
    return this.call<z.output<typeof onlineResponse> | z.output<typeof batchOnlineResponse>>(
      "/v1/features/online",
      token,
      request,
    );
  }

  /** POST /v1/features/push. */
  push(token: string, request: z.input<typeof pushRequest>) {
    return this.call<z.output<typeof pushResponse>>("/v1/features/push", token, request);
  }

  /** POST /v1/embeddings/search. */
  searchEmbeddings(token: string, request: z.input<typeof searchRequest>) {
    return this.call<z.output<typeof searchResponse>>("/v1/embeddings/search", token, request);
  }

  /** POST /v1/features/historical as one JSON answer (up to 10,000 pairs; stream larger sets over HTTP). */
  getHistorical(token: string, request: z.input<typeof historicalRequest>) {
    return this.call<z.output<typeof historicalResponse>>("/v1/features/historical", token, request);
  }

  /** POST /v1/features/batch. */
  getBatch(token: string, request: z.input<typeof batchRequest>) {
    return this.call<z.output<typeof batchResponse>>("/v1/features/batch", token, request);
  }
}
