-- Where each pushed event id lives now: (feature version, entity, event id) -> its event time.
-- A push finds an event's current row with one key lookup here and one probe of that time's
-- partition, instead of probing every monthly partition's event-id index (a cost that grew
-- with the months kept). The push that stores or moves an event updates its row, in the same
-- statement; retention drops the rows of the months it drops.
CREATE TABLE ai_feature_event_times (
  tenant_id       UUID NOT NULL,
  feature_id      UUID NOT NULL,
  feature_version INT NOT NULL,
  entity_type     TEXT NOT NULL,
  entity_id       TEXT NOT NULL,
  event_id        TEXT NOT NULL,
  event_timestamp TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tenant_id, feature_id, feature_version, entity_type, entity_id, event_id)
);
CREATE INDEX idx_feature_event_times_time ON ai_feature_event_times (event_timestamp);

ALTER TABLE ai_feature_event_times ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_feature_event_times FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_feature_event_times FOR ALL
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON ai_feature_event_times TO fs_app;

INSERT INTO ai_feature_event_times
  (tenant_id, feature_id, feature_version, entity_type, entity_id, event_id, event_timestamp)
SELECT DISTINCT ON (tenant_id, feature_id, feature_version, entity_type, entity_id, event_id)
       tenant_id, feature_id, feature_version, entity_type, entity_id, event_id, event_timestamp
FROM ai_feature_values
WHERE event_id IS NOT NULL AND value_type <> 'retracted'
ORDER BY tenant_id, feature_id, feature_version, entity_type, entity_id, event_id, ingest_seq DESC;

-- Every writer now finds event ids here: the per-partition index only cost inserts.
DROP INDEX ai_feature_values_event_id;

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
  DELETE FROM ai_feature_event_times WHERE event_timestamp < cutoff;
END;
$$;
