// The serving worker's own settings (PIT_MERGE_THRESHOLD, EXACT_SEARCH_MAX_ROWS, ...).
import type { Context } from "hono";
import { parseEnv, type ServingEnv, servingEnv } from "#shared/env.ts";
import type { AppBindings } from "#shared/http/bindings.ts";

export function servingSettings(c: Context<AppBindings>): ServingEnv {
  return parseEnv(c.env, servingEnv);
}

/** How the historical route reads a training set (PIT_MERGE_THRESHOLD, PIT_STRATEGY, PIT_SESSIONS). */
export function strategySettings(c: Context<AppBindings>) {
  const settings = servingSettings(c);
  return {
    mergeThreshold: settings.PIT_MERGE_THRESHOLD,
    strategy: settings.PIT_STRATEGY,
    sessions: settings.PIT_SESSIONS,
  };
}
