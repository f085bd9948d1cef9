// The Hono app every worker starts from: request ids, the error envelope, zod validation
// failures as 400 with the offending path, and typed request variables.
import { OpenAPIHono } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import type { AuthContext } from "./auth.ts";
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
