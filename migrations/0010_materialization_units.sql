-- Materialization at platform scale (issue 16).
--
-- A job is cut into units (one window × one feature version). Each unit is a row here, so
-- units can run in parallel on queue consumers, a retried unit knows what it already did,
-- and a job's progress and counts are the sums of its units.
--   pending  → not run yet (or its last attempt failed before writing)
--   written  → offline and online tables written, in the same transaction as its counts
--   done     → the Redis refresh of what it wrote is finished too
--   failed / cancelled
CREATE TABLE ai_feature_materialization_units (
  tenant_id       UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  job_id          UUID NOT NULL REFERENCES ai_feature_materialization_jobs(id) ON DELETE CASCADE,
  unit_index      INT NOT NULL,
  feature_field   TEXT NOT NULL,
  window_start    TIMESTAMPTZ NOT NULL,
  window_end      TIMESTAMPTZ NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'written', 'done', 'failed', 'cancelled')),
  attempts        INT NOT NULL DEFAULT 0,
  rows_written    BIGINT NOT NULL DEFAULT 0,
  rows_unchanged  BIGINT NOT NULL DEFAULT 0,
  rows_failed     BIGINT NOT NULL DEFAULT 0,
  failure_samples JSONB NOT NULL DEFAULT '[]',
  -- The ingestion sequence numbers this unit drew: what its Redis refresh must send.
  seq_low         BIGINT,
  seq_high        BIGINT,
  -- Where the Redis refresh got to (the last ingest_seq sent), so a retry resumes there.
  redis_after     BIGINT,
  last_error      TEXT,
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, unit_index)
);
CREATE INDEX idx_units_open ON ai_feature_materialization_units (job_id) WHERE status IN ('pending', 'written');

ALTER TABLE ai_feature_materialization_units ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_feature_materialization_units FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_feature_materialization_units FOR ALL
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON ai_feature_materialization_units TO fs_app;

-- Lookups by (feature, version) and ingestion order: a unit's Redis refresh reads back the
-- online rows it wrote (those whose ingest_seq lies in its range).
CREATE INDEX IF NOT EXISTS idx_online_feature_seq
  ON ai_feature_online (tenant_id, feature_id, feature_version, ingest_seq);
CREATE INDEX IF NOT EXISTS idx_embeddings_online_feature_seq
  ON ai_feature_embeddings_online (tenant_id, feature_id, feature_version, ingest_seq);

-- Casts that answer NULL instead of failing, for the value checks of set-based
-- materialization: one bad row must be counted as failed, not abort its whole unit.
CREATE FUNCTION fs_try_timestamptz(p TEXT) RETURNS TIMESTAMPTZ
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  RETURN p::timestamptz;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END
$$;

CREATE FUNCTION fs_try_jsonb(p TEXT) RETURNS JSONB
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN p::jsonb;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END
$$;

CREATE FUNCTION fs_try_regex_match(p_text TEXT, p_pattern TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN p_text ~ p_pattern;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END
$$;

GRANT EXECUTE ON FUNCTION fs_try_timestamptz(TEXT), fs_try_jsonb(TEXT), fs_try_regex_match(TEXT, TEXT) TO fs_app;

-- Progress lives in the units now.
ALTER TABLE ai_feature_materialization_jobs DROP COLUMN checkpoint;
