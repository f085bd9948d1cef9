// Registry set-up for serving tests, through the same service functions the admin worker uses.
import type { z } from "@hono/zod-openapi";
import type { TenantContext } from "#shared/db/tenant.ts";
import { createFeature } from "#shared/registry/features.ts";
import { createGroup } from "#shared/registry/groups.ts";
import type { createFeatureBody, FeatureDefinition, FeatureGroup } from "#shared/registry/schemas.ts";
import { appDatabase, testEnv } from "./stack.ts";

export function testTenantContext(tenantId = crypto.randomUUID()): TenantContext {
  const pending: Promise<unknown>[] = [];
  return { env: testEnv(), db: appDatabase(), tenantId, subject: "test", defer: (p) => void pending.push(p) };
}

type FeatureInput = Omit<z.infer<typeof createFeatureBody>, "displayName" | "sourceType"> & {
  sourceType?: "batch" | "stream" | "on_demand";
};

export interface GroupInput {
  name: string;
  entityType: "tenant" | "user" | "conversation" | "message";
  ttlSeconds?: number | null;
  features: FeatureInput[];
}

/** Creates the groups and features; returns them by "group.feature". */
export async function defineFeatures(ctx: TenantContext, groups: GroupInput[]) {
  const created = new Map<string, FeatureDefinition>();
  const groupRows = new Map<string, FeatureGroup>();
  for (const g of groups) {
    const group = await createGroup(ctx, {
      name: g.name,
      displayName: g.name,
      entityType: g.entityType,
      ttlSeconds: g.ttlSeconds ?? null,
    });
    groupRows.set(g.name, group);
    for (const f of g.features) {
      const feature = await createFeature(ctx, group.id, { displayName: f.name, sourceType: "stream", ...f });
      created.set(`${g.name}.${f.name}`, feature);
    }
  }
  return { features: created, groups: groupRows };
}
