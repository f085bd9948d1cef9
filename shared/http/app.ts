// The Hono app every worker starts from: request ids, the error envelope, zod validation
// failures as 400 with the offending path, and typed request variables.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import { type AuthContext, authenticate } from "./auth.ts";
import { AppError, handleError, issuesToDetails, notFound } from "./errors.ts";

export interface AppBindings {
  Bindings: Record<string, unknown>;
  Variables: { requestId: string; auth: AuthContext };
}

export function createApp(): OpenAPIHono<AppBindings> {
  const app = new OpenAPIHono<AppBindings>({
    defaultHook: (result) => {
      if (!result.success) throw new AppError("VALIDATION_FAILED", undefined, issuesToDetails(result.error.issues));
    },
  });
  app.use("*", requestId({ headerName: "X-Request-Id", limitLength: 128 }));
  app.onError(handleError);
  app.notFound(notFound);
  return app;
}

/** hono's bodyLimit with the envelope: 413 PAYLOAD_TOO_LARGE beyond maxSize bytes. */
export function bodyLimiter(maxSize: number): MiddlewareHandler<AppBindings> {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new AppError("PAYLOAD_TOO_LARGE", `The body is larger than ${maxSize} bytes`);
    },
  });
}

/**
 * Everything under `prefix` needs a verified token (except the OpenAPI document) and a
 * body no larger than maxBodyBytes (413 with the envelope beyond). Routes listed in
 * `ownBodyLimits` apply a limit themselves: hono's limiter buffers a body sent without
 * Content-Length, which a route that streams its body cannot afford.
 */
export function protectApi(
  app: OpenAPIHono<AppBindings>,
  options: { prefix: string; openApiPath: string; maxBodyBytes: number; ownBodyLimits?: string[] },
): void {
  app.use(`${options.prefix}/*`, async (c, next) => {
    if (c.req.path === options.openApiPath) return next();
    return authenticate()(c, next);
  });
  const standard = bodyLimiter(options.maxBodyBytes);
  const own = new Set(options.ownBodyLimits ?? []);
  app.use(`${options.prefix}/*`, (c, next) => (own.has(c.req.path) ? next() : standard(c, next)));
}
