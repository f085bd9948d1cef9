-- The API shape of registry rows, built in SQL so that a version's definition_snapshot is
-- always exactly the stored row (same transaction, same timestamps), never a copy the
-- application assembled separately.
CREATE FUNCTION feature_definition_json(d ai_feature_definitions) RETURNS JSONB
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', d.id,
    'tenantId', d.tenant_id,
    'groupId', d.group_id,
    'name', d.name,
    'displayName', d.display_name,
    'description', d.description,
    'dataType', d.data_type,
    'embeddingDimension', d.embedding_dimension,
    'sourceType', d.source_type,
    'sourceConfig', d.source_config,
    'transformationSql', d.transformation_sql,
    'aggregationType', d.aggregation_type,
    'windowSizeSeconds', d.window_size_seconds,
    'validationRules', d.validation_rules,
    'status', d.status,
    'version', d.version,
    'tags', d.tags,
    'createdAt', to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'updatedAt', to_char(d.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'createdBy', d.created_by
  )
$$;

CREATE FUNCTION feature_group_json(g ai_feature_groups) RETURNS JSONB
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', g.id,
    'tenantId', g.tenant_id,
    'name', g.name,
    'displayName', g.display_name,
    'description', g.description,
    'entityType', g.entity_type,
    'entityIdColumn', g.entity_id_column,
    'onlineEnabled', g.online_enabled,
    'offlineEnabled', g.offline_enabled,
    'ttlSeconds', g.ttl_seconds,
    'status', g.status,
    'tags', g.tags,
    'createdAt', to_char(g.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'updatedAt', to_char(g.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'createdBy', g.created_by
  )
$$;

CREATE FUNCTION materialization_job_json(j ai_feature_materialization_jobs) RETURNS JSONB
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', j.id,
    'tenantId', j.tenant_id,
    'featureGroupId', j.feature_group_id,
    'jobType', j.job_type,
    'startTime', to_char(j.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'endTime', to_char(j.end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'status', j.status,
    'progress', j.progress,
    'errorMessage', j.error_message,
    'rowsProcessed', j.rows_processed,
    'rowsFailed', j.rows_failed,
    'failureSamples', j.failure_samples,
    'durationMs', j.duration_ms,
    'attempts', j.attempts,
    'createdAt', to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'startedAt', to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'completedAt', to_char(j.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'createdBy', j.created_by
  )
$$;
