-- One HNSW index per embedding feature version with many online vectors. The shared index
-- of a dimension (ensure_embedding_index) holds every tenant's vectors: a tenant owning a few
-- percent of it walks a graph made mostly of rows RLS then hides, so its search is slow and
-- loses recall. A partial index WHERE feature_id = X AND feature_version = V holds one
-- tenant's vectors only (feature ids are never shared between tenants), so its search
-- filters nothing. The search query names feature_id, feature_version and dimension as
-- bound values: the planner proves the partial predicate and takes the smaller index.
--
-- Built by the cron worker (ensure_feature_search_index, one index per call so the SHARE
-- lock that blocks writes to the table lasts one build), found by name by the search
-- (feature_search_index_name), dropped once the feature version has no online vector left.

CREATE FUNCTION feature_search_index_name(p_feature_id UUID, p_version INT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
  SELECT 'idx_emb_search_' || replace(p_feature_id::text, '-', '') || '_v' || p_version
$$;

-- Builds the index of the feature version with the most online vectors above p_min_rows that
-- has none yet (of p_feature_id only, when given), and drops the indexes of feature versions
-- left without vectors. Returns the index built (NULL when there was none to build, or
-- another run holds the lock).
CREATE FUNCTION ensure_feature_search_index(p_min_rows INT, p_feature_id UUID DEFAULT NULL)
RETURNS TABLE (index_name TEXT, feature_id UUID, feature_version INT, dimension INT, vectors BIGINT, dropped TEXT[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog
-- The graph of ~10,000 vectors of 1,536 floats (~70 MB) is built in memory when it fits.
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
  stale TEXT[] := '{}';
  name TEXT;
  candidate RECORD;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('ensure_feature_search_index')) THEN
    RETURN;
  END IF;
  -- Waiting behind a long write would queue every other write behind this build: give up,
  -- the next run tries again.
  SET LOCAL lock_timeout = '5s';
  FOR name IN
    SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
    WHERE i.indrelid = 'ai_feature_embeddings_online'::regclass AND c.relname LIKE 'idx\_emb\_search\_%'
      AND NOT EXISTS (
        SELECT 1 FROM ai_feature_embeddings_online e
        WHERE feature_search_index_name(e.feature_id, e.feature_version) = c.relname
          AND e.feature_id = (substr(c.relname, 16, 32))::uuid)
  LOOP
    EXECUTE format('DROP INDEX %I', name);
    stale := stale || name;
  END LOOP;

  SELECT e.feature_id AS fid, e.feature_version AS version, min(e.dimension) AS dim, count(*) AS n
  INTO candidate
  FROM ai_feature_embeddings_online e
  WHERE p_feature_id IS NULL OR e.feature_id = p_feature_id
  GROUP BY e.feature_id, e.feature_version
  -- A feature version's vectors share its dimension (push checks it); HNSW takes up to 2,000.
  HAVING count(*) > p_min_rows AND min(e.dimension) = max(e.dimension) AND max(e.dimension) <= 2000
     AND to_regclass(feature_search_index_name(e.feature_id, e.feature_version)) IS NULL
  ORDER BY count(*) DESC, e.feature_id, e.feature_version
  LIMIT 1;

  IF candidate.fid IS NULL THEN
    IF cardinality(stale) > 0 THEN
      RETURN QUERY SELECT NULL::text, NULL::uuid, NULL::int, NULL::int, NULL::bigint, stale;
    END IF;
    RETURN;
  END IF;
  name := feature_search_index_name(candidate.fid, candidate.version);
  EXECUTE format(
    'CREATE INDEX %I ON ai_feature_embeddings_online USING hnsw ((embedding::vector(%s)) vector_cosine_ops) '
    'WITH (m = 16, ef_construction = 64) WHERE feature_id = %L::uuid AND feature_version = %s AND dimension = %s',
    name, candidate.dim, candidate.fid, candidate.version, candidate.dim
  );
  RETURN QUERY SELECT name, candidate.fid, candidate.version, candidate.dim, candidate.n, stale;
END;
$$;

REVOKE ALL ON FUNCTION ensure_feature_search_index(INT, UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_feature_search_index(INT, UUID) TO fs_app;
GRANT EXECUTE ON FUNCTION feature_search_index_name(UUID, INT) TO fs_app;
