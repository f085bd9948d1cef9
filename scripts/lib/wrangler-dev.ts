// One `wrangler dev` process for a worker, in its own process group so that stopping it
// reaches workerd too; its output is prefixed with the worker's name.
import { type ChildProcess, spawn } from "node:child_process";
import { quietWranglerEnv } from "./wrangler-env.ts";

export interface WranglerDevOptions {
  name: string;
  root: string;
  config: string;
  port: number;
  /** Each process needs its own, or the second one fails to start. */
  inspectorPort: number;
  vars: Record<string, string>;
  extraArgs?: string[];
  /** Where its output goes; by default this process' stdout/stderr. */
  output?: (line: string) => void;
}

export function startWranglerDev(options: WranglerDevOptions): ChildProcess {
  const args = ["wrangler", "dev", "--config", options.config, "--port", String(options.port), "--ip", "127.0.0.1"];
  args.push("--log-level", "warn", "--inspector-port", String(options.inspectorPort), ...(options.extraArgs ?? []));
  for (const [k, v] of Object.entries(options.vars)) args.push("--var", `${k}:${v}`);
  const child = spawn("npx", args, {
    cwd: options.root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...quietWranglerEnv },
  });
  const prefix = `[${options.name}] `;
  const write = options.output ?? ((text: string) => process.stdout.write(text));
  child.stdout?.on("data", (d: Buffer) => write(d.toString().replace(/^/gm, prefix)));
  child.stderr?.on("data", (d: Buffer) => write(d.toString().replace(/^/gm, prefix)));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`, to the whole process group. */
export async function stopProcessGroup(child: ChildProcess, graceMs = 500): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, s);
    } catch {}
  };
  signal("SIGTERM");
  await new Promise((r) => setTimeout(r, graceMs));
  signal("SIGKILL");
}

export async function waitForHttp(url: string, seconds: number): Promise<void> {
  for (let i = 0; i < seconds * 4; i++) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${seconds} s`);
}
