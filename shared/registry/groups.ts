// Feature groups: create, get, list, update, archive, for one tenant under RLS.

import type { z } from "@hono/zod-openapi";
import { type SQL, sql } from "drizzle-orm";
import { keysetPage } from "#shared/db/keyset-page.ts";
import { pgCodes, pgError } from "#shared/db/pg-errors.ts";
import { type TenantContext, tenantRows } from "#shared/db/tenant.ts";
import { AppError } from "#shared/http/errors.ts";
import { invalidateRegistryCache } from "./cache.ts";
import type { createGroupBody, FeatureGroup, updateGroupBody } from "./schemas.ts";

/** The tenants row the registry's foreign keys point at; created on first write. */
export const ensureTenantRow = (tenantId: string) =>
  sql`INSERT INTO tenants (id) VALUES (${tenantId}) ON CONFLICT (id) DO NOTHING`;

const groupJson = sql`feature_group_json(g) AS json`;

interface GroupRow {
  json: FeatureGroup;
}

/** Inserts a group, returning `json`. */
export function insertGroupSql(ctx: TenantContext, input: z.infer<typeof createGroupBody>): SQL {
  return sql`INSERT INTO ai_feature_groups AS g
      (tenant_id, name, display_name, description, entity_type, entity_id_column,
       online_enabled, offline_enabled, ttl_seconds, tags, created_by)
    VALUES (${ctx.tenantId}, ${input.name}, ${input.displayName}, ${input.description ?? null},
            ${input.entityType}, ${input.entityIdColumn ?? "entity_id"}, ${input.onlineEnabled ?? true},
            ${input.offlineEnabled ?? true}, ${input.ttlSeconds ?? null}, ${JSON.stringify(input.tags ?? [])}::jsonb,
            ${ctx.subject})
    RETURNING feature_group_json(g) AS json`;
}

export async function createGroup(ctx: TenantContext, input: z.infer<typeof createGroupBody>): Promise<FeatureGroup> {
  try {
    const [, rows] = await tenantRows(ctx.db, ctx.tenantId, [
      ensureTenantRow(ctx.tenantId),
      insertGroupSql(ctx, input),
    ]);
    await invalidateRegistryCache(ctx.env, ctx.tenantId);
    return (rows![0] as unknown as GroupRow).json;
  } catch (error) {
    if (pgError(error)?.code === pgCodes.uniqueViolation) {
      throw new AppError("CONFLICT", `A feature group named '${input.name}' already exists`, [
        { path: "name", message: "already exists" },
      ]);
    }
    throw error;
  }
}

export async function getGroup(ctx: TenantContext, groupId: string): Promise<FeatureGroup> {
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT ${groupJson} FROM ai_feature_groups g WHERE g.id = ${groupId}`,
  ]);
  const row = rows![0] as unknown as GroupRow | undefined;
  if (!row) throw new AppError("NOT_FOUND", `Feature group ${groupId} not found`);
  return row.json;
}

/** A group by id or by name (names are unique per tenant). */
export async function findGroup(ctx: TenantContext, ref: string): Promise<FeatureGroup | null> {
  const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref);
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
    sql`SELECT ${groupJson} FROM ai_feature_groups g WHERE ${byId ? sql`g.id = ${ref}` : sql`g.name = ${ref}`}`,
  ]);
  return (rows![0] as unknown as GroupRow | undefined)?.json ?? null;
}

export interface ListGroupsOptions {
  status?: string;
  entityType?: string;
  limit: number;
  cursor?: string;
}

export async function listGroups(ctx: TenantContext, options: ListGroupsOptions) {
  const filters: SQL[] = [];
  if (options.status) filters.push(sql`g.status = ${options.status}`);
  if (options.entityType) filters.push(sql`g.entity_type = ${options.entityType}`);
  return keysetPage<FeatureGroup>(ctx, {
    from: sql`ai_feature_groups g`,
    alias: "g",
    json: sql`feature_group_json(g)`,
    filters,
    order: "newest first",
    limit: options.limit,
    cursor: options.cursor,
  });
}

const groupColumns: Record<string, string> = {
  displayName: "display_name",
  description: "description",
  onlineEnabled: "online_enabled",
  offlineEnabled: "offline_enabled",
  ttlSeconds: "ttl_seconds",
  status: "status",
  tags: "tags",
};

/** Updates the group `where` picks (alias g), returning `json`. */
export function updateGroupSql(where: SQL, changes: Record<string, unknown>): SQL {
  const assignments = Object.entries(changes)
    .filter(([, v]) => v !== undefined)
    .map(([field, value]) =>
      field === "tags"
        ? sql`tags = ${JSON.stringify(value)}::jsonb`
        : sql`${sql.identifier(groupColumns[field]!)} = ${value}`,
    );
  return sql`UPDATE ai_feature_groups AS g SET ${sql.join(assignments, sql`, `)}, updated_at = now()
      WHERE ${where} RETURNING feature_group_json(g) AS json`;
}

export async function updateGroup(
  ctx: TenantContext,
  groupId: string,
  changes: z.infer<typeof updateGroupBody>,
): Promise<FeatureGroup> {
  const [rows] = await tenantRows(ctx.db, ctx.tenantId, [updateGroupSql(sql`g.id = ${groupId}`, changes)]);
  const row = rows![0] as unknown as GroupRow | undefined;
  if (!row) throw new AppError("NOT_FOUND", `Feature group ${groupId} not found`);
  await invalidateRegistryCache(ctx.env, ctx.tenantId);
  return row.json;
}

export function archiveGroup(ctx: TenantContext, groupId: string): Promise<FeatureGroup> {
  return updateGroup(ctx, groupId, { status: "archived" });
}
