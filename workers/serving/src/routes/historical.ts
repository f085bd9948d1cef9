// POST /v1/features/historical: point-in-time training rows, JSON (up to 10,000 pairs) or,
// by Accept, NDJSON / CSV (up to 1,000,000 pairs) streamed both ways: past 10,000 pairs the
// request's pairs go to Postgres while the body arrives and the answer leaves a page at a
// time, so the worker's memory does not grow with the number of pairs.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { accepts } from "hono/accepts";
import { isServiceUnavailable } from "#shared/db/pg-errors.ts";
import { bodyLimiter } from "#shared/http/app.ts";
import type { AppBindings } from "#shared/http/bindings.ts";
import { AppError } from "#shared/http/errors.ts";
import { jsonBody } from "#shared/http/openapi.ts";
import { tenantRoute } from "#shared/http/route.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import {
  chooseStrategy,
  openPointInTime,
  pooledQuery,
  readPointInTime,
  stageBatchPairs,
} from "#shared/offline-store/point-in-time.ts";
import { TrainingShards } from "#shared/offline-store/training-shards.ts";
import type { PointInTimeRow, PointInTimeStrategy } from "#shared/offline-store/types.ts";
import type { ServedFeature } from "#shared/registry/snapshot.ts";
import { resolveFeatures } from "../registry-cache.ts";
import { historicalRequest, historicalResponse, maxJsonPairs } from "../schemas.ts";
import { strategySettings } from "../settings.ts";
import { csvEncoder, csvHeader, ndjsonEncoder, toObject } from "../training-formats.ts";
import { readTrainingRequest, type StreamedPair } from "../training-request.ts";

type StreamedFormat = "ndjson" | "csv";

const answerTypes: Record<string, "json" | StreamedFormat> = {
  "application/json": "json",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "text/csv": "csv",
};

/** The answer's form by Accept, q-values honoured (hono's accepts): JSON unless asked otherwise. */
function formatFor(c: Context<AppBindings>): "json" | StreamedFormat {
  const type = accepts(c, { header: "Accept", supports: Object.keys(answerTypes), default: "application/json" });
  return answerTypes[type] ?? "json";
}

/** 10,000 pairs with entity ids of the longest kind (1 KiB) fit. */
const maxJsonBodyBytes = 16 * 1024 * 1024;
/** 1,000,000 pairs of 36-character ids take ~75 MB. */
const maxStreamedBodyBytes = 100 * 1024 * 1024;

const jsonBodyLimit = bodyLimiter(maxJsonBodyBytes);

/**
 * NDJSON and CSV answers are served here, before the JSON validator would read the body
 * whole; JSON answers go on to it, under their own body limit.
 */
const streamedFormats: MiddlewareHandler<AppBindings> = async (c, next) => {
  const format = formatFor(c);
  if (format === "json") return jsonBodyLimit(c, next);
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(c.req.header("content-type") ?? ""))
    throw new AppError("UNSUPPORTED_MEDIA_TYPE");
  if (Number(c.req.header("content-length") ?? 0) > maxStreamedBodyBytes)
    throw new AppError("PAYLOAD_TOO_LARGE", `The body is larger than ${maxStreamedBodyBytes} bytes`);
  return streamTrainingSet(c, format);
};

/**
 * The last line of a training set cut short by a failure: NDJSON gets an error envelope line
 * (`{"error":{...}}`, never a row: rows have no "error" key), CSV a line starting with
 * `#error,` (code, message, request id). The body is then aborted.
 */
export function streamErrorMarker(format: StreamedFormat, error: unknown, requestId: string): string {
  const code = isServiceUnavailable(error) ? "SERVICE_UNAVAILABLE" : "INTERNAL";
  const message = "The training set stopped before its end; nothing after this line was sent";
  if (format === "csv") return `#error,${code},${message},${requestId}\n`;
  return `${JSON.stringify({ error: { code, message, requestId } })}\n`;
}

async function streamTrainingSet(c: Context<AppBindings>, format: StreamedFormat): Promise<Response> {
  const ctx = tenantContext(c);
  const settings = strategySettings(c);
  // Up to maxJsonPairs pairs are held, not staged: a request that ends within them (most
  // training sets) is read over HTTP like a JSON one, with no session to open
  // (openPointInTime). One more opens the sessions and stages what was held.
  const staged: { held: StreamedPair[]; shards: TrainingShards | null } = { held: [], shards: null };
  const stage = async (pairs: StreamedPair[]) => {
    if (!staged.shards && staged.held.length + pairs.length <= maxJsonPairs) {
      staged.held.push(...pairs);
      return;
    }
    if (!staged.shards) {
      staged.shards = await TrainingShards.open(ctx, settings.sessions);
      for (let start = 0; start < staged.held.length; start += stageBatchPairs)
        await staged.shards.stage(staged.held.slice(start, start + stageBatchPairs));
      staged.held = [];
    }
    await staged.shards.stage(pairs);
  };
  const session = { close: async () => staged.shards?.close() };
  let rows: AsyncGenerator<PointInTimeRow[]>;
  let names: string[];
  let features: ServedFeature[];
  let strategy: PointInTimeStrategy;
  try {
    const length = c.req.header("content-length");
    const request = await readTrainingRequest(c.req.raw.body, stage, {
      batchSize: stageBatchPairs,
      maxBytes: maxStreamedBodyBytes,
      declaredBytes: length === undefined ? undefined : Number(length),
    });
    const { resolved } = await resolveFeatures(ctx, request.features, request.entityType);
    names = request.features;
    features = names.map((n) => resolved.get(n)!);
    const training = { entityType: request.entityType, features, asOfIngestion: request.asOfIngestion };
    const shards = staged.shards;
    if (shards) {
      strategy = await chooseStrategy(training, request.pairCount, settings, pooledQuery(ctx));
      rows = shards.rows(training, strategy);
    } else {
      ({ strategy, rows } = await openPointInTime(ctx, { ...training, pairs: staged.held }, settings));
    }
  } catch (error) {
    await session.close();
    throw error;
  }

  const encoder = new TextEncoder();
  const line = format === "csv" ? csvEncoder(names, features) : ndjsonEncoder(names, features);
  let headerSent = false;
  let failed: unknown = null;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      // The marker went out on the previous pull: now abort the body, so neither a reader of
      // the text nor an HTTP client can take what came before for a complete file.
      if (failed) return controller.error(failed);
      try {
        if (format === "csv" && !headerSent) {
          headerSent = true;
          controller.enqueue(encoder.encode(csvHeader(names)));
          return;
        }
        const next = await rows.next();
        if (next.done) {
          await session.close();
          controller.close();
          return;
        }
        const parts: string[] = [];
        for (const row of next.value) line(row, parts);
        controller.enqueue(encoder.encode(parts.join("")));
      } catch (error) {
        console.error("historical stream failed", error);
        failed = error;
        await session.close().catch(() => {});
        controller.enqueue(encoder.encode(streamErrorMarker(format, error, c.get("requestId"))));
      }
    },
    async cancel() {
      await rows.return(undefined);
      await session.close();
    },
  });
  return new Response(stream, {
    status: 200,
    headers: {
      "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
      "x-request-id": c.get("requestId"),
      // How the rows were read ("probe" or "merge"): what to look at when a training set is slow.
      "x-point-in-time-strategy": strategy,
    },
  });
}

export function registerHistoricalRoute(app: OpenAPIHono<AppBindings>): void {
  app.openapi(
    tenantRoute({
      method: "post",
      path: "/v1/features/historical",
      summary: "Point-in-time correct training rows (JSON, or NDJSON / CSV by Accept, streamed)",
      tags: ["training"],
      scope: "features:read",
      middleware: [streamedFormats],
      request: { body: jsonBody(historicalRequest) },
      errors: [413, 415],
      responses: {
        200: {
          description: "One row per requested pair, in request order",
          content: {
            "application/json": { schema: historicalResponse },
            "application/x-ndjson": { schema: { type: "string" } },
            "text/csv": { schema: { type: "string" } },
          },
        },
      },
    }),
    async (c) => {
      const started = performance.now();
      const request = c.req.valid("json");
      if (request.entityTimestampPairs.length > maxJsonPairs) {
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
          pairs: request.entityTimestampPairs,
          asOfIngestion: request.asOfIngestion,
        },
        strategySettings(c),
      );
      const rows = [];
      for await (const chunk of chunks) for (const row of chunk) rows.push(toObject(row, request.features, features));
      const latencyMs = Math.round((performance.now() - started) * 100) / 100;
      return c.json({ rows, metadata: { source: "offline" as const, totalRows: rows.length, latencyMs } }, 200);
    },
  );
}
