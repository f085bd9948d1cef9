// The tenant context of an authenticated request: the verified token's tenant and subject,
// the worker's backing services, and the request's waitUntil for work after the response.
import type { Context } from "hono";
import { type TenantContext, tenantContextFor } from "#shared/db/tenant.ts";
import { parseEnv } from "#shared/env.ts";
import type { AppBindings } from "./bindings.ts";

export function tenantContext(c: Context<AppBindings>): TenantContext {
  const auth = c.get("auth");
  return tenantContextFor(parseEnv(c.env), auth.tenantId, {
    subject: auth.subject,
    defer: (work) => {
      const guarded = work.catch((error) => console.error("deferred work failed", error));
      try {
        c.executionCtx.waitUntil(guarded);
      } catch {
        // No execution context (called outside a request): the promise still runs.
      }
    },
  });
}
