-- Tenant isolation. Every table with a tenant_id (source tables included) has ENABLE and
-- FORCE ROW LEVEL SECURITY and one policy: rows of the tenant named by the
-- transaction-local setting app.tenant_id. NULLIF(..., '') because once a transaction
-- that set it ends, the same pooled session reads '' rather than NULL, and ''::uuid
-- would fail; an unset tenant therefore sees nothing and can write nothing.
--
-- Roles (created by scripts/stack.ts, or by hand on Neon; see README):
--   fs_owner     owns everything and runs migrations (BYPASSRLS: upkeep moves rows of
--                every tenant between partitions inside its SECURITY DEFINER functions).
--   fs_app       what the workers log in as: owns nothing, NOBYPASSRLS, NOINHERIT, and
--                only the grants below.
--   fs_transform what tenant transformation SQL runs as (fs_app does SET LOCAL ROLE):
--                SELECT on the source tables only; cannot call set_config.

DO $$
DECLARE
  t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY[
    'users', 'ai_conversations', 'ai_messages', 'ai_feedback',
    'ai_feature_groups', 'ai_feature_definitions', 'ai_feature_versions',
    'ai_feature_values', 'ai_feature_embeddings',
    'ai_feature_online', 'ai_feature_embeddings_online',
    'ai_feature_materialization_jobs'
  ] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I FOR ALL '
      'USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
      'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)',
      t
    );
  END LOOP;
END
$$;

-- tenants is keyed by id rather than tenant_id.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants FOR ALL
  USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Partitions are reached only through their parent (whose policy applies). With RLS
-- enabled and no policy of their own, any direct access by a non-owner sees nothing.
ALTER TABLE ai_feature_values_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_feature_values_default FORCE ROW LEVEL SECURITY;
SELECT create_feature_partition(3);

-- Grants: exactly what the workers need.
GRANT USAGE ON SCHEMA public TO fs_app, fs_transform;
GRANT SELECT, INSERT ON tenants TO fs_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
  ai_feature_groups, ai_feature_definitions, ai_feature_versions,
  ai_feature_values, ai_feature_embeddings,
  ai_feature_online, ai_feature_embeddings_online,
  ai_feature_materialization_jobs
TO fs_app;

GRANT SELECT ON tenants, users, ai_conversations, ai_messages, ai_feedback TO fs_transform;

REVOKE ALL ON FUNCTION create_feature_partition(INT, TIMESTAMPTZ) FROM PUBLIC;
REVOKE ALL ON FUNCTION drop_old_feature_partitions(INT, TIMESTAMPTZ) FROM PUBLIC;
REVOKE ALL ON FUNCTION ensure_embedding_index(INT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_feature_partition(INT, TIMESTAMPTZ) TO fs_app;
GRANT EXECUTE ON FUNCTION drop_old_feature_partitions(INT, TIMESTAMPTZ) TO fs_app;
GRANT EXECUTE ON FUNCTION ensure_embedding_index(INT) TO fs_app;

-- Transformations see now() as the materialization window's end (fs.as_of), so a backfill
-- computes what would have been computed then. fs_transform's search_path puts this schema
-- before pg_catalog (set per transaction by the materializer).
CREATE SCHEMA asof;
CREATE FUNCTION asof.now() RETURNS TIMESTAMPTZ
LANGUAGE sql STABLE AS $$
  SELECT COALESCE(NULLIF(current_setting('fs.as_of', true), '')::timestamptz, pg_catalog.now())
$$;
GRANT USAGE ON SCHEMA asof TO fs_transform;
