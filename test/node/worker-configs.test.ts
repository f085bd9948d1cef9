// The workers' wrangler configs agree with the code: every cron trigger has a task, the
// dev ports are the ones the README and DESIGN.md give.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { materializeQueues } from "../../workers/cron/src/queue-consumer.ts";
import { cronTriggers } from "../../workers/cron/src/triggers.ts";

const root = path.resolve(import.meta.dirname, "../..");
const read = (file: string) => readFileSync(path.join(root, file), "utf8");

describe("wrangler configs", () => {
  it("lists exactly the cron triggers the cron worker has tasks for", () => {
    const crons = /crons = \[([^\]]*)\]/.exec(read("workers/cron/wrangler.toml"))?.[1] ?? "";
    const listed = [...crons.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    expect(listed.sort()).toEqual(Object.values(cronTriggers).sort());
  });

  it("produces units to the queue the cron worker consumes, with retries and a dead-letter queue it also consumes", () => {
    const config = read("workers/cron/wrangler.toml");
    const producer = /\[\[queues\.producers\]\]\s*\nbinding = "([^"]+)"\s*\nqueue = "([^"]+)"/.exec(config);
    expect(producer?.slice(1)).toEqual(["MATERIALIZE_QUEUE", materializeQueues.units]);
    const consumers = [...config.matchAll(/\[\[queues\.consumers\]\]\s*\nqueue = "([^"]+)"/g)].map((m) => m[1]);
    expect(consumers).toEqual([materializeQueues.units, materializeQueues.deadLetters]);
    expect(config).toMatch(
      new RegExp(`max_retries = \\d+\\s*\\n(?:.*\\n)*?dead_letter_queue = "${materializeQueues.deadLetters}"`),
    );
  });

  it.each([
    ["wrangler.toml", 8787],
    ["workers/admin/wrangler.toml", 8788],
    ["workers/cron/wrangler.toml", 8789],
  ])("%s serves on port %i in dev", (file, port) => {
    expect(read(file)).toMatch(new RegExp(`\\[dev\\]\\s*\\nport = ${port}`));
  });
});
