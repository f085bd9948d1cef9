// npm run db:migrate — applies pending migrations. OWNER_DATABASE_URL (a direct
// connection as the owner role; on Neon, the unpooled URL) or the local stack's databases.

import { migrate } from "./lib/migrator.ts";
import { directUrl, localStack } from "./local/config.ts";

const targets = process.env.OWNER_DATABASE_URL
  ? [process.env.OWNER_DATABASE_URL]
  : [directUrl("owner", localStack.databases.dev), directUrl("owner", localStack.databases.test)];

for (const url of targets) {
  const where = new URL(url);
  console.log(`migrating ${where.host}${where.pathname}`);
  const { applied, skipped } = await migrate(url, console.log);
  console.log(`  ${applied.length} applied, ${skipped.length} already there`);
}
