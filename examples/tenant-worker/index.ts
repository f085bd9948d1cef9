// GET /?conversation=<id>: pushes one message event for the conversation and answers its
// windowed count, both through env.FEATURES (the serving worker's FeatureStore entrypoint).
import { FeatureStoreError, type FeatureStoreService, featureStoreBinding } from "@tistis/feature-store";
import type tistis from "../tistis/features.ts";

interface Env {
  FEATURES: FeatureStoreService;
  FEATURE_STORE_TOKEN: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const features = featureStoreBinding<typeof tistis>(env.FEATURES, { token: env.FEATURE_STORE_TOKEN });
    const conversation = new URL(request.url).searchParams.get("conversation") ?? "tenant-app-demo";
    try {
      await features.push({
        entityType: "conversation",
        rows: [
          {
            entityId: conversation,
            eventTimestamp: new Date(Date.now() - 61_000).toISOString(),
            eventId: crypto.randomUUID(),
            features: { "conversation.messages_last_hour": 1 },
          },
        ],
      });
      const read = await features.getOnline({
        entityType: "conversation",
        entityId: conversation,
        features: ["conversation.messages_last_hour"],
      });
      const count: number | null = read.features["conversation.messages_last_hour"];
      return Response.json({ conversation, messagesLastHour: count, servedFrom: read.metadata.servedFrom });
    } catch (error) {
      if (error instanceof FeatureStoreError)
        return Response.json({ error: { code: error.code, message: error.message } }, { status: error.status || 502 });
      throw error;
    }
  },
};
