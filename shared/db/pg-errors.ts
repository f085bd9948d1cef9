// Postgres errors as they reach us through the Neon driver (possibly wrapped by drizzle).
export interface PgErrorInfo {
  code: string;
  message: string;
  constraint?: string;
  detail?: string;
  position?: number;
}

export function pgError(error: unknown): PgErrorInfo | null {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const e = current as Record<string, unknown>;
    if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) {
      return {
        code: e.code,
        message: String(e.message ?? ""),
        constraint: typeof e.constraint === "string" ? e.constraint : undefined,
        detail: typeof e.detail === "string" ? e.detail : undefined,
        position: e.position !== undefined ? Number(e.position) : undefined,
      };
    }
    current = e.cause;
  }
  return null;
}

export const pgCodes = {
  uniqueViolation: "23505",
  foreignKeyViolation: "23503",
  checkViolation: "23514",
  invalidTextRepresentation: "22P02",
} as const;

/**
 * Neon's SQL-over-HTTP answers at most 10 MB ("response is too large (max is N bytes)"):
 * a read that hits it is split and asked again in parts.
 */
export function isResponseTooLarge(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (/response is too large/i.test(String((current as { message?: unknown }).message ?? ""))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Runs `read` over `items`; when the answer is over Neon's HTTP limit, over each half
 * instead (recursively), so any size of answer is read in as few round trips as fit.
 */
export async function readSplittingOnTooLarge<T, R>(
  items: readonly T[],
  read: (part: readonly T[]) => Promise<R[]>,
): Promise<R[]> {
  try {
    return await read(items);
  } catch (error) {
    if (!isResponseTooLarge(error) || items.length < 2) throw error;
    const half = Math.ceil(items.length / 2);
    const [first, second] = await Promise.all([
      readSplittingOnTooLarge(items.slice(0, half), read),
      readSplittingOnTooLarge(items.slice(half), read),
    ]);
    return [...first, ...second];
  }
}
