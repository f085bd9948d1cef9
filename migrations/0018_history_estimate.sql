-- How many offline rows the requested features hold, as the planner estimates it from each
-- partition's statistics: what decides between probing each (pair, feature) and one pass
-- over the history (shared/offline-store/point-in-time.ts). Counting them instead took
-- 100-250 ms per training set on the benchmark's histories; planning this takes ~2 ms.
--
-- SECURITY DEFINER so that the estimate is that of the features' rows, not of the rows times
-- the row-security filter's guess (a generic 1 / tenants). Only the calling tenant's own
-- features (app.tenant_id) are estimated; any other id counts for nothing. Volatile:
-- EXPLAIN is refused inside a stable function.
CREATE FUNCTION feature_history_estimate(p_feature_ids UUID[])
RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
DECLARE
  own UUID[];
  values_plan JSON;
  embeddings_plan JSON;
BEGIN
  SELECT coalesce(array_agg(d.id), '{}') INTO own
  FROM ai_feature_definitions d
  WHERE d.id = ANY (p_feature_ids) AND d.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid;
  IF cardinality(own) = 0 THEN
    RETURN 0;
  END IF;
  EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM ai_feature_values WHERE feature_id = ANY (%L::uuid[])', own)
    INTO values_plan;
  EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM ai_feature_embeddings WHERE feature_id = ANY (%L::uuid[])', own)
    INTO embeddings_plan;
  RETURN (values_plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint + (embeddings_plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END
$$;
REVOKE ALL ON FUNCTION feature_history_estimate(UUID[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION feature_history_estimate(UUID[]) TO fs_app;
