// The (entity, timestamp) pairs of the point-in-time benchmarks: deterministic per seed, so
// the workerd bench and the HTTP bench ask for the same rows of the same generated history.
export const historyYearStart = Date.UTC(2025, 0, 1);
export const historyYearSeconds = 365 * 86_400;

/** The pairs one at a time, so a request of a million is never held whole. */
export function* trainingPairStream(count: number, seed: number, entities: number) {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  for (let i = 0; i < count; i++) {
    yield {
      entityId: `e${Math.floor(next() * entities)}`,
      timestamp: new Date(historyYearStart + Math.floor(next() * historyYearSeconds) * 1000).toISOString(),
    };
  }
}

export function trainingPairs(count: number, seed: number, entities: number) {
  return [...trainingPairStream(count, seed, entities)];
}
