// The cron worker's triggers. Must match [triggers] crons in workers/cron/wrangler.toml
// (test/node/worker-configs.test.ts checks it).
export const cronTriggers = {
  materialize: "* * * * *",
  partitionUpkeep: "17 3 * * *",
  ttlExpiry: "*/5 * * * *",
} as const;
