// POST /v1/features/online: latest values for one entity or a batch; with `timestamp`,
// the values as of that time from the offline store.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { TenantContext } from "#shared/db/tenant.ts";
import type { AppBindings } from "#shared/http/bindings.ts";
import { jsonBody } from "#shared/http/openapi.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { readPointInTime } from "#shared/offline-store/point-in-time.ts";
import { type EntityFeatures, type OnlineReadResult, readOnlineFeatures } from "../online-reader.ts";
import { resolveFeatures } from "../registry-cache.ts";
import { batchOnlineResponse, type OnlineRequest, onlineRequest, onlineResponse } from "../schemas.ts";
import { toObject } from "../training-formats.ts";

/** With `timestamp`: the historical path (the offline store as of that time). */
async function readAsOf(ctx: TenantContext, request: OnlineRequest, entityIds: string[]): Promise<OnlineReadResult> {
  const { resolved } = await resolveFeatures(ctx, request.features, request.entityType);
  const features = request.features.map((n) => resolved.get(n)!);
  const timestamp = request.timestamp!;
  const entities: EntityFeatures[] = [];
  let postgresRoundTrips = 0;
  const chunks = readPointInTime(ctx, {
    entityType: request.entityType,
    features,
    pairs: entityIds.map((entityId) => ({ entityId, timestamp })),
    asOfIngestion: false,
  });
  for await (const chunk of chunks) {
    postgresRoundTrips++;
    for (const row of chunk) {
      const o = toObject(row, request.features, features);
      entities.push({
        entityId: o.entityId,
        features: o.features,
        timestamps: o.eventTimestamps,
        statuses: o.statuses,
      });
    }
  }
  return { entities, servedFrom: "postgres", redis: "disabled", redisRoundTrips: 0, postgresRoundTrips };
}

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
        ? await readAsOf(ctx, request, entityIds)
        : await readOnlineFeatures(ctx, { entityType: request.entityType, entityIds, features: request.features });
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
