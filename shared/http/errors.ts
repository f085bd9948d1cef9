// One table of error codes and one envelope for every worker:
// {"error": {"code", "message", "details"?, "requestId"}}.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { isServiceUnavailable } from "#shared/db/pg-errors.ts";
import { ConfigError } from "#shared/env.ts";

export const errorCodes = {
  BAD_REQUEST: { status: 400, message: "The request is malformed" },
  VALIDATION_FAILED: { status: 400, message: "The request does not match the schema" },
  UNKNOWN_FEATURE: { status: 400, message: "Unknown feature" },
  INVALID_CURSOR: { status: 400, message: "The cursor is not valid" },
  UNAUTHORIZED: { status: 401, message: "Missing or invalid credentials" },
  FORBIDDEN: { status: 403, message: "The token lacks a required scope" },
  NOT_FOUND: { status: 404, message: "Not found" },
  METHOD_NOT_ALLOWED: { status: 405, message: "Method not allowed" },
  CONFLICT: { status: 409, message: "Conflicts with an existing resource" },
  PAYLOAD_TOO_LARGE: { status: 413, message: "The request is too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "Content-Type must be application/json" },
  UNPROCESSABLE: { status: 422, message: "The request is well-formed but cannot be applied" },
  INTERNAL: { status: 500, message: "Internal error" },
  MISCONFIGURED: { status: 500, message: "The worker is misconfigured" },
  SERVICE_UNAVAILABLE: { status: 503, message: "A backing service is unavailable; retry later" },
} as const satisfies Record<string, { status: ContentfulStatusCode; message: string }>;

export type ErrorCode = keyof typeof errorCodes;

/** What a 503 asks clients to wait: long enough for a connection or a failover to come back. */
export const retryAfterSeconds = 2;

export class AppError extends Error {
  override name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: unknown,
  ) {
    super(message ?? errorCodes[code].message);
  }
  get status(): ContentfulStatusCode {
    return errorCodes[this.code].status;
  }
}

/** Zod issues as `{path, message}` with the path written the way a client reads it. */
export function issuesToDetails(issues: readonly z.core.$ZodIssue[]) {
  return issues.map((issue) => ({
    path: issue.path.length ? issue.path.map(String).join(".") : "(root)",
    message: issue.message,
    code: issue.code,
  }));
}

export function errorResponse(c: Context, error: AppError): Response {
  const requestId = (c.get("requestId") as string | undefined) ?? "unknown";
  const body: { error: Record<string, unknown> } = {
    error: { code: error.code, message: error.message, requestId },
  };
  if (error.details !== undefined) body.error.details = error.details;
  // Nothing was half-written (every write is one transaction): the same request may be retried.
  if (error.status === 503) c.header("Retry-After", String(retryAfterSeconds));
  return c.json(body, error.status);
}

const httpStatusToCode: Record<number, ErrorCode> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  422: "UNPROCESSABLE",
  503: "SERVICE_UNAVAILABLE",
};

/**
 * Hono's HTTPException, also when it comes from another copy of hono (a dependency such as
 * @hono/zod-openapi may be bundled with its own), where instanceof fails.
 */
function isHttpException(error: unknown): error is HTTPException {
  return (
    error instanceof HTTPException ||
    (error instanceof Error &&
      typeof (error as Partial<HTTPException>).status === "number" &&
      typeof (error as Partial<HTTPException>).getResponse === "function")
  );
}

/** Hono onError: everything becomes the envelope; nothing internal leaks. */
export function handleError(error: unknown, c: Context): Response {
  if (error instanceof AppError) return errorResponse(c, error);
  if (error instanceof z.ZodError) {
    return errorResponse(c, new AppError("VALIDATION_FAILED", undefined, issuesToDetails(error.issues)));
  }
  if (isHttpException(error)) {
    const code = httpStatusToCode[error.status] ?? (error.status >= 500 ? "INTERNAL" : "BAD_REQUEST");
    return errorResponse(c, new AppError(code, error.message || undefined));
  }
  if (isServiceUnavailable(error)) {
    console.warn("backing service unavailable", c.get("requestId"), (error as Error).message);
    return errorResponse(c, new AppError("SERVICE_UNAVAILABLE"));
  }
  if (error instanceof ConfigError) {
    console.error(error.message);
    return errorResponse(c, new AppError("MISCONFIGURED", error.message));
  }
  console.error("unhandled error", c.get("requestId"), error);
  return errorResponse(c, new AppError("INTERNAL"));
}

export function notFound(c: Context): Response {
  return errorResponse(c, new AppError("NOT_FOUND", `No route ${c.req.method} ${c.req.path}`));
}
