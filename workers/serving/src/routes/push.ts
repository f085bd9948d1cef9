// POST /v1/features/push: stream and on-demand ingestion. Every value is checked against its
// definition; a row with any invalid value is rejected whole, with its reasons, and the
// valid rows are stored (offline once per event time, online newest-wins).
import type { OpenAPIHono } from "@hono/zod-openapi";
import { checkValue } from "#shared/features/values.ts";
import { type FeatureWrite, writeFeatureValues } from "#shared/features/writes.ts";
import type { AppBindings } from "#shared/http/bindings.ts";
import { AppError } from "#shared/http/errors.ts";
import { jsonBody, jsonResponse } from "#shared/http/openapi.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { resolveFeatures } from "../registry-cache.ts";
import { maxPushRows, pushRequest, pushResponse } from "../schemas.ts";

/** Events from the future would win newest-wins forever; a little clock skew is fine. */
const maxFutureSkewMs = 5 * 60 * 1000;

export function registerPushRoute(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/features/push",
      summary: "Ingest feature values (stream / on-demand)",
      tags: ["serving"],
      scope: "features:write",
      request: { body: jsonBody(pushRequest) },
      errors: [413],
      responses: { 200: jsonResponse(pushResponse, "What was stored and what was rejected") },
    }),
    async (c) => {
      const request = c.req.valid("json");
      if (request.rows.length > maxPushRows) {
        throw new AppError("PAYLOAD_TOO_LARGE", `At most ${maxPushRows} rows per request, got ${request.rows.length}`);
      }
      const ctx = tenantContext(c);
      const names = [...new Set(request.rows.flatMap((r) => Object.keys(r.features)))];
      const { resolved } = await resolveFeatures(ctx, names, request.entityType);

      const writes: FeatureWrite[] = [];
      const errors: { row: number; entityId: string; reasons: { feature: string | null; reason: string }[] }[] = [];
      const now = Date.now();
      request.rows.forEach((row, index) => {
        const reasons: { feature: string | null; reason: string }[] = [];
        const eventTime = new Date(row.eventTimestamp);
        if (eventTime.getTime() > now + maxFutureSkewMs)
          reasons.push({ feature: null, reason: "eventTimestamp is in the future" });
        const rowWrites: FeatureWrite[] = [];
        for (const [name, raw] of Object.entries(row.features)) {
          const feature = resolved.get(name)!;
          const checked = checkValue(feature, raw);
          if (!checked.ok) reasons.push({ feature: name, reason: checked.reason });
          else {
            rowWrites.push({
              feature,
              entityType: request.entityType,
              entityId: row.entityId,
              value: checked.value,
              valueType: checked.valueType,
              eventTime,
            });
          }
        }
        if (reasons.length) errors.push({ row: index, entityId: row.entityId, reasons });
        else writes.push(...rowWrites);
      });

      const stored = await writeFeatureValues(ctx, writes);
      return c.json(
        {
          accepted: request.rows.length - errors.length,
          rejected: errors.length,
          errors,
          offlineInserted: stored.offlineInserted,
          onlineUpdated: stored.onlineUpdated,
          cache: stored.cache,
        },
        200,
      );
    },
  );
}
