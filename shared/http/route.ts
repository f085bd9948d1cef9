// One helper for every authenticated route: the bearer security scheme, the scope check
// and the error responses every such route can give (400, 401, 403) plus its own.
import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { requireScope, type Scope } from "./auth.ts";
import type { AppBindings } from "./bindings.ts";
import { bearerSecurity, type ErrorStatus, errorResponses } from "./openapi.ts";

export type TenantRouteConfig = Omit<RouteConfig, "security" | "middleware"> & {
  scope: Scope;
  /** Error statuses this route gives beyond 400, 401 and 403. */
  errors?: ErrorStatus[];
  /** Middleware that runs after the scope check. */
  middleware?: MiddlewareHandler<AppBindings>[];
};

export function tenantRoute<const C extends TenantRouteConfig>(config: C) {
  const { scope, errors = [], middleware = [], responses, ...route } = config;
  return createRoute({
    ...route,
    security: bearerSecurity,
    middleware: [requireScope(scope), ...middleware] as const,
    responses: { ...responses, ...errorResponses(...errors) },
  });
}
