// Runs the local Neon and Upstash endpoints in the foreground until SIGINT/SIGTERM.
import { localStack } from "./config.ts";
import { startNeonServer } from "./neon-server.ts";
import { startUpstashServer } from "./upstash-server.ts";

const neon = await startNeonServer({ port: localStack.neonPort, pgHost: localStack.pgHost, pgPort: localStack.pgPort });
const upstash = await startUpstashServer({
  port: localStack.upstashPort,
  redisUrl: localStack.redisUrl,
  token: localStack.upstashToken,
});
console.log(`neon-local    ${neon.url}  (/sql, ws /v1)`);
console.log(`upstash-local ${upstash.url}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled([neon.close(), upstash.close()]);
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
