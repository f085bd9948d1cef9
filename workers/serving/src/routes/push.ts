// POST /v1/features/push: stream and on-demand ingestion. Every value is checked against its
// definition (shared/features/push-rows.ts); a row with any invalid value is rejected whole,
// with its reasons, and the valid rows are stored (offline once per event time, online
// newest-wins).
import type { OpenAPIHono } from "@hono/zod-openapi";
import { writeEvents } from "#shared/features/events.ts";
import { checkPushedRows } from "#shared/features/push-rows.ts";
import { writeFeatureValues } from "#shared/features/writes.ts";
import type { AppBindings } from "#shared/http/bindings.ts";
import { AppError } from "#shared/http/errors.ts";
import { jsonBody, jsonResponse } from "#shared/http/openapi.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { resolveFeatures } from "../registry-cache.ts";
import { maxPushRows, pushRequest, pushResponse } from "../schemas.ts";

/** What the answer says of the cache when two writes went to it: the worse outcome, "disabled" only when nothing was written. */
function worstCache<T extends "written" | "unavailable" | "disabled">(a: T, b: T): T {
  if (a === "unavailable" || b === "unavailable") return "unavailable" as T;
  return a === "written" || b === "written" ? ("written" as T) : a;
}

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

      const { writes, events, rejected: errors } = checkPushedRows(request.entityType, request.rows, resolved);

      // Plain values and aggregated events are two statements: run side by side.
      const [values, aggregated] = await Promise.all([writeFeatureValues(ctx, writes), writeEvents(ctx, events)]);
      const stored = {
        offlineInserted: values.offlineInserted + aggregated.offlineInserted,
        restated: values.restated + aggregated.restated,
        unchanged: values.unchanged + aggregated.unchanged,
        onlineUpdated: values.onlineUpdated + aggregated.onlineUpdated,
        cache: worstCache(values.cache, aggregated.cache),
      };
      return c.json(
        {
          accepted: request.rows.length - errors.length,
          rejected: errors.length,
          errors,
          offlineInserted: stored.offlineInserted,
          restated: stored.restated,
          unchanged: stored.unchanged,
          onlineUpdated: stored.onlineUpdated,
          cache: stored.cache,
        },
        200,
      );
    },
  );
}
