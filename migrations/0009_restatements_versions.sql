-- Restatements and versioned values (DESIGN.md, "Writes, restatements and versions").
--  * Every stored value records the feature version that produced it (feature_version).
--  * The offline store keeps every distinct value written for a (feature version, entity,
--    event time): a different value is a restatement, stored beside the old one. Reads take
--    the latest ingestion, ordered by ingest_seq (a global sequence, drawn in write order, so
--    later rows of one request are later ingestions); asOfIngestion reads created_at.
--  * ai_feature_definitions.current_version is the version reads answer; `version` is the
--    latest, staged when it is above current_version.

CREATE SEQUENCE ai_feature_ingest_seq AS BIGINT;
GRANT USAGE ON SEQUENCE ai_feature_ingest_seq TO fs_app;

-- Offline history. Existing rows: seq 0 (older than any new write); their version is the
-- one current when they were written (version 1 where that cannot be told). Only rows of
-- features that ever had a version 2 are rewritten.
ALTER TABLE ai_feature_values ADD COLUMN feature_version INT NOT NULL DEFAULT 1;
ALTER TABLE ai_feature_values ADD COLUMN ingest_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ai_feature_values ALTER COLUMN ingest_seq SET DEFAULT nextval('ai_feature_ingest_seq');
ALTER TABLE ai_feature_values DROP CONSTRAINT ai_feature_values_once;
-- The point-in-time lookup: newest event time first, then latest ingestion.
CREATE INDEX ai_feature_values_lookup ON ai_feature_values
  (tenant_id, feature_id, feature_version, entity_type, entity_id, event_timestamp, ingest_seq);

ALTER TABLE ai_feature_embeddings ADD COLUMN feature_version INT NOT NULL DEFAULT 1;
ALTER TABLE ai_feature_embeddings ADD COLUMN ingest_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ai_feature_embeddings ALTER COLUMN ingest_seq SET DEFAULT nextval('ai_feature_ingest_seq');
ALTER TABLE ai_feature_embeddings DROP CONSTRAINT ai_feature_embeddings_once;
CREATE INDEX ai_feature_embeddings_lookup ON ai_feature_embeddings
  (tenant_id, feature_id, feature_version, entity_type, entity_id, event_timestamp, ingest_seq);

UPDATE ai_feature_values v SET feature_version = (
  SELECT max(fv.version) FROM ai_feature_versions fv
  WHERE fv.feature_id = v.feature_id AND fv.created_at <= v.created_at)
WHERE EXISTS (SELECT 1 FROM ai_feature_versions fv
              WHERE fv.feature_id = v.feature_id AND fv.version > 1 AND fv.created_at <= v.created_at);
UPDATE ai_feature_embeddings v SET feature_version = (
  SELECT max(fv.version) FROM ai_feature_versions fv
  WHERE fv.feature_id = v.feature_id AND fv.created_at <= v.created_at)
WHERE EXISTS (SELECT 1 FROM ai_feature_versions fv
              WHERE fv.feature_id = v.feature_id AND fv.version > 1 AND fv.created_at <= v.created_at);

-- Latest values: one row per (feature version, entity); (event time, ingest_seq) decides
-- which write is newer, exactly as the offline store orders them.
ALTER TABLE ai_feature_online ADD COLUMN feature_version INT NOT NULL DEFAULT 1;
ALTER TABLE ai_feature_online ADD COLUMN ingest_seq BIGINT NOT NULL DEFAULT 0;
UPDATE ai_feature_online o SET feature_version = (
  SELECT max(fv.version) FROM ai_feature_versions fv
  WHERE fv.feature_id = o.feature_id AND fv.created_at <= o.updated_at)
WHERE EXISTS (SELECT 1 FROM ai_feature_versions fv
              WHERE fv.feature_id = o.feature_id AND fv.version > 1 AND fv.created_at <= o.updated_at);
ALTER TABLE ai_feature_online DROP CONSTRAINT ai_feature_online_pkey;
ALTER TABLE ai_feature_online ADD PRIMARY KEY (tenant_id, feature_id, feature_version, entity_type, entity_id);

ALTER TABLE ai_feature_embeddings_online ADD COLUMN feature_version INT NOT NULL DEFAULT 1;
ALTER TABLE ai_feature_embeddings_online ADD COLUMN ingest_seq BIGINT NOT NULL DEFAULT 0;
UPDATE ai_feature_embeddings_online o SET feature_version = (
  SELECT max(fv.version) FROM ai_feature_versions fv
  WHERE fv.feature_id = o.feature_id AND fv.created_at <= o.updated_at)
WHERE EXISTS (SELECT 1 FROM ai_feature_versions fv
              WHERE fv.feature_id = o.feature_id AND fv.version > 1 AND fv.created_at <= o.updated_at);
ALTER TABLE ai_feature_embeddings_online DROP CONSTRAINT ai_feature_embeddings_online_pkey;
ALTER TABLE ai_feature_embeddings_online
  ADD PRIMARY KEY (tenant_id, feature_id, feature_version, entity_type, entity_id);

-- The version reads answer; a later `version` is staged until promoted.
ALTER TABLE ai_feature_definitions ADD COLUMN current_version INT;
UPDATE ai_feature_definitions SET current_version = version;
ALTER TABLE ai_feature_definitions ALTER COLUMN current_version SET NOT NULL;
ALTER TABLE ai_feature_definitions ALTER COLUMN current_version SET DEFAULT 1;
ALTER TABLE ai_feature_definitions ADD CONSTRAINT ai_feature_definitions_current_version
  CHECK (current_version >= 1 AND current_version <= version);

-- Jobs: a job may be narrowed to one version; values written again unchanged are counted apart.
ALTER TABLE ai_feature_materialization_jobs ADD COLUMN feature_version INT CHECK (feature_version >= 1);
ALTER TABLE ai_feature_materialization_jobs ADD COLUMN rows_unchanged BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION feature_definition_json(d ai_feature_definitions) RETURNS JSONB
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', d.id,
    'tenantId', d.tenant_id,
    'groupId', d.group_id,
    'name', d.name,
    'displayName', d.display_name,
    'description', d.description,
    'dataType', d.data_type,
    'embeddingDimension', d.embedding_dimension,
    'sourceType', d.source_type,
    'sourceConfig', d.source_config,
    'transformationSql', d.transformation_sql,
    'aggregationType', d.aggregation_type,
    'windowSizeSeconds', d.window_size_seconds,
    'validationRules', d.validation_rules,
    'status', d.status,
    'version', d.version,
    'currentVersion', d.current_version,
    'stagedVersion', CASE WHEN d.version > d.current_version THEN d.version END,
    'tags', d.tags,
    'createdAt', to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'updatedAt', to_char(d.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'createdBy', d.created_by
  )
$$;

CREATE OR REPLACE FUNCTION materialization_job_json(j ai_feature_materialization_jobs) RETURNS JSONB
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', j.id,
    'tenantId', j.tenant_id,
    'featureGroupId', j.feature_group_id,
    'jobType', j.job_type,
    'featureVersion', j.feature_version,
    'startTime', to_char(j.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'endTime', to_char(j.end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'status', j.status,
    'progress', j.progress,
    'errorMessage', j.error_message,
    'rowsProcessed', j.rows_processed,
    'rowsUnchanged', j.rows_unchanged,
    'rowsFailed', j.rows_failed,
    'failureSamples', j.failure_samples,
    'durationMs', j.duration_ms,
    'attempts', j.attempts,
    'createdAt', to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'startedAt', to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'completedAt', to_char(j.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'createdBy', j.created_by
  )
$$;

-- Upkeep moves rows out of the DEFAULT partition with every column (the version and the
-- ingestion order included).
CREATE OR REPLACE FUNCTION create_feature_partition(
  p_months_ahead INT DEFAULT 3,
  p_from TIMESTAMPTZ DEFAULT NOW()
) RETURNS SETOF TEXT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
DECLARE
  month_start TIMESTAMP;
  lower_bound TIMESTAMPTZ;
  upper_bound TIMESTAMPTZ;
  partition_name TEXT;
  moved BIGINT;
BEGIN
  IF p_months_ahead < 0 OR p_months_ahead > 120 THEN
    RAISE EXCEPTION 'p_months_ahead must be between 0 and 120, got %', p_months_ahead;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('ai_feature_values partition upkeep'));
  FOR i IN 0..p_months_ahead LOOP
    month_start := date_trunc('month', p_from AT TIME ZONE 'UTC') + make_interval(months => i);
    lower_bound := month_start AT TIME ZONE 'UTC';
    upper_bound := (month_start + INTERVAL '1 month') AT TIME ZONE 'UTC';
    partition_name := 'ai_feature_values_y' || to_char(month_start, 'YYYY') || 'm' || to_char(month_start, 'MM');
    CONTINUE WHEN to_regclass(partition_name) IS NOT NULL;

    CREATE TEMP TABLE IF NOT EXISTS fs_partition_moving (LIKE ai_feature_values) ON COMMIT DROP;
    TRUNCATE fs_partition_moving;
    WITH gone AS (
      DELETE FROM ai_feature_values_default
      WHERE event_timestamp >= lower_bound AND event_timestamp < upper_bound
      RETURNING *
    )
    INSERT INTO fs_partition_moving SELECT * FROM gone;
    GET DIAGNOSTICS moved = ROW_COUNT;

    EXECUTE format(
      'CREATE TABLE %I PARTITION OF ai_feature_values FOR VALUES FROM (%L) TO (%L)',
      partition_name, lower_bound, upper_bound
    );
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', partition_name);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', partition_name);

    IF moved > 0 THEN
      INSERT INTO ai_feature_values
        (id, tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type,
         event_timestamp, created_at, ingest_seq)
      SELECT id, tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type,
             event_timestamp, created_at, ingest_seq
      FROM fs_partition_moving;
    END IF;
    RETURN NEXT partition_name;
  END LOOP;
END;
$$;
