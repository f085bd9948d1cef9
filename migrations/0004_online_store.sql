-- Online store: the latest value per (tenant, feature, entity). Postgres is the source of
-- truth; Redis caches it. Writes are conditional upserts (newest event time wins).
CREATE TABLE ai_feature_online (
  tenant_id UUID NOT NULL,
  feature_id UUID NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  value JSONB NOT NULL,
  value_type TEXT NOT NULL CHECK (value_type IN ('scalar', 'vector', 'embedding')),
  event_timestamp TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ,
  PRIMARY KEY (tenant_id, feature_id, entity_type, entity_id)
);

CREATE TABLE ai_feature_embeddings_online (
  tenant_id UUID NOT NULL,
  feature_id UUID NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  embedding vector NOT NULL,
  dimension INT GENERATED ALWAYS AS (vector_dims(embedding)) STORED,
  event_timestamp TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ,
  PRIMARY KEY (tenant_id, feature_id, entity_type, entity_id)
);

CREATE INDEX idx_feature_online_expires ON ai_feature_online(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_feature_embeddings_online_expires
  ON ai_feature_embeddings_online(expires_at) WHERE expires_at IS NOT NULL;

-- HNSW indexes need a fixed dimension: one partial expression index per dimension in use,
-- on the history (the seed's index) and on the latest values (what search reads).
-- Queries must repeat the expression and predicate: embedding::vector(N) ... WHERE dimension = N.
CREATE FUNCTION ensure_embedding_index(p_dimension INT) RETURNS BOOLEAN
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
DECLARE
  created BOOLEAN := false;
  target TEXT;
BEGIN
  IF p_dimension < 1 OR p_dimension > 2000 THEN
    RAISE EXCEPTION 'HNSW indexes support 1 to 2000 dimensions, got %', p_dimension;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('ensure_embedding_index'), p_dimension);
  FOREACH target IN ARRAY ARRAY['ai_feature_embeddings', 'ai_feature_embeddings_online'] LOOP
    IF to_regclass(format('idx_%s_hnsw_%s', target, p_dimension)) IS NULL THEN
      EXECUTE format(
        'CREATE INDEX %I ON %I USING hnsw ((embedding::vector(%s)) vector_cosine_ops) '
        'WITH (m = 16, ef_construction = 64) WHERE dimension = %s',
        format('idx_%s_hnsw_%s', target, p_dimension), target, p_dimension, p_dimension
      );
      created := true;
    END IF;
  END LOOP;
  RETURN created;
END;
$$;

SELECT ensure_embedding_index(1536);
