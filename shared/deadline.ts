// A deadline for work that has none of its own (a Redis write, a health check).
export class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
}

/** Resolves with `promise`, or rejects with DeadlineExceeded after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`no answer within ${ms} ms`)), ms);
  });
  // Once the deadline has won, a later failure of `promise` has nobody to tell: observed here so
  // it is not an unhandled rejection (workerd reports those as uncaught exceptions).
  promise.catch(() => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
