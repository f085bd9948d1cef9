// POST /v1/features/batch: every value of the features for those entities in
// [startTime, endTime), ordered by entity and event time, a page at a time.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { tenantRows } from "#shared/db/tenant.ts";
import type { AppBindings } from "#shared/http/app.ts";
import { requireScope } from "#shared/http/auth.ts";
import { AppError } from "#shared/http/errors.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse } from "#shared/http/openapi.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { resolveFeatures } from "../registry-cache.ts";
import { batchRequest, batchResponse } from "../schemas.ts";

function encodeCursor(entityId: string, eventMs: number): string {
  return btoa(unescape(encodeURIComponent(JSON.stringify([entityId, eventMs])))).replace(/=+$/, "");
}

function decodeCursor(cursor: string): [string, number] {
  try {
    const value = JSON.parse(decodeURIComponent(escape(atob(cursor))));
    if (Array.isArray(value) && typeof value[0] === "string" && Number.isSafeInteger(value[1]))
      return [value[0], value[1]];
  } catch {}
  throw new AppError("INVALID_CURSOR", "The cursor is not valid", [
    { path: "cursor", message: "not a cursor from this API" },
  ]);
}

export function registerBatchRoute(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/features/batch",
      summary: "All values of features for entities in a time range, by entity and time, paginated",
      tags: ["training"],
      security: bearerSecurity,
      middleware: [requireScope("features:read")] as const,
      request: { body: jsonBody(batchRequest) },
      responses: { 200: jsonResponse(batchResponse, "A page of rows"), ...errorResponses(413) },
    }),
    async (c) => {
      const started = performance.now();
      const request = c.req.valid("json");
      const ctx = tenantContext(c);
      const { resolved } = await resolveFeatures(ctx, request.features, request.entityType);
      const byId = new Map<string, string[]>();
      for (const name of request.features) {
        const id = resolved.get(name)!.id;
        byId.set(id, [...(byId.get(id) ?? []), name]);
      }
      const after = request.cursor ? decodeCursor(request.cursor) : null;
      const featureIds = sql`(SELECT f.id::uuid FROM jsonb_array_elements_text(${JSON.stringify([...byId.keys()])}::jsonb) AS f(id))`;
      const filters = [
        sql`v.entity_type = ${request.entityType}`,
        sql`v.entity_id IN (SELECT jsonb_array_elements_text(${JSON.stringify(request.entityIds)}::jsonb))`,
        sql`v.feature_id IN ${featureIds}`,
      ];
      if (request.startTime) filters.push(sql`v.event_timestamp >= ${request.startTime}::timestamptz`);
      if (request.endTime) filters.push(sql`v.event_timestamp < ${request.endTime}::timestamptz`);
      if (after)
        filters.push(
          sql`(v.entity_id, v.event_timestamp) > (${after[0]}::text, ${new Date(after[1]).toISOString()}::timestamptz)`,
        );
      // Pages end on an (entity, event time) boundary: rows are grouped by both.
      const [rows] = await tenantRows(ctx.db, ctx.tenantId, [
        sql`WITH keys AS (
              SELECT DISTINCT v.entity_id, v.event_timestamp
              FROM ai_feature_values v
              WHERE ${sql.join(filters, sql` AND `)}
              ORDER BY v.entity_id, v.event_timestamp
              LIMIT ${request.limit + 1}
            )
            SELECT k.entity_id, (extract(epoch FROM k.event_timestamp) * 1000)::bigint AS event_ms,
                   jsonb_object_agg(v.feature_id, v.value) AS cells
            FROM keys k JOIN ai_feature_values v
              ON v.entity_id = k.entity_id AND v.event_timestamp = k.event_timestamp AND v.entity_type = ${request.entityType}
             AND v.feature_id IN ${featureIds}
            GROUP BY k.entity_id, k.event_timestamp
            ORDER BY k.entity_id, k.event_timestamp`,
      ]);
      const page = rows!.slice(0, request.limit);
      const last = page.at(-1);
      const nextCursor =
        rows!.length > request.limit && last ? encodeCursor(last.entity_id as string, Number(last.event_ms)) : null;
      return c.json(
        {
          rows: page.map((r) => {
            const features: Record<string, unknown> = {};
            for (const [id, value] of Object.entries(r.cells as Record<string, unknown>)) {
              for (const name of byId.get(id) ?? []) features[name] = value;
            }
            return {
              entityId: r.entity_id as string,
              eventTimestamp: new Date(Number(r.event_ms)).toISOString(),
              features,
            };
          }),
          metadata: {
            totalRows: page.length,
            latencyMs: Math.round((performance.now() - started) * 100) / 100,
            nextCursor,
          },
        },
        200,
      );
    },
  );
}
