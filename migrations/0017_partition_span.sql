-- Point-in-time probes read the lookup index backwards from t, newest partition first, and
-- stop at the first row. Postgres scans partitions in order (Append, stopping early) only
-- when the DEFAULT partition is pruned while planning; otherwise it opens every partition
-- before t at once (Merge Append) for every probe. A probe bounded by constants
-- lo <= event_timestamp < hi that the monthly partitions cover without a gap prunes it.
--
-- feature_partition_span(t): the run of contiguous monthly partitions that contains t, as
-- [lo, hi), or no row. Read from the catalog on each call (partitions come and go).
CREATE FUNCTION feature_partition_span(p_at TIMESTAMPTZ)
RETURNS TABLE (lo TIMESTAMPTZ, hi TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
  WITH ranges AS (
    SELECT bound[1]::timestamptz AS lo, bound[2]::timestamptz AS hi
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS bound
    WHERE i.inhparent = 'ai_feature_values'::regclass
  ), runs AS (
    SELECT lo, hi, count(*) FILTER (WHERE starts) OVER (ORDER BY lo) AS run
    FROM (SELECT lo, hi, lo IS DISTINCT FROM lag(hi) OVER (ORDER BY lo) AS starts FROM ranges) AS r
  )
  SELECT min(lo), max(hi) FROM runs GROUP BY run HAVING min(lo) <= p_at AND p_at < max(hi)
$$;
GRANT EXECUTE ON FUNCTION feature_partition_span(TIMESTAMPTZ) TO fs_app;
