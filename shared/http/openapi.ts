// Pieces every OpenAPI route definition repeats: the error envelope, JSON bodies, the
// bearer security scheme.
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppBindings } from "./bindings.ts";

export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().optional(),
      requestId: z.string(),
    }),
  })
  .openapi("Error");

const statusText = {
  400: "Invalid input (details name each offending path)",
  401: "Missing or invalid token",
  403: "Token lacks the scope",
  404: "Not found (or another tenant's)",
  409: "Conflict",
  413: "Body too large",
  415: "The body is not JSON",
  422: "Valid input that cannot be applied",
} as const satisfies Record<number, string>;

export type ErrorStatus = keyof typeof statusText;

export function errorResponses(...statuses: ErrorStatus[]) {
  return Object.fromEntries(
    [...new Set<ErrorStatus>([400, 401, 403, ...statuses])].map((s) => [
      s,
      { description: statusText[s], content: { "application/json": { schema: errorEnvelopeSchema } } },
    ]),
  );
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

export const bearerSecurity = [{ bearerAuth: [] }];

export function registerBearerScheme(app: OpenAPIHono<AppBindings>): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "Tenant JWT: tenant_id, exp, sub, scope",
  });
}

export const pageSchema = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);
