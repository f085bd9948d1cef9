// Environment for running wrangler here: no telemetry, no banner, no request to
// Cloudflare for the `cf` object (this machine reaches no network but package registries).
export const quietWranglerEnv = {
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  WRANGLER_HIDE_BANNER: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
};
