// POST /v1/embeddings/search: the k nearest entities by cosine distance, this tenant's rows
// only (shared/features/embedding-search.ts).
import type { OpenAPIHono } from "@hono/zod-openapi";
import { searchEmbeddings } from "#shared/features/embedding-search.ts";
import type { AppBindings } from "#shared/http/bindings.ts";
import { jsonBody, jsonResponse } from "#shared/http/openapi.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { resolveFeatures } from "../registry-cache.ts";
import { searchRequest, searchResponse } from "../schemas.ts";
import { servingSettings } from "../settings.ts";

export function registerSearchRoute(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/embeddings/search",
      summary: "Nearest entities by cosine distance",
      tags: ["serving"],
      scope: "features:read",
      request: { body: jsonBody(searchRequest) },
      errors: [404],
      responses: { 200: jsonResponse(searchResponse, "Nearest first") },
    }),
    async (c) => {
      const started = performance.now();
      const request = c.req.valid("json");
      const ctx = tenantContext(c);
      const { resolved } = await resolveFeatures(ctx, [request.feature], request.entityType);
      const feature = resolved.get(request.feature)!;
      const found = await searchEmbeddings(ctx, {
        feature,
        vector: request.vector ?? null,
        entityId: request.entityId ?? null,
        k: request.k,
        exactMaxRows: servingSettings(c).EXACT_SEARCH_MAX_ROWS,
      });
      return c.json(
        {
          feature: feature.qualifiedName,
          results: found.results,
          metadata: {
            latencyMs: Math.round((performance.now() - started) * 100) / 100,
            strategy: found.strategy,
            efSearch: found.efSearch,
          },
        },
        200,
      );
    },
  );
}
