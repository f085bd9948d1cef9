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

// SQLSTATE classes and codes that say the database cannot serve now, not that the request is
// wrong: connection exceptions (08), shutdown and "cannot connect now" (57P01-57P03), too many
// connections (53300). A statement timeout (57014) is not among them: it says the work is too
// big, which a retry would not change.
const unavailableCodes = /^(08...|57P0[1-3]|53300)$/;
const unavailableMessages =
  /Error connecting to database|Server error \(HTTP status 5(0[0-6]|[1-9]\d)\)|Connection terminated|ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|Network connection lost|WebSocket|timed? ?out|The operation was aborted/i;

/**
 * The database could not be reached or dropped the connection (refused, reset, timed out, a
 * 5xx from the Neon endpoint): the caller may retry, so the answer is 503 with Retry-After.
 * A 507 (response too large) is not among them.
 */
export function isServiceUnavailable(error: unknown): boolean {
  const info = pgError(error);
  if (info) return unavailableCodes.test(info.code);
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const e = current as { message?: unknown; name?: unknown; cause?: unknown; sourceError?: unknown };
    if (e.name === "TimeoutError" || e.name === "AbortError" || e.name === "DeadlineExceeded") return true;
    if (typeof e.message === "string" && unavailableMessages.test(e.message)) return true;
    current = e.cause ?? e.sourceError;
  }
  return false;
}

/**
 * An unavailable database whose answer says the statement never ran: the connection was
 * refused, or the endpoint answered 5xx itself. Otherwise (a reset or a timeout after the
 * request left) a write may have committed without anyone hearing of it.
 */
export function neverReachedDatabase(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const e = current as { message?: unknown; cause?: unknown; sourceError?: unknown };
    if (typeof e.message === "string" && /ECONNREFUSED|Server error \(HTTP status 5\d\d\)/.test(e.message)) return true;
    current = e.cause ?? e.sourceError;
  }
  return false;
}
