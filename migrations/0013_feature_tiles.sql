-- Tiles of aggregated stream features in Postgres: each (feature version, entity, tile) keeps
-- the partial aggregate of its current events, updated by the writer that changes them (a
-- push adds its new events to the tile, a restatement or a moved event refolds the tile, a
-- materialization unit refolds the tiles it wrote). Reads that miss the online store, and
-- training sets (but asOfIngestion, which needs each event's ingestion time), fold tiles
-- instead of events; the online store's tiles are copies of these.
CREATE TABLE ai_feature_tiles (
  tenant_id       UUID NOT NULL,
  feature_id      UUID NOT NULL,
  feature_version INT NOT NULL,
  entity_type     TEXT NOT NULL,
  entity_id       TEXT NOT NULL,
  -- Tile k holds the events with (k - 1) * interval < event time <= k * interval.
  tile            BIGINT NOT NULL,
  tile_end        TIMESTAMPTZ NOT NULL,
  n               INT NOT NULL,
  sum             FLOAT8 NOT NULL,
  min             FLOAT8,
  max             FLOAT8,
  first_ms        FLOAT8,
  first_seq       BIGINT,
  first_json      TEXT,
  last_ms         FLOAT8,
  last_seq        BIGINT,
  last_json       TEXT,
  -- The latest ingestion sequence that changed this tile.
  rev             BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, feature_id, feature_version, entity_type, entity_id, tile)
);
CREATE INDEX idx_feature_tiles_end ON ai_feature_tiles (tile_end);

ALTER TABLE ai_feature_tiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_feature_tiles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_feature_tiles FOR ALL
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON ai_feature_tiles TO fs_app;

-- Retention drops the tiles of the months whose partitions it drops, so a training set never
-- counts events the offline store no longer holds.
CREATE OR REPLACE FUNCTION drop_old_feature_partitions(
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
  DELETE FROM ai_feature_tiles WHERE tile_end <= cutoff;
END;
$$;
