// One-time, superuser-only setup of a PostgreSQL server for the feature store: the three
// roles, the databases, pgvector, and the one privilege no migration can take away
// (set_config, so tenant transformation SQL cannot change app.tenant_id or its role).
import pg from "pg";
import { localStack, superuserUrl } from "../local/config.ts";

const quoteLiteral = (s: string) => `'${s.replaceAll("'", "''")}'`;

export async function bootstrapCluster(databases: string[]): Promise<void> {
  const { owner, app, transform } = localStack.roles;
  const admin = new pg.Client({ connectionString: superuserUrl() });
  await admin.connect();
  try {
    // Roles are cluster-wide; CREATE ROLE has no IF NOT EXISTS.
    const roles = [
      `${owner.name} LOGIN PASSWORD ${quoteLiteral(owner.password)} NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS`,
      `${app.name} LOGIN PASSWORD ${quoteLiteral(app.password)} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT`,
      `${transform.name} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
    ];
    for (const spec of roles) {
      const name = spec.split(" ")[0];
      const exists = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [name]);
      await admin.query(`${exists.rowCount ? "ALTER" : "CREATE"} ROLE ${spec}`);
    }
    // The app switches to the transform role for tenant SQL (SET LOCAL ROLE); NOINHERIT
    // keeps the transform role's read access to source tables out of the app's own rights.
    await admin.query(`GRANT ${transform.name} TO ${app.name}`);

    if (localStack.embedded) {
      // PGlite has one database, whatever name a client asks for: the owner takes it over.
      await admin.query(`DO $$ BEGIN
        EXECUTE format('ALTER DATABASE %I OWNER TO ${owner.name}', current_database());
      END $$`);
      await admin.query(`ALTER SCHEMA public OWNER TO ${owner.name}`);
    }
    for (const db of databases) {
      if (!localStack.embedded) {
        const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [db]);
        if (!exists.rowCount) await admin.query(`CREATE DATABASE ${db} OWNER ${owner.name}`);
      }
      const client = new pg.Client({ connectionString: superuserUrl(db) });
      await client.connect();
      try {
        await client.query("CREATE EXTENSION IF NOT EXISTS vector");
        await client.query("REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC");
        await client.query(
          `GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO ${owner.name}, ${app.name}`,
        );
      } finally {
        await client.end();
      }
    }
  } finally {
    await admin.end();
  }
}
