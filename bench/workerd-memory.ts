// Resident memory of workerd processes, read from /proc (Linux): the runner samples all of
// them, the HTTP benchmark only those of one host (its process group or parent).
import { readdirSync, readFileSync } from "node:fs";

/** MB of resident memory of the workerd processes, optionally only those whose process group or parent is `owner`. */
export function workerdRssMb(owner?: number): number {
  let kb = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (owner !== undefined) {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (Number(fields[1]) !== owner && Number(fields[2]) !== owner) continue;
      }
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("workerd")) continue;
      kb += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {}
  }
  return Math.round(kb / 102.4) / 10;
}

/** The pids of every workerd process now running. */
export function workerdPids(): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("workerd");
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** MB of resident memory of these processes (0 for those gone). */
export function rssMbOf(pids: readonly number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {}
  }
  return Math.round(kb / 102.4) / 10;
}
