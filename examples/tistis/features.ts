// The TIS TIS registry as code: the groups and features of the seed (initializeTenantFeatures),
// with its SQL fixed (every transformation bounded above by NOW(), the materialization window's
// end; the message embedding has its dimension, text-embedding-3-small's 1536).
// `npx fs plan --file examples/tistis/features.ts` shows what applying it would change;
// POST /v1/admin/bootstrap installs this same file.
import { defineFeatures } from "@tistis/feature-store";

export default defineFeatures({
  tenant: {
    displayName: "Tenant Features",
    description: "Features for tenant entity",
    entityType: "tenant",
    features: {
      total_conversations: {
        displayName: "Total Conversations",
        description: "Total number of AI conversations for the tenant",
        dataType: "int64",
        sourceType: "batch",
        transformationSql: `
      SELECT tenant_id AS entity_id, COUNT(*) AS value
      FROM ai_conversations
      WHERE created_at >= :start_time AND created_at < :end_time
      GROUP BY tenant_id`,
        aggregationType: "sum",
        validationRules: { min: 0, notNull: true },
      },
      avg_conversations_per_day: {
        displayName: "Average Conversations Per Day",
        description: "Rolling 30-day average of daily conversations",
        dataType: "float64",
        sourceType: "batch",
        transformationSql: `
      SELECT tenant_id AS entity_id, AVG(daily_count) AS value
      FROM (
        SELECT tenant_id, DATE(created_at) AS day, COUNT(*) AS daily_count
        FROM ai_conversations
        WHERE created_at >= NOW() - INTERVAL '30 days' AND created_at < NOW()
        GROUP BY tenant_id, DATE(created_at)
      ) daily
      GROUP BY tenant_id`,
        aggregationType: "avg",
        windowSizeSeconds: 30 * 24 * 3600,
      },
      positive_feedback_rate: {
        displayName: "Positive Feedback Rate",
        description: "Percentage of positive feedback in last 7 days",
        dataType: "float64",
        sourceType: "batch",
        transformationSql: `
      SELECT tenant_id AS entity_id,
             COALESCE(SUM(CASE WHEN rating > 0 THEN 1 ELSE 0 END)::float / NULLIF(COUNT(*), 0), 0) AS value
      FROM ai_feedback
      WHERE created_at >= NOW() - INTERVAL '7 days' AND created_at < NOW()
      GROUP BY tenant_id`,
        windowSizeSeconds: 7 * 24 * 3600,
        validationRules: { min: 0, max: 1 },
      },
      primary_language: {
        displayName: "Primary Language",
        description: "Most common language detected in messages",
        dataType: "string",
        sourceType: "batch",
        transformationSql: `
      SELECT tenant_id AS entity_id,
             MODE() WITHIN GROUP (ORDER BY metadata->>'detected_language') AS value
      FROM ai_messages
      WHERE role = 'user' AND created_at >= NOW() - INTERVAL '30 days' AND created_at < NOW()
      GROUP BY tenant_id`,
        windowSizeSeconds: 30 * 24 * 3600,
      },
    },
  },
  user: {
    displayName: "User Features",
    description: "Features for user entity",
    entityType: "user",
    features: {
      conversation_count: {
        displayName: "Conversation Count",
        description: "Total conversations initiated by user",
        dataType: "int64",
        sourceType: "batch",
        transformationSql: `
      SELECT user_id AS entity_id, COUNT(*) AS value
      FROM ai_conversations
      WHERE created_at >= :start_time AND created_at < :end_time AND user_id IS NOT NULL
      GROUP BY user_id`,
        aggregationType: "count",
      },
      avg_messages_per_conversation: {
        displayName: "Average Messages Per Conversation",
        description: "Average number of messages user sends per conversation",
        dataType: "float64",
        sourceType: "batch",
        transformationSql: `
      SELECT c.user_id AS entity_id, AVG(m.msg_count) AS value
      FROM ai_conversations c
      JOIN (
        SELECT conversation_id, COUNT(*) AS msg_count
        FROM ai_messages
        WHERE role = 'user' AND created_at < NOW()
        GROUP BY conversation_id
      ) m ON c.id = m.conversation_id
      WHERE c.user_id IS NOT NULL AND c.created_at < NOW()
      GROUP BY c.user_id`,
        aggregationType: "avg",
      },
      preferred_channel: {
        displayName: "Preferred Channel",
        description: "Most used communication channel (whatsapp, web, etc)",
        dataType: "string",
        sourceType: "batch",
        transformationSql: `
      SELECT user_id AS entity_id, MODE() WITHIN GROUP (ORDER BY channel) AS value
      FROM ai_conversations
      WHERE created_at >= NOW() - INTERVAL '90 days' AND created_at < NOW() AND user_id IS NOT NULL
      GROUP BY user_id`,
      },
      last_interaction_days: {
        displayName: "Days Since Last Interaction",
        description: "Number of days since last conversation",
        dataType: "int64",
        sourceType: "on_demand",
        transformationSql: `
      SELECT user_id AS entity_id, EXTRACT(DAY FROM NOW() - MAX(created_at))::int AS value
      FROM ai_conversations
      WHERE created_at < NOW() AND user_id IS NOT NULL
      GROUP BY user_id`,
      },
      feedback_tendency: {
        displayName: "Feedback Tendency",
        description: "User tendency to give feedback (-1 to 1)",
        dataType: "float64",
        sourceType: "batch",
        transformationSql: `
      SELECT f.user_id AS entity_id, AVG(f.rating) AS value
      FROM ai_feedback f
      WHERE f.created_at < NOW() AND f.user_id IS NOT NULL
      GROUP BY f.user_id`,
        validationRules: { min: -1, max: 1 },
      },
    },
  },
  conversation: {
    displayName: "Conversation Features",
    description: "Features for conversation entity",
    entityType: "conversation",
    features: {
      message_count: {
        displayName: "Message Count",
        description: "Total messages in conversation (one pushed event per message; no window: every event so far)",
        dataType: "int64",
        sourceType: "stream",
        aggregationType: "count",
      },
      // Not in the seed: the windowed count real-time models use ("messages in the last hour").
      messages_last_hour: {
        displayName: "Messages in the Last Hour",
        description: "Messages of the conversation in the hour before the read, in 10-second steps",
        dataType: "int64",
        sourceType: "stream",
        aggregationType: "count",
        windowSizeSeconds: 3600,
        aggregationIntervalSeconds: 10,
      },
      duration_seconds: {
        displayName: "Duration Seconds",
        description: "Total duration of conversation in seconds",
        dataType: "int64",
        sourceType: "on_demand",
        transformationSql: `
      SELECT id AS entity_id,
             EXTRACT(EPOCH FROM (LEAST(COALESCE(updated_at, created_at), NOW()) - created_at))::int AS value
      FROM ai_conversations
      WHERE created_at < NOW()`,
      },
      primary_intent: {
        displayName: "Primary Intent",
        description: "Most common detected intent in conversation",
        dataType: "string",
        sourceType: "stream",
        transformationSql: `
      SELECT conversation_id AS entity_id,
             MODE() WITHIN GROUP (ORDER BY metadata->>'detected_intent') AS value
      FROM ai_messages
      WHERE metadata->>'detected_intent' IS NOT NULL AND created_at < NOW()
      GROUP BY conversation_id`,
      },
      escalated: {
        displayName: "Escalated",
        description: "Whether conversation was escalated to human",
        dataType: "bool",
        sourceType: "stream",
      },
      resolution_status: {
        displayName: "Resolution Status",
        description: "Current resolution status of conversation",
        dataType: "string",
        sourceType: "stream",
      },
      sentiment_score: {
        displayName: "Sentiment Score",
        description: "Average sentiment score of user messages",
        dataType: "float64",
        sourceType: "batch",
        transformationSql: `
      SELECT conversation_id AS entity_id, AVG((metadata->>'sentiment_score')::float) AS value
      FROM ai_messages
      WHERE role = 'user' AND metadata->>'sentiment_score' IS NOT NULL AND created_at < NOW()
      GROUP BY conversation_id`,
        validationRules: { min: -1, max: 1 },
      },
    },
  },
  message: {
    displayName: "Message Features",
    description: "Features for message entity",
    entityType: "message",
    // 1 day TTL for messages, as in the seed.
    ttlSeconds: 86_400,
    features: {
      length: {
        displayName: "Message Length",
        description: "Character count of message",
        dataType: "int64",
        sourceType: "stream",
      },
      token_count: {
        displayName: "Token Count",
        description: "Number of tokens in message",
        dataType: "int64",
        sourceType: "stream",
      },
      detected_intent: {
        displayName: "Detected Intent",
        description: "Intent detected from message",
        dataType: "string",
        sourceType: "stream",
      },
      confidence_score: {
        displayName: "Confidence Score",
        description: "AI confidence in response",
        dataType: "float64",
        sourceType: "stream",
        validationRules: { min: 0, max: 1 },
      },
      response_time_ms: {
        displayName: "Response Time (ms)",
        description: "Time taken to generate response",
        dataType: "int64",
        sourceType: "stream",
        validationRules: { min: 0 },
      },
      embedding: {
        displayName: "Message Embedding",
        description: "Semantic embedding vector of message",
        dataType: "embedding",
        embeddingDimension: 1536,
        sourceType: "on_demand",
      },
    },
  },
});
