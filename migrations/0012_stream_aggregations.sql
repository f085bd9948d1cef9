-- Source types mean what they say (DESIGN.md): a stream feature with an aggregation keeps
-- raw events and answers the aggregate over a window; an on-demand feature is computed when
-- read and its served values are logged here.
--  * aggregation_interval_seconds: the tile width; window ends fall on its boundaries.
--  * ai_feature_values.event_id: an aggregated event's identity, when the push gave one. An
--    event is (event_id, event_timestamp) when it has an id and (NULL, event_timestamp)
--    otherwise; its current value is its latest ingestion, as for any restatement.
--  * value_type 'retracted': an event whose id moved to another event time leaves this row
--    at its old time, so a window over the old time no longer counts it, and every check
--    for "the current row of this event" stays inside one partition (the old time's).
ALTER TABLE ai_feature_definitions
  ADD COLUMN aggregation_interval_seconds INT NOT NULL DEFAULT 60
  CHECK (aggregation_interval_seconds BETWEEN 1 AND 86400);

ALTER TABLE ai_feature_values ADD COLUMN event_id TEXT;
ALTER TABLE ai_feature_values DROP CONSTRAINT ai_feature_values_value_type_check;
ALTER TABLE ai_feature_values ADD CONSTRAINT ai_feature_values_value_type_check
  CHECK (value_type IN ('scalar', 'vector', 'embedding', 'retracted'));
-- Where a pushed event id was last seen, whatever its time.
CREATE INDEX ai_feature_values_event_id ON ai_feature_values
  (tenant_id, feature_id, feature_version, entity_type, entity_id, event_id, ingest_seq)
  WHERE event_id IS NOT NULL;

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
    'aggregationIntervalSeconds', d.aggregation_interval_seconds,
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

-- Upkeep moves rows out of the DEFAULT partition with every column, the event id included.
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
         event_timestamp, created_at, ingest_seq, event_id)
      SELECT id, tenant_id, feature_id, feature_version, entity_type, entity_id, value, value_type,
             event_timestamp, created_at, ingest_seq, event_id
      FROM fs_partition_moving;
    END IF;
    RETURN NEXT partition_name;
  END LOOP;
END;
$$;

-- A push whose tile write to Redis failed records the entities whose tiles Redis may have
-- wrong; the cron worker's cache repair drops those tiles (reads refill them from Postgres).
ALTER TABLE ai_feature_cache_repairs ADD COLUMN tile_entities TEXT[];
