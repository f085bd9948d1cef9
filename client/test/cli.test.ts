// `fs plan` / `fs apply` against the admin worker served over HTTP: exit codes for CI, a plan
// that prints the same every time (snapshot), breaking changes refused unless allowed.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type ServedWorkers, serveWorkers } from "../../harness/served-workers.ts";
import { allScopes, signToken } from "../../harness/tokens.ts";
import { main } from "../src/cli.ts";

const tistisFile = path.resolve(import.meta.dirname, "../../examples/tistis/features.ts");
const editedFile = path.resolve(import.meta.dirname, "fixtures/edited.features.ts");
let workers: ServedWorkers;

beforeAll(async () => {
  workers = await serveWorkers(inject);
});
afterAll(async () => {
  await workers?.stop();
});

/** Runs the CLI for a tenant; returns its exit code and what it printed. */
async function fs(tenantId: string, ...args: string[]) {
  process.env.FS_TOKEN = await signToken({ tenantId, scopes: allScopes, sub: "ci" });
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    [...args, "--url", workers.adminUrl],
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("npx fs plan | apply", () => {
  it("plans creates (exit 2), applies them (exit 0), then plans and applies nothing (exit 0)", async () => {
    const tenant = crypto.randomUUID();
    const plan = await fs(tenant, "plan", "--file", tistisFile);
    expect(plan.code).toBe(2);
    expect(plan.out.split("\n").slice(0, 3)).toEqual([
      "  + group   tenant",
      "  + feature tenant.total_conversations  (version 1)",
      "  + feature tenant.avg_conversations_per_day  (version 1)",
    ]);
    expect(plan.out).toMatch(/Plan: 26 to create, 0 to update, 0 to archive; 0 breaking\. 0 unchanged\.$/);
    const apply = await fs(tenant, "apply", "--file", tistisFile);
    expect([apply.code, apply.out.split("\n").at(-1)]).toEqual([0, "Applied 26 change(s) in one transaction."]);
    for (const command of ["plan", "apply"]) {
      const again = await fs(tenant, command, "--file", tistisFile);
      expect([again.code, again.out]).toEqual([0, "No changes: the registry is as declared (26 unchanged)."]);
    }
  });

  it("prints the same plan every time: creates, versions staged or promoted, breaking changes, archives", async () => {
    const tenant = crypto.randomUUID();
    await fs(tenant, "apply", "--file", tistisFile);
    const first = await fs(tenant, "plan", "--file", editedFile);
    const second = await fs(tenant, "plan", "--file", editedFile);
    expect(first.code).toBe(2);
    expect(second.out).toBe(first.out);
    expect(first.out).toMatchSnapshot();
  });

  it("refuses a breaking change without --allow-breaking, leaving the registry as it was", async () => {
    const tenant = crypto.randomUUID();
    await fs(tenant, "apply", "--file", tistisFile);
    const refused = await fs(tenant, "apply", "--file", editedFile);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("Refused: 1 change(s) break readers");
    expect((await fs(tenant, "plan", "--file", editedFile)).out).toBe(
      (await fs(tenant, "plan", "--file", editedFile)).out,
    );
    expect((await fs(tenant, "plan", "--file", tistisFile)).code).toBe(0);
    const allowed = await fs(tenant, "apply", "--file", editedFile, "--allow-breaking");
    expect(allowed.code).toBe(0);
    expect((await fs(tenant, "plan", "--file", editedFile)).code).toBe(0);
  });

  it("fails clearly on bad usage, a file without a registry, a token without the scope", async () => {
    const tenant = crypto.randomUUID();
    expect((await fs(tenant, "destroy")).code).toBe(1);
    const noExport = await fs(
      tenant,
      "plan",
      "--file",
      path.resolve(import.meta.dirname, "fixtures/no-export.features.ts"),
    );
    expect([noExport.code, noExport.err]).toEqual([1, expect.stringContaining("must export default defineFeatures")]);
    process.env.FS_TOKEN = await signToken({ tenantId: tenant, scopes: ["registry:read"] });
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      ["apply", "--file", tistisFile, "--url", workers.adminUrl],
      (l) => out.push(l),
      (l) => err.push(l),
    );
    expect([code, err.join("\n")]).toEqual([1, expect.stringContaining("FORBIDDEN (403)")]);
    delete process.env.FS_TOKEN;
    const savedToken = process.env.TOKEN;
    delete process.env.TOKEN;
    expect(
      await main(
        ["plan"],
        () => {},
        (l) => err.push(l),
      ),
    ).toBe(1);
    if (savedToken !== undefined) process.env.TOKEN = savedToken;
    expect(err.at(-1)).toContain("no token");
  });
});
