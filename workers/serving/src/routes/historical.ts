// POST /v1/features/historical: point-in-time training rows, JSON (up to 10,000 pairs) or,
// by Accept, NDJSON / CSV streamed chunk by chunk (memory flat in the number of rows).
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppBindings } from "../../../../shared/app.ts";
import { requireScope } from "../../../../shared/auth.ts";
import { AppError } from "../../../../shared/errors.ts";
import { bearerSecurity, errorResponses, jsonBody } from "../../../../shared/openapi.ts";
import { readPointInTime } from "../../../../shared/point-in-time.ts";
import { tenantContext } from "../../../../shared/tenant-context.ts";
import { resolveFeatures } from "../registry-cache.ts";
import { historicalRequest, historicalResponse, maxJsonPairs } from "../schemas.ts";
import { csvHeader, toCsvRecord, toObject } from "../training-formats.ts";

type Format = "json" | "ndjson" | "csv";

function formatFor(accept: string | undefined): Format {
  const a = (accept ?? "").toLowerCase();
  if (a.includes("application/x-ndjson") || a.includes("application/jsonl") || a.includes("application/ndjson"))
    return "ndjson";
  if (a.includes("text/csv")) return "csv";
  return "json";
}

export function registerHistoricalRoute(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/features/historical",
      summary: "Point-in-time correct training rows (JSON, or NDJSON / CSV by Accept, streamed)",
      tags: ["training"],
      security: bearerSecurity,
      middleware: [requireScope("features:read")] as const,
      request: { body: jsonBody(historicalRequest) },
      responses: {
        200: {
          description: "One row per requested pair, in request order",
          content: {
            "application/json": { schema: historicalResponse },
            "application/x-ndjson": { schema: { type: "string" } },
            "text/csv": { schema: { type: "string" } },
          },
        },
        ...errorResponses(413),
      },
    }),
    async (c) => {
      const started = performance.now();
      const request = c.req.valid("json");
      const format = formatFor(c.req.header("accept"));
      if (format === "json" && request.entityTimestampPairs.length > maxJsonPairs) {
        throw new AppError(
          "PAYLOAD_TOO_LARGE",
          `JSON answers hold up to ${maxJsonPairs} pairs; ask for Accept: application/x-ndjson or text/csv (streamed, up to 1,000,000)`,
        );
      }
      const ctx = tenantContext(c);
      const { resolved } = await resolveFeatures(ctx, request.features, request.entityType);
      const features = request.features.map((n) => resolved.get(n)!);
      const chunks = readPointInTime(
        ctx,
        {
          entityType: request.entityType,
          features,
          pairs: request.entityTimestampPairs.map((p) => ({ entityId: p.entityId, timestamp: new Date(p.timestamp) })),
          asOfIngestion: request.asOfIngestion,
        },
        { mergeThreshold: ctx.env.PIT_MERGE_THRESHOLD },
      );

      if (format === "json") {
        const rows = [];
        for await (const chunk of chunks) for (const row of chunk) rows.push(toObject(row, request.features, features));
        const latencyMs = Math.round((performance.now() - started) * 100) / 100;
        return c.json({ rows, metadata: { source: "offline" as const, totalRows: rows.length, latencyMs } }, 200);
      }

      const encoder = new TextEncoder();
      let headerSent = false;
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            if (format === "csv" && !headerSent) {
              headerSent = true;
              controller.enqueue(encoder.encode(csvHeader(request.features)));
              return;
            }
            const next = await chunks.next();
            if (next.done) {
              controller.close();
              return;
            }
            let text = "";
            for (const row of next.value) {
              const object = toObject(row, request.features, features);
              text += format === "csv" ? toCsvRecord(object, request.features) : `${JSON.stringify(object)}\n`;
            }
            controller.enqueue(encoder.encode(text));
          } catch (error) {
            console.error("historical stream failed", error);
            controller.error(error);
          }
        },
        async cancel() {
          await chunks.return(undefined);
        },
      });
      return new Response(stream, {
        status: 200,
        headers: {
          "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
          "x-request-id": c.get("requestId"),
        },
      }) as never;
    },
  );
}
