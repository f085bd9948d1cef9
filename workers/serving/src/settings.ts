// The serving worker's own settings (PIT_MERGE_THRESHOLD, EXACT_SEARCH_MAX_ROWS, ...).
import type { Context } from "hono";
import { parseEnv, type ServingEnv, servingEnv } from "#shared/env.ts";
import type { AppBindings } from "#shared/http/bindings.ts";

export function servingSettings(c: Context<AppBindings>): ServingEnv {
  return parseEnv(c.env, servingEnv);
}
