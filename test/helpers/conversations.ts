// Synthetic TIS TIS platform data (users, conversations, messages, feedback) for a tenant,
// written as the owner: the app role has no write access to the platform's tables.

import { ownerSql } from "#harness/stack.ts";
import { seededRandom as random } from "../../scripts/lib/random.ts";

export interface SyntheticConversation {
  userIndex: number;
  channel: string;
  createdAt: Date;
  durationSeconds: number;
  messages: {
    role: "user" | "assistant";
    language: string;
    intent: string | null;
    sentiment: number | null;
    at: Date;
  }[];
  ratings: number[];
}

export function generateConversations(
  seed: number,
  count: number,
  users: number,
  from: Date,
  to: Date,
): SyntheticConversation[] {
  const next = random(seed);
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)]!;
  const span = to.getTime() - from.getTime();
  return Array.from({ length: count }, () => {
    const createdAt = new Date(from.getTime() + Math.floor(next() * span));
    const messages = Array.from({ length: 1 + Math.floor(next() * 6) }, (_, i) => ({
      role: (i % 2 === 0 ? "user" : "assistant") as "user" | "assistant",
      language: pick(["es", "es", "en", "pt"]),
      intent: next() < 0.8 ? pick(["booking", "pricing", "support", "greeting"]) : null,
      sentiment: next() < 0.9 ? Math.round((next() * 2 - 1) * 100) / 100 : null,
      at: new Date(createdAt.getTime() + i * 30_000),
    }));
    return {
      userIndex: Math.floor(next() * users),
      channel: pick(["whatsapp", "web", "instagram"]),
      createdAt,
      durationSeconds: Math.floor(next() * 3600),
      messages,
      ratings: next() < 0.5 ? [pick([-1, 0, 1, 1])] : [],
    };
  });
}

/** Inserts users and conversations for the tenant (the tenants row must exist). Returns the user ids. */
export async function insertConversations(tenantId: string, users: number, conversations: SyntheticConversation[]) {
  const owner = ownerSql();
  const userIds = Array.from({ length: users }, () => crypto.randomUUID());
  const userRows = userIds.map((id, i) => ({ id, tenant_id: tenantId, email: `user${i}@example.com` }));
  const convRows: Record<string, unknown>[] = [];
  const messageRows: Record<string, unknown>[] = [];
  const feedbackRows: Record<string, unknown>[] = [];
  for (const c of conversations) {
    const id = crypto.randomUUID();
    convRows.push({
      id,
      tenant_id: tenantId,
      user_id: userIds[c.userIndex],
      channel: c.channel,
      created_at: c.createdAt.toISOString(),
      updated_at: new Date(c.createdAt.getTime() + c.durationSeconds * 1000).toISOString(),
    });
    for (const m of c.messages) {
      const metadata: Record<string, unknown> = { detected_language: m.language };
      if (m.intent) metadata.detected_intent = m.intent;
      if (m.sentiment !== null) metadata.sentiment_score = m.sentiment;
      messageRows.push({
        id: crypto.randomUUID(),
        tenant_id: tenantId,
        conversation_id: id,
        role: m.role,
        metadata,
        created_at: m.at.toISOString(),
      });
    }
    for (const rating of c.ratings) {
      feedbackRows.push({
        tenant_id: tenantId,
        user_id: userIds[c.userIndex],
        conversation_id: id,
        rating,
        created_at: c.createdAt.toISOString(),
      });
    }
  }
  await owner.transaction([
    owner`INSERT INTO users (id, tenant_id, email) SELECT * FROM jsonb_to_recordset(${JSON.stringify(userRows)}::jsonb) AS r(id uuid, tenant_id uuid, email text)`,
    owner`INSERT INTO ai_conversations (id, tenant_id, user_id, channel, created_at, updated_at)
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(convRows)}::jsonb)
            AS r(id uuid, tenant_id uuid, user_id uuid, channel text, created_at timestamptz, updated_at timestamptz)`,
    owner`INSERT INTO ai_messages (id, tenant_id, conversation_id, role, metadata, created_at)
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(messageRows)}::jsonb)
            AS r(id uuid, tenant_id uuid, conversation_id uuid, role text, metadata jsonb, created_at timestamptz)`,
    owner`INSERT INTO ai_feedback (tenant_id, user_id, conversation_id, rating, created_at)
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(feedbackRows)}::jsonb)
            AS r(tenant_id uuid, user_id uuid, conversation_id uuid, rating int, created_at timestamptz)`,
  ]);
  return userIds;
}
