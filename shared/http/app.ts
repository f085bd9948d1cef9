// The Hono app every worker starts from: request ids, its own env schema checked on every
// request (500 MISCONFIGURED naming the setting), the error envelope, zod validation
// failures as 400 with the offending path, GET /healthz; and, for the workers that answer
// tenants, the authenticated API with its OpenAPI document and body limits.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import { parseEnv, type WorkerEnvSchema } from "#shared/env.ts";
import { authenticate } from "./auth.ts";
import type { AppBindings } from "./bindings.ts";
import { AppError, handleError, issuesToDetails, notFound } from "./errors.ts";
import { registerHealthRoute } from "./health.ts";
import { registerBearerScheme } from "./openapi.ts";

export type WorkerApp = OpenAPIHono<AppBindings>;

export function createWorkerApp(options: { service: string; env: WorkerEnvSchema }): WorkerApp {
  const app = new OpenAPIHono<AppBindings>({
    defaultHook: (result) => {
      if (!result.success) throw new AppError("VALIDATION_FAILED", undefined, issuesToDetails(result.error.issues));
    },
  });
  app.use("*", requestId({ headerName: "X-Request-Id", limitLength: 128 }));
  app.use("*", async (_c, next) => {
    parseEnv(_c.env, options.env);
    await next();
  });
  app.onError(handleError);
  app.notFound(notFound);
  registerHealthRoute(app, options.service);
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

export interface TenantApiOptions {
  prefix: string;
  openApi: { path: string; title: string; description?: string };
  maxBodyBytes: number;
  /**
   * Routes that apply a body limit themselves: hono's limiter buffers a body sent without
   * Content-Length, which a route that streams its body cannot afford.
   */
  ownBodyLimits?: string[];
}

/**
 * Everything under `prefix` needs a verified token (except the OpenAPI document) and a
 * body no larger than maxBodyBytes (413 with the envelope beyond).
 */
export function serveTenantApi(app: WorkerApp, options: TenantApiOptions): void {
  registerBearerScheme(app);
  const { path, title, description } = options.openApi;
  app.doc31(path, {
    openapi: "3.1.0",
    info: { title, version: "1.0.0", ...(description ? { description } : {}) },
  });
  const verify = authenticate();
  app.use(`${options.prefix}/*`, (c, next) => (c.req.path === path ? next() : verify(c, next)));
  const standard = bodyLimiter(options.maxBodyBytes);
  const own = new Set(options.ownBodyLimits ?? []);
  app.use(`${options.prefix}/*`, (c, next) => (own.has(c.req.path) ? next() : standard(c, next)));
}
