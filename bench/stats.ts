// Latency statistics and the line format scripts/bench.ts collects.

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export interface Measurement {
  name: string;
  params: Record<string, unknown>;
  value: number;
  unit: string;
  floor: number;
  floorName: string;
  extra?: Record<string, unknown>;
}

/** One line on stdout that the bench runner picks up. */
export function report(m: Measurement): void {
  const ratio = m.floor > 0 ? Math.round((m.value / m.floor) * 100) / 100 : null;
  console.log(`BENCH ${JSON.stringify({ ...m, ratio })}`);
}

/**
 * Runs `a` and `b` interleaved (so both see the same machine noise), timing each. workerd's
 * clock has millisecond resolution, so a sample is the mean of `repeat` back-to-back calls.
 */
export async function interleaved(
  iterations: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  repeat = 1,
) {
  const timesA: number[] = [];
  const timesB: number[] = [];
  const time = async (run: () => Promise<unknown>) => {
    const t = performance.now();
    for (let r = 0; r < repeat; r++) await run();
    return (performance.now() - t) / repeat;
  };
  for (let i = 0; i < iterations; i++) {
    timesA.push(await time(a));
    timesB.push(await time(b));
  }
  return { a: timesA, b: timesB };
}
