// The (entity, timestamp) pairs of the point-in-time benchmarks: deterministic per seed, so
// the workerd bench and the HTTP bench ask for the same rows of the same generated history.
export const historyYearStart = Date.UTC(2025, 0, 1);
export const historyYearSeconds = 365 * 86_400;

export function trainingPairs(count: number, seed: number, entities: number) {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  return Array.from({ length: count }, () => ({
    entityId: `e${Math.floor(next() * entities)}`,
    timestamp: new Date(historyYearStart + Math.floor(next() * historyYearSeconds) * 1000).toISOString(),
  }));
}
