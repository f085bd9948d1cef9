import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { describeHealthRoute } from "../../../test/helpers/health.ts";
import worker from "./index.ts";
import { cronTriggers } from "./triggers.ts";

describeHealthRoute("cron", worker);

describe("cron worker settings", () => {
  it("runs without any JWT setting: it answers no tenant", async () => {
    const { JWT_SECRET: _secret, JWKS_URL: _jwks, ...bindings } = env as Record<string, unknown>;
    const response = await worker.fetch(new Request("http://cron/healthz"), bindings, createExecutionContext());
    expect(response.status).toBe(200);
  });

  it("answers 500 MISCONFIGURED naming a bad RETENTION_MONTHS, and refuses to run a trigger with it", async () => {
    const bindings = { ...env, RETENTION_MONTHS: "forever" };
    const response = await worker.fetch(new Request("http://cron/healthz"), bindings, createExecutionContext());
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("MISCONFIGURED");
    expect(body.error.message).toMatch(/RETENTION_MONTHS/);
    const controller = createScheduledController({ scheduledTime: Date.now(), cron: cronTriggers.partitionUpkeep });
    await expect(worker.scheduled(controller, bindings, createExecutionContext())).rejects.toThrow(/RETENTION_MONTHS/);
  });
});
