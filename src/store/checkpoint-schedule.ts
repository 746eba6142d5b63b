/**
 * How often the checkpoint thread (sqlite-worker.ts) copies the WAL into the database file. Each
 * checkpoint brings two fsyncs beside the commits (the WAL's, then the database file's), the insert
 * thread's copy of the rest (two more, with writes waiting behind it) and the WAL's start-over (one
 * more, inside the next commit); a page written again and again between two checkpoints is copied
 * once. In stamped 100-event half-rate runs, 200 ms apart they overlapped 16–27 % of the requests,
 * 1,000 ms apart 5–6 % (17 % in one round at load 15), and the checkpoints and copies took half the
 * time (docs/benchmarks.md, "Half-rate tails, session 18").
 */
export const CHECKPOINT_INTERVAL_MS = 1000;

/**
 * Records committed since the last checkpoint after which the next comes sooner, so that at the
 * peak the WAL stays about as large as at half rate (0.5–0.8 frames of 4 KiB a record in those runs:
 * 40–65 MB), and far from the insert thread's backstop.
 */
export const CHECKPOINT_RECORDS = 20_000;

/**
 * The shortest time between two checkpoints, counted from the end of the last: a checkpoint slower
 * than this would otherwise start the next at once, and the insert thread's copy would keep finding
 * the checkpoint lock taken.
 */
export const CHECKPOINT_MIN_INTERVAL_MS = 200;

/** How long the next checkpoint waits: `sinceLastMs` since the last one ended, `records` committed since it began. */
export function checkpointWait(sinceLastMs: number, records: number): number {
  return Math.max(0, (records >= CHECKPOINT_RECORDS ? CHECKPOINT_MIN_INTERVAL_MS : CHECKPOINT_INTERVAL_MS) - sinceLastMs);
}
