// POST /v1/features/online: latest values for one entity or a batch; with `timestamp`,
// the values as of that time from the offline store.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppBindings } from "#shared/http/bindings.ts";
import { jsonBody } from "#shared/http/openapi.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { readOnlineFeatures, readOnlineFeaturesAsOf } from "../online-reader.ts";
import { batchOnlineResponse, onlineRequest, onlineResponse } from "../schemas.ts";
import { servingSettings } from "../settings.ts";

export function registerOnlineRoute(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/features/online",
      summary: "Latest feature values of one entity (entityId) or many (entityIds)",
      tags: ["serving"],
      scope: "features:read",
      request: { body: jsonBody(onlineRequest) },
      errors: [413],
      responses: {
        200: {
          description: "One FeatureResponse, or { results } for entityIds",
          content: { "application/json": { schema: onlineResponse.or(batchOnlineResponse) } },
        },
      },
    }),
    async (c) => {
      const started = performance.now();
      const request = c.req.valid("json");
      const ctx = tenantContext(c);
      const entityIds = request.entityIds ?? [request.entityId!];
      const result = request.timestamp
        ? await readOnlineFeaturesAsOf(ctx, { ...request, entityIds, timestamp: request.timestamp })
        : await readOnlineFeatures(ctx, {
            entityType: request.entityType,
            entityIds,
            features: request.features,
            onDemandTimeoutMs: servingSettings(c).ON_DEMAND_TIMEOUT_MS,
          });
      c.header("X-Redis-Round-Trips", String(result.redisRoundTrips));
      c.header("X-Postgres-Round-Trips", String(result.postgresRoundTrips));
      const metadata = {
        source: request.timestamp ? ("offline" as const) : ("online" as const),
        latencyMs: Math.round((performance.now() - started) * 100) / 100,
        servedFrom: result.servedFrom,
        redis: result.redis,
      };
      if (request.entityId !== undefined) {
        return c.json({ entityType: request.entityType, ...result.entities[0]!, metadata }, 200);
      }
      return c.json({ entityType: request.entityType, results: result.entities, metadata }, 200);
    },
  );
}
