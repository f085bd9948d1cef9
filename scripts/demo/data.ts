// Synthetic TIS TIS platform data for the demo tenant: users, conversations in several
// channels and languages, messages with intents and sentiment, feedback. Deterministic.
import type pg from "pg";
import { seededRandom as random } from "../lib/random.ts";

export const demoTenantId = "7e5a1d1e-0000-4000-8000-00000000de70";

/** A unit-length pseudo-random 1536-dimension vector (text-embedding-3-small's size). */
export function randomEmbedding(seed: number): number[] {
  const next = random(seed + 1);
  const v = Array.from({ length: 1536 }, () => next() - 0.5);
  const norm = Math.sqrt(v.reduce((n, x) => n + x * x, 0));
  return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

export async function insertDemoConversations(db: pg.Client, progress: (done: number, total: number) => void) {
  const next = random(42);
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)]!;
  const users = Array.from({ length: 60 }, (_, i) => ({
    id: crypto.randomUUID(),
    email: `customer${String(i).padStart(2, "0")}@example.com`,
  }));
  await db.query(
    `INSERT INTO users (id, tenant_id, email) SELECT id, $1, email FROM jsonb_to_recordset($2::jsonb) AS r(id uuid, email text)`,
    [demoTenantId, JSON.stringify(users)],
  );
  const total = 600;
  const now = Date.now();
  for (let batch = 0; batch < total; batch += 100) {
    const conversations: Record<string, unknown>[] = [];
    const messages: Record<string, unknown>[] = [];
    const feedback: Record<string, unknown>[] = [];
    for (let i = batch; i < batch + 100; i++) {
      const id = crypto.randomUUID();
      const user = pick(users);
      const language = pick(["es", "es", "es", "en", "pt"]);
      const createdAt = now - Math.floor(next() * 28 * 86_400_000) - 3_600_000;
      const turns = 2 + Math.floor(next() * 8);
      conversations.push({
        id,
        user_id: user.id,
        channel: pick(["whatsapp", "whatsapp", "web", "instagram", "messenger"]),
        status: pick(["resolved", "resolved", "open", "escalated"]),
        created_at: new Date(createdAt).toISOString(),
        updated_at: new Date(createdAt + turns * 45_000).toISOString(),
      });
      for (let t = 0; t < turns; t++) {
        const role = t % 2 === 0 ? "user" : "assistant";
        messages.push({
          id: crypto.randomUUID(),
          conversation_id: id,
          role,
          content:
            role === "user" ? pick(["Hola, quiero reservar", "¿Cuánto cuesta?", "I need help", "Obrigado!"]) : "...",
          metadata: {
            detected_language: language,
            detected_intent: pick(["booking", "pricing", "support", "greeting", "complaint"]),
            sentiment_score: Math.round((next() * 2 - 1) * 100) / 100,
            token_count: 5 + Math.floor(next() * 60),
          },
          created_at: new Date(createdAt + t * 45_000).toISOString(),
        });
      }
      if (next() < 0.4)
        feedback.push({
          user_id: user.id,
          conversation_id: id,
          rating: pick([-1, 0, 1, 1, 1]),
          created_at: new Date(createdAt + turns * 45_000).toISOString(),
        });
    }
    await db.query("BEGIN");
    await db.query(
      `INSERT INTO ai_conversations (id, tenant_id, user_id, channel, status, created_at, updated_at)
       SELECT id, $1, user_id, channel, status, created_at, updated_at FROM jsonb_to_recordset($2::jsonb)
         AS r(id uuid, user_id uuid, channel text, status text, created_at timestamptz, updated_at timestamptz)`,
      [demoTenantId, JSON.stringify(conversations)],
    );
    await db.query(
      `INSERT INTO ai_messages (id, tenant_id, conversation_id, role, content, metadata, created_at)
       SELECT id, $1, conversation_id, role, content, metadata, created_at FROM jsonb_to_recordset($2::jsonb)
         AS r(id uuid, conversation_id uuid, role text, content text, metadata jsonb, created_at timestamptz)`,
      [demoTenantId, JSON.stringify(messages)],
    );
    await db.query(
      `INSERT INTO ai_feedback (tenant_id, user_id, conversation_id, rating, created_at)
       SELECT $1, user_id, conversation_id, rating, created_at FROM jsonb_to_recordset($2::jsonb)
         AS r(user_id uuid, conversation_id uuid, rating int, created_at timestamptz)`,
      [demoTenantId, JSON.stringify(feedback)],
    );
    await db.query("COMMIT");
    progress(batch + 100, total);
  }
}
