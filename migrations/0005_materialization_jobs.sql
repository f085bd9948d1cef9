-- Materialization jobs. Beyond the seed: 'cancelled', a lease (lease_owner,
-- lease_expires_at) so a job whose worker died is claimed again, a checkpoint to resume
-- chunked work, and a sample of validation failures.
CREATE TABLE ai_feature_materialization_jobs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(id),
  feature_group_id UUID NOT NULL,
  job_type TEXT NOT NULL CHECK (job_type IN ('full', 'incremental', 'point_in_time')),
  start_time TIMESTAMPTZ NOT NULL,
  end_time TIMESTAMPTZ NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  progress DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  error_message TEXT,
  rows_processed BIGINT NOT NULL DEFAULT 0,
  rows_failed BIGINT NOT NULL DEFAULT 0,
  failure_samples JSONB NOT NULL DEFAULT '[]',
  duration_ms BIGINT,
  checkpoint JSONB,
  lease_owner TEXT,
  lease_expires_at TIMESTAMPTZ,
  attempts INT NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  started_at TIMESTAMPTZ,
  completed_at TIMESTAMPTZ,
  created_by TEXT,
  CHECK (start_time < end_time),
  FOREIGN KEY (tenant_id, feature_group_id) REFERENCES ai_feature_groups (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX idx_materialization_jobs_status ON ai_feature_materialization_jobs(tenant_id, status, created_at DESC);
CREATE INDEX idx_materialization_jobs_claim ON ai_feature_materialization_jobs(status, lease_expires_at)
  WHERE status IN ('pending', 'running');
