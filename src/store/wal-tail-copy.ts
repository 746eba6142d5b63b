/**
 * How long the insert thread's copy of the WAL's rest (sqlite-worker.ts: the frames committed during
 * the checkpoint thread's checkpoint) waits for a moment when no write waits for the thread. Run
 * ahead of a waiting write, the copy holds it for its two fsyncs (the WAL's and the database file's):
 * in stamped 100-event half-rate runs, 3–15 % of the requests waited behind one, and a third to all
 * of the slowest 1 % in most rounds (docs/benchmarks.md, "The 100-event half-rate tail, session 17").
 * Past this it runs anyway, at the next gap between two commits (so up to this and one commit late),
 * so that under continuous commits the WAL still starts over after the checkpoint thread's
 * checkpoints (at least 200 ms apart) and never grows to the backstop.
 */
export const TAIL_COPY_WAIT_MS = 50;

/** Whether the copy asked for at `askedAt` runs now, before the writes waiting (`waitingWrites`), or waits for the thread to be idle. */
export function copyTailNow(askedAt: number, waitingWrites: number, now: number): boolean {
  return waitingWrites === 0 || now - askedAt >= TAIL_COPY_WAIT_MS;
}
