-- One statement as a tenant, without a transaction block: the tenant (and transaction-local
-- planner settings), then the query, in a single Postgres round trip. Over Neon's HTTP API a
-- tenant transaction is BEGIN, the opening set_config, the query and COMMIT: four round trips
-- between Neon's proxy and Postgres, which on a search through a feature's own HNSW index
-- (under a millisecond of SQL) were most of the route's time. shared/db/tenant.ts
-- (tenantStatement) is the only caller.
--
-- SECURITY INVOKER: the query runs as the caller under row-level security, exactly as in a
-- tenant transaction; setting the tenant here is no more than the caller could do itself with
-- set_config. The settings are local to the statement's own implicit transaction, so nothing
-- outlives the call on a pooled connection.
--
-- Parameters travel as text and the query casts each ($2::uuid): EXECUTE ... USING binds them
-- as constants of a one-shot plan, so a partial index whose predicate names a bound value
-- (a feature's own search index, migration 0016) is still proved usable. Rows come back as
-- JSON objects, one per row, in the query's order.
CREATE FUNCTION fs_tenant_rows(p_tenant_id TEXT, p_settings JSONB, p_query TEXT, p_params TEXT[])
RETURNS SETOF JSON
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
  setting RECORD;
BEGIN
  IF coalesce(cardinality(p_params), 0) > 8 THEN
    RAISE EXCEPTION 'fs_tenant_rows takes at most 8 parameters, got %', cardinality(p_params)
      USING ERRCODE = '54023';
  END IF;
  PERFORM set_config('app.tenant_id', p_tenant_id, true);
  FOR setting IN SELECT key, value FROM jsonb_each_text(coalesce(p_settings, '{}')) LOOP
    PERFORM set_config(setting.key, setting.value, true);
  END LOOP;
  RETURN QUERY EXECUTE format('SELECT to_json(r) FROM (%s) AS r', p_query)
    USING p_params[1], p_params[2], p_params[3], p_params[4],
          p_params[5], p_params[6], p_params[7], p_params[8];
END
$$;
REVOKE ALL ON FUNCTION fs_tenant_rows(TEXT, JSONB, TEXT, TEXT[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fs_tenant_rows(TEXT, JSONB, TEXT, TEXT[]) TO fs_app;
