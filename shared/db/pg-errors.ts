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
