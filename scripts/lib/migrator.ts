// Applies migrations/*.sql in name order, once each, as the owner role. Each file runs in
// its own transaction and is recorded with its checksum; a file edited after it was
// applied is an error, not a silent skip. Concurrent runs serialise on an advisory lock.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";

export const migrationsDir = path.resolve(import.meta.dirname, "../../migrations");

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

export async function migrate(connectionString: string, log: (line: string) => void = () => {}) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  const result: MigrationResult = { applied: [], skipped: [] };
  try {
    await client.query("SELECT pg_advisory_lock(hashtext('fs_schema_migrations'))");
    await client.query(`CREATE TABLE IF NOT EXISTS fs_schema_migrations (
      name TEXT PRIMARY KEY,
      checksum TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
    )`);
    const done = new Map<string, string>(
      (await client.query("SELECT name, checksum FROM fs_schema_migrations")).rows.map((r) => [r.name, r.checksum]),
    );
    const files = readdirSync(migrationsDir)
      .filter((f) => /^\d{4}_.+\.sql$/.test(f))
      .sort();
    for (const file of files) {
      const sqlText = readFileSync(path.join(migrationsDir, file), "utf8");
      const checksum = createHash("sha256").update(sqlText).digest("hex");
      const previous = done.get(file);
      if (previous !== undefined) {
        if (previous !== checksum) {
          throw new Error(`migration ${file} was changed after it was applied; add a new migration instead`);
        }
        result.skipped.push(file);
        continue;
      }
      const started = Date.now();
      await client.query("BEGIN");
      try {
        await client.query(sqlText);
        await client.query("INSERT INTO fs_schema_migrations (name, checksum) VALUES ($1, $2)", [file, checksum]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${file} failed: ${(error as Error).message}`);
      }
      result.applied.push(file);
      log(`  applied ${file} (${Date.now() - started} ms)`);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext('fs_schema_migrations'))").catch(() => {});
    await client.end();
  }
  return result;
}
