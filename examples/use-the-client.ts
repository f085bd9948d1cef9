// The typed client against `npm start`: push message events, read a windowed count typed as
// number, stream a training set, and see an error as a typed object.
//   export TOKEN=…   (printed by npm start)
//   npx tsx examples/use-the-client.ts
import { createFeatureStore, FeatureStoreError } from "@tistis/feature-store";
import type tistis from "./tistis/features.ts";

const store = createFeatureStore<typeof tistis>({
  url: process.env.FS_URL ?? "http://localhost:8787",
  adminUrl: process.env.FS_ADMIN_URL ?? "http://localhost:8788",
  token: process.env.TOKEN ?? "",
});

const conversation = `example-${Date.now()}`;
// Three message events, a minute old (inside every window answered now); sent again, an
// event id counts once, so a retried push is safe.
const rows = [1, 2, 3].map((i) => ({
  entityId: conversation,
  eventTimestamp: new Date(Date.now() - 61_000).toISOString(),
  eventId: `message-${i}`,
  features: { "conversation.messages_last_hour": 1, "conversation.message_count": 1 },
}));
const pushed = await store.push({ entityType: "conversation", rows: [...rows, ...rows] });
console.log(`pushed: ${pushed.accepted} rows accepted, ${pushed.unchanged} values unchanged`);

const read = await store.getOnline({
  entityType: "conversation",
  entityId: conversation,
  features: ["conversation.messages_last_hour", "conversation.message_count"],
});
const lastHour: number | null = read.features["conversation.messages_last_hour"];
console.log(
  `messages_last_hour = ${lastHour} (${read.statuses["conversation.messages_last_hour"]}, from ${read.metadata.servedFrom})`,
);

let rowsSeen = 0;
for await (const row of store.trainingSet({
  entityType: "conversation",
  entityTimestampPairs: [
    { entityId: conversation, timestamp: new Date(Date.now() - 3_600_000).toISOString() },
    { entityId: conversation, timestamp: new Date().toISOString() },
  ],
  features: ["conversation.message_count"],
})) {
  rowsSeen++;
  console.log(`training row at ${row.timestamp}: message_count = ${row.features["conversation.message_count"]}`);
}

try {
  await store.getFeature("user.no_such_feature");
} catch (error) {
  if (!(error instanceof FeatureStoreError)) throw error;
  console.log(`typed error: ${error.status} ${error.code} (${error.message})`);
}
if (lastHour !== 3 || rowsSeen !== 2) process.exitCode = 1;
