// Keyset pagination: an opaque cursor holding the sort key of the last row returned.
import { z } from "@hono/zod-openapi";
import { AppError } from "./errors.ts";

export const paginationQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: "Page size (1-200)" }),
  cursor: z.string().max(512).optional().openapi({ description: "nextCursor of the previous page" }),
};

const cursorShape = z.tuple([z.iso.datetime({ offset: true, precision: 6 }), z.uuid()]);
export type Cursor = z.infer<typeof cursorShape>;

export function encodeCursor(cursor: Cursor): string {
  return btoa(JSON.stringify(cursor)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeCursor(cursor: string): Cursor {
  try {
    const json = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    return cursorShape.parse(JSON.parse(json));
  } catch {
    throw new AppError("INVALID_CURSOR", "The cursor is not valid", [
      { path: "cursor", message: "not a cursor from this API" },
    ]);
  }
}

/** Splits a page fetched with limit + 1 rows into the page and the next cursor. */
export function pageOf<T>(
  rows: T[],
  limit: number,
  keyOf: (row: T) => Cursor,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(keyOf(last)) : null };
}
