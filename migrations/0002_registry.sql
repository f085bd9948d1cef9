-- Feature registry: groups, definitions (the current version of each feature) and the
-- immutable history of versions. Seed fixes:
--  * definitions are unique per (tenant, group, name): the seed's UNIQUE(group_id, name,
--    version) let two "current" rows of one feature coexist; history lives in versions.
--  * ai_feature_versions carries tenant_id so RLS can isolate it.
--  * children reference parents through (tenant_id, id), so no row can point at another
--    tenant's group or feature even when its id is known (FK checks bypass RLS).
--  * created_by is the token's `sub`, kept as text: it is not always a platform user id.

CREATE TABLE ai_feature_groups (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'),
  display_name TEXT NOT NULL,
  description TEXT,
  entity_type TEXT NOT NULL CHECK (entity_type IN ('tenant', 'user', 'conversation', 'message')),
  entity_id_column TEXT NOT NULL DEFAULT 'entity_id',
  online_enabled BOOLEAN NOT NULL DEFAULT true,
  offline_enabled BOOLEAN NOT NULL DEFAULT true,
  ttl_seconds INT CHECK (ttl_seconds > 0),
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deprecated', 'archived')),
  tags JSONB NOT NULL DEFAULT '[]',
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  created_by TEXT,
  UNIQUE (tenant_id, name),
  UNIQUE (tenant_id, id)
);

CREATE TABLE ai_feature_definitions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(id),
  group_id UUID NOT NULL,
  name TEXT NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'),
  display_name TEXT NOT NULL,
  description TEXT,
  data_type TEXT NOT NULL
    CHECK (data_type IN ('int64', 'float64', 'string', 'bool', 'timestamp', 'array', 'embedding')),
  embedding_dimension INT CHECK (embedding_dimension BETWEEN 1 AND 16000),
  source_type TEXT NOT NULL CHECK (source_type IN ('batch', 'stream', 'on_demand')),
  source_config JSONB,
  transformation_sql TEXT,
  aggregation_type TEXT
    CHECK (aggregation_type IN ('sum', 'avg', 'count', 'max', 'min', 'last', 'first')),
  window_size_seconds INT CHECK (window_size_seconds > 0),
  validation_rules JSONB,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deprecated', 'archived')),
  version INT NOT NULL DEFAULT 1 CHECK (version >= 1),
  tags JSONB NOT NULL DEFAULT '[]',
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  created_by TEXT,
  -- An embedding needs its dimension and nothing else may have one.
  CHECK ((data_type = 'embedding') = (embedding_dimension IS NOT NULL)),
  FOREIGN KEY (tenant_id, group_id) REFERENCES ai_feature_groups (tenant_id, id) ON DELETE CASCADE,
  UNIQUE (tenant_id, group_id, name),
  UNIQUE (tenant_id, id)
);

CREATE TABLE ai_feature_versions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL,
  feature_id UUID NOT NULL,
  version INT NOT NULL CHECK (version >= 1),
  changelog TEXT,
  definition_snapshot JSONB NOT NULL,
  stats JSONB,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  created_by TEXT,
  FOREIGN KEY (tenant_id, feature_id) REFERENCES ai_feature_definitions (tenant_id, id) ON DELETE CASCADE,
  UNIQUE (feature_id, version)
);

CREATE INDEX idx_feature_groups_tenant ON ai_feature_groups(tenant_id) WHERE status = 'active';
CREATE INDEX idx_feature_defs_group ON ai_feature_definitions(group_id) WHERE status = 'active';
CREATE INDEX idx_feature_defs_tenant_name ON ai_feature_definitions(tenant_id, name);
CREATE INDEX idx_feature_versions_tenant ON ai_feature_versions(tenant_id, feature_id);
