-- Online values Postgres holds but Redis may not: a push whose Redis write failed after its
-- Postgres commit records the ingestion range it wrote, per feature version. The cron worker
-- replays those rows into Redis (newest-wins, so a replay never undoes a newer value) and
-- deletes the record: a Redis outage leaves online values stale for a minute, not for the
-- cache's lifetime.
CREATE TABLE ai_feature_cache_repairs (
  id              BIGSERIAL PRIMARY KEY,
  tenant_id       UUID NOT NULL,
  feature_id      UUID NOT NULL,
  feature_version INT NOT NULL,
  group_id        UUID NOT NULL,
  embedding       BOOLEAN NOT NULL,
  seq_low         BIGINT NOT NULL,
  seq_high        BIGINT NOT NULL,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_cache_repairs_tenant ON ai_feature_cache_repairs (tenant_id, id);

ALTER TABLE ai_feature_cache_repairs ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_feature_cache_repairs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_feature_cache_repairs FOR ALL
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON ai_feature_cache_repairs TO fs_app;
GRANT USAGE ON SEQUENCE ai_feature_cache_repairs_id_seq TO fs_app;

-- The tenants with repairs waiting: the one cross-tenant fact the cron worker needs, and
-- nothing else of them (RLS hides the rows themselves).
CREATE FUNCTION fs_cache_repair_tenants(p_limit INT)
RETURNS SETOF UUID
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
  SELECT DISTINCT tenant_id FROM ai_feature_cache_repairs LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION fs_cache_repair_tenants(INT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fs_cache_repair_tenants(INT) TO fs_app;
