// POST /v1/features/batch: every value of the features for those entities in
// [startTime, endTime), ordered by entity and event time, a page at a time.
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { isoFromMs } from "#shared/features/iso-time.ts";
import type { AppBindings } from "#shared/http/bindings.ts";
import { jsonBody, jsonResponse } from "#shared/http/openapi.ts";
import { decodeCursor, encodeCursor } from "#shared/http/pagination.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { readBatchPage } from "#shared/offline-store/batch.ts";
import { resolveFeatures } from "../registry-cache.ts";
import { batchRequest, batchResponse } from "../schemas.ts";

/** A page ends after the (entity, event time) a cursor names. */
// The last row's entity and event time (epoch ms, microseconds as the fraction), within Date's range.
const cursorShape = z.tuple([z.string(), z.number().min(-8.64e15).max(8.64e15)]);

export function registerBatchRoute(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/features/batch",
      summary: "All values of features for entities in a time range, by entity and time, paginated",
      tags: ["training"],
      scope: "features:read",
      request: { body: jsonBody(batchRequest) },
      errors: [413],
      responses: { 200: jsonResponse(batchResponse, "A page of rows") },
    }),
    async (c) => {
      const started = performance.now();
      const request = c.req.valid("json");
      const ctx = tenantContext(c);
      const { resolved } = await resolveFeatures(ctx, request.features, request.entityType);
      // Names that resolve to the same feature version (`group.f` and `f`) share its values.
      const namesByField = new Map<string, string[]>();
      const features = new Map<string, { id: string; version: number }>();
      for (const name of request.features) {
        const feature = resolved.get(name)!;
        namesByField.set(feature.field, [...(namesByField.get(feature.field) ?? []), name]);
        features.set(feature.field, { id: feature.id, version: feature.version });
      }
      const after = request.cursor ? decodeCursor(request.cursor, cursorShape) : null;
      const page = await readBatchPage(ctx, {
        entityType: request.entityType,
        entityIds: request.entityIds,
        features: [...features.values()],
        startTime: request.startTime,
        endTime: request.endTime,
        after: after && { entityId: after[0], eventMs: after[1] },
        limit: request.limit,
      });
      const last = page.rows.at(-1);
      return c.json(
        {
          rows: page.rows.map((r) => {
            const features: Record<string, unknown> = {};
            for (const [field, value] of Object.entries(r.cells)) {
              for (const name of namesByField.get(field) ?? []) features[name] = value;
            }
            return { entityId: r.entityId, eventTimestamp: isoFromMs(r.eventMs), features };
          }),
          metadata: {
            totalRows: page.rows.length,
            latencyMs: Math.round((performance.now() - started) * 100) / 100,
            nextCursor: page.hasMore && last ? encodeCursor([last.entityId, last.eventMs]) : null,
          },
        },
        200,
      );
    },
  );
}
