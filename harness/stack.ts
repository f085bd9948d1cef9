// Access to the local stack from tests running inside workerd: the app's own database
// handle (app role, RLS), an owner handle for set-up that the app may not do, tenants.

import { env } from "cloudflare:workers";
import { neon } from "@neondatabase/serverless";
import { inject } from "vitest";
import { connectDatabase, type DatabaseHandle } from "#shared/db/client.ts";
import { withTenantSql } from "#shared/db/tenant.ts";
import { type Env, parseEnv } from "#shared/env.ts";

export function testEnv(): Env {
  return parseEnv(env);
}

/** The database as the workers see it: the app role, under RLS. */
export function appDatabase(): DatabaseHandle {
  return connectDatabase(testEnv());
}

/** The owner role (BYPASSRLS), for set-up only: source-table rows, partitions, clean-up. */
export function ownerSql() {
  connectDatabase(testEnv()); // points the Neon driver at the local endpoint
  return neon(inject("ownerDatabaseUrl"));
}

/** A fresh tenant, registered in `tenants` through the app role (RLS allows only its own id). */
export async function createTenant(name = "test tenant"): Promise<string> {
  const tenantId = crypto.randomUUID();
  await withTenantSql(appDatabase(), tenantId, (sql) => [
    sql`INSERT INTO tenants (id, name) VALUES (${tenantId}, ${name})`,
  ]);
  return tenantId;
}
