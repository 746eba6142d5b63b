/**
 * How an insert retries a failing database: the store retries, not its caller, because the SQLite
 * insert thread holds the batch. A caller that kept every batch for a retry would keep it until its
 * commit, long enough to reach V8's old generation (docs/benchmarks.md).
 */
export interface InsertRetry {
  /** How long after the first attempt a new one may still start. */
  forMs: number;
  /** Told of every failed attempt, the last included. */
  onFailure(error: Error): void;
}

export const NO_RETRY: InsertRetry = { forMs: 0, onFailure: () => {} };

/**
 * The wait before the next attempt (25 ms doubling up to 1 s, less up to half at random), or null
 * when that attempt would start after `deadline`.
 */
function nextRetryDelay(attempt: number, deadline: number): number | null {
  const delay = Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2);
  return Date.now() + delay > deadline ? null : delay;
}

/** Runs `insert` until it succeeds or the retry window has passed; then its last error is thrown. */
export async function retrying<T>(retry: InsertRetry, insert: () => T | Promise<T>): Promise<T> {
  const deadline = Date.now() + retry.forMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await insert();
    } catch (error) {
      retry.onFailure(error as Error);
      const delay = nextRetryDelay(attempt, deadline);
      if (delay === null) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
