// What a service function needs to act for the token's tenant, and nothing about HTTP.
import type { Context } from "hono";
import { connectDatabase, type DatabaseHandle } from "#shared/db/tenant.ts";
import { type Env, parseEnv } from "#shared/env.ts";
import type { AppBindings } from "./app.ts";

export interface TenantContext {
  env: Env;
  db: DatabaseHandle;
  tenantId: string;
  /** The token's `sub`, recorded as created_by. */
  subject: string | null;
  /** Work to finish after the response (ctx.waitUntil), e.g. cache writes. */
  defer: (work: Promise<unknown>) => void;
}

export function tenantContext(c: Context<AppBindings>): TenantContext {
  const env = parseEnv(c.env);
  const auth = c.get("auth");
  return {
    env,
    db: connectDatabase(env),
    tenantId: auth.tenantId,
    subject: auth.subject,
    defer: (work) => {
      const guarded = work.catch((error) => console.error("deferred work failed", error));
      try {
        c.executionCtx.waitUntil(guarded);
      } catch {
        // No execution context (called outside a request): the promise still runs.
      }
    },
  };
}
