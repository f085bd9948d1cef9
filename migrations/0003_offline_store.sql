-- Offline store: every value ever computed or pushed, partitioned by month of event time.
-- Seed fixes:
--  * the partition follows event_timestamp (UTC month), not the ingestion date
--    (CURRENT_DATE), so a backfill lands in the month it describes and point-in-time
--    queries can prune partitions by the requested time;
--  * partition_key stays as a generated column (UTC date of the event) for readers of
--    the seed's schema, but the table is partitioned by event_timestamp itself;
--  * a DEFAULT partition keeps rows whose month has no partition yet (upkeep moves them);
--  * one row per (tenant, feature, entity, event time): re-writing it is a no-op
--    (INSERT ... ON CONFLICT DO NOTHING), and the same index serves point lookups.
-- pgvector: on Neon the owner may create it; locally scripts/stack.ts created it as superuser.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE ai_feature_values (
  id UUID NOT NULL DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL,
  feature_id UUID NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  value JSONB NOT NULL,
  value_type TEXT NOT NULL CHECK (value_type IN ('scalar', 'vector', 'embedding')),
  event_timestamp TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  partition_key DATE GENERATED ALWAYS AS ((event_timestamp AT TIME ZONE 'UTC')::date) STORED,
  PRIMARY KEY (id, event_timestamp),
  CONSTRAINT ai_feature_values_once
    UNIQUE (tenant_id, feature_id, entity_type, entity_id, event_timestamp)
) PARTITION BY RANGE (event_timestamp);

CREATE INDEX idx_feature_values_time ON ai_feature_values(tenant_id, event_timestamp DESC);

CREATE TABLE ai_feature_values_default PARTITION OF ai_feature_values DEFAULT;

-- Creates the monthly partitions from the month of p_from to p_months_ahead months later.
-- Rows already sitting in the default partition for a new month are moved into it in
-- the same transaction (PostgreSQL refuses to create a partition whose range the
-- default partition already holds rows for). Idempotent; concurrent calls serialise on
-- an advisory lock. SECURITY DEFINER: the app role may call it, not create tables.
CREATE FUNCTION create_feature_partition(
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
        (id, tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp, created_at)
      SELECT id, tenant_id, feature_id, entity_type, entity_id, value, value_type, event_timestamp, created_at
      FROM fs_partition_moving;
    END IF;
    RETURN NEXT partition_name;
  END LOOP;
END;
$$;

-- Drops monthly partitions that end before the start of the month p_keep_months ago.
CREATE FUNCTION drop_old_feature_partitions(
  p_keep_months INT,
  p_now TIMESTAMPTZ DEFAULT NOW()
) RETURNS SETOF TEXT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
DECLARE
  cutoff TIMESTAMPTZ;
  part RECORD;
BEGIN
  IF p_keep_months < 1 THEN
    RAISE EXCEPTION 'p_keep_months must be at least 1, got %', p_keep_months;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('ai_feature_values partition upkeep'));
  cutoff := (date_trunc('month', p_now AT TIME ZONE 'UTC') - make_interval(months => p_keep_months)) AT TIME ZONE 'UTC';
  FOR part IN
    SELECT c.relname
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'ai_feature_values'::regclass
      AND c.relname ~ '^ai_feature_values_y[0-9]{4}m[0-9]{2}$'
      AND (to_timestamp(substr(c.relname, 20, 4) || substr(c.relname, 25, 2), 'YYYYMM') AT TIME ZONE 'UTC')
          AT TIME ZONE 'UTC' + INTERVAL '1 month' <= cutoff
    ORDER BY c.relname
  LOOP
    EXECUTE format('DROP TABLE %I', part.relname);
    RETURN NEXT part.relname;
  END LOOP;
END;
$$;

-- Embedding history. The seed fixed vector(1536); dimensions are per feature here, so
-- the column is an unconstrained vector and HNSW indexes are partial, one per dimension
-- (see ensure_embedding_index).
CREATE TABLE ai_feature_embeddings (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL,
  feature_id UUID NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  embedding vector NOT NULL,
  dimension INT GENERATED ALWAYS AS (vector_dims(embedding)) STORED,
  model_version TEXT NOT NULL DEFAULT 'text-embedding-3-small',
  event_timestamp TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  FOREIGN KEY (tenant_id, feature_id) REFERENCES ai_feature_definitions (tenant_id, id) ON DELETE CASCADE,
  CONSTRAINT ai_feature_embeddings_once
    UNIQUE (tenant_id, feature_id, entity_type, entity_id, event_timestamp)
);
CREATE INDEX idx_feature_embeddings_entity ON ai_feature_embeddings(tenant_id, entity_type, entity_id);
