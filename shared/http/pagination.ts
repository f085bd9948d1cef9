// Pagination as clients see it: `limit` and an opaque `cursor` (base64url of the JSON sort
// key of the last row returned), checked against the shape its producer gave it.
import { z } from "@hono/zod-openapi";
import { AppError } from "./errors.ts";

export const paginationQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: "Page size (1-200)" }),
  cursor: z.string().max(512).optional().openapi({ description: "nextCursor of the previous page" }),
};

export function encodeCursor(key: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(key));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The key a cursor holds, or 400 INVALID_CURSOR when it is not one `shape` accepts. */
export function decodeCursor<T>(cursor: string, shape: z.ZodType<T>): T {
  try {
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const json = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(binary, (ch) => ch.charCodeAt(0)),
    );
    return shape.parse(JSON.parse(json));
  } catch {
    throw new AppError("INVALID_CURSOR", "The cursor is not valid", [
      { path: "cursor", message: "not a cursor from this API" },
    ]);
  }
}
