-- What the cron worker does across tenants, as narrow SECURITY DEFINER functions owned by
-- the owner role (BYPASSRLS): the app role may call them, and can do nothing else across
-- tenants. Everything a job then reads or writes runs under RLS for the job's tenant.

-- Claims up to p_limit runnable jobs: pending ones, and running ones whose lease expired
-- (their worker died). FOR UPDATE SKIP LOCKED: overlapping invocations never get the
-- same job. Each claim extends the lease and counts an attempt. p_tenants (optional)
-- restricts a worker to some tenants, e.g. to shard tenants across cron workers.
CREATE FUNCTION claim_materialization_jobs(p_worker TEXT, p_lease_seconds INT, p_limit INT, p_tenants UUID[] DEFAULT NULL)
RETURNS SETOF ai_feature_materialization_jobs
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
  UPDATE ai_feature_materialization_jobs AS j
  SET status = 'running',
      lease_owner = p_worker,
      lease_expires_at = now() + make_interval(secs => p_lease_seconds),
      attempts = j.attempts + 1,
      started_at = COALESCE(j.started_at, now())
  WHERE j.id IN (
    SELECT id FROM ai_feature_materialization_jobs
    WHERE (status = 'pending' OR (status = 'running' AND lease_expires_at < now()))
      AND (p_tenants IS NULL OR tenant_id = ANY (p_tenants))
    ORDER BY created_at
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED
  )
  RETURNING j.*
$$;

-- Queues an incremental job for every group that has a feature whose source_config sets
-- {"schedule": {"everySeconds": N}} (N >= 60) and whose last scheduled window ended at
-- least N seconds ago. The new window starts where the last one ended (or N seconds ago).
CREATE FUNCTION enqueue_due_incremental_jobs(p_now TIMESTAMPTZ DEFAULT now(), p_tenants UUID[] DEFAULT NULL)
RETURNS SETOF ai_feature_materialization_jobs
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
  WITH scheduled AS (
    SELECT d.tenant_id, d.group_id,
           min(GREATEST(60, (d.source_config -> 'schedule' ->> 'everySeconds')::int)) AS every_seconds
    FROM ai_feature_definitions d
    JOIN ai_feature_groups g ON g.id = d.group_id
    WHERE d.status = 'active' AND g.status = 'active'
      AND jsonb_typeof(d.source_config -> 'schedule' -> 'everySeconds') = 'number'
      AND (p_tenants IS NULL OR d.tenant_id = ANY (p_tenants))
    GROUP BY d.tenant_id, d.group_id
  ), due AS (
    SELECT s.tenant_id, s.group_id,
           COALESCE(max(j.end_time), p_now - make_interval(secs => s.every_seconds)) AS window_start,
           s.every_seconds
    FROM scheduled s
    LEFT JOIN ai_feature_materialization_jobs j
      ON j.feature_group_id = s.group_id AND j.job_type = 'incremental' AND j.created_by = 'scheduler'
    GROUP BY s.tenant_id, s.group_id, s.every_seconds
    HAVING COALESCE(max(j.end_time), '-infinity') <= p_now - make_interval(secs => s.every_seconds)
  )
  INSERT INTO ai_feature_materialization_jobs (tenant_id, feature_group_id, job_type, start_time, end_time, created_by)
  SELECT tenant_id, group_id, 'incremental', window_start, p_now, 'scheduler' FROM due
  WHERE window_start < p_now
  RETURNING *
$$;

-- Deletes up to p_batch expired rows from each online table; returns how many. Small
-- batches keep locks short; the cron worker calls it until it returns less than a batch.
CREATE FUNCTION expire_online_values(p_batch INT, p_now TIMESTAMPTZ DEFAULT now())
RETURNS INT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
DECLARE
  scalar_rows INT;
  vector_rows INT;
BEGIN
  DELETE FROM ai_feature_online WHERE ctid IN (
    SELECT ctid FROM ai_feature_online WHERE expires_at < p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
  GET DIAGNOSTICS scalar_rows = ROW_COUNT;
  DELETE FROM ai_feature_embeddings_online WHERE ctid IN (
    SELECT ctid FROM ai_feature_embeddings_online WHERE expires_at < p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
  GET DIAGNOSTICS vector_rows = ROW_COUNT;
  RETURN scalar_rows + vector_rows;
END;
$$;

REVOKE ALL ON FUNCTION claim_materialization_jobs(TEXT, INT, INT, UUID[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION enqueue_due_incremental_jobs(TIMESTAMPTZ, UUID[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION expire_online_values(INT, TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_materialization_jobs(TEXT, INT, INT, UUID[]) TO fs_app;
GRANT EXECUTE ON FUNCTION enqueue_due_incremental_jobs(TIMESTAMPTZ, UUID[]) TO fs_app;
GRANT EXECUTE ON FUNCTION expire_online_values(INT, TIMESTAMPTZ) TO fs_app;
