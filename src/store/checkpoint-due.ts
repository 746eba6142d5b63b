/**
 * When the checkpoint thread (sqlite-worker.ts) copies the WAL into the database file next, told of
 * each commit and whether the insert thread had more writes in hand when it came back.
 *
 * After a commit that left the insert thread idle, at most every CHECKPOINT_INTERVAL_MS: a
 * checkpoint per commit would cost each small commit two more fsyncs (the checkpoint's, of the WAL
 * and the database file, on the same disk as the next commit's) and a third inside the next commit:
 * a fully copied WAL starts over, and SQLite syncs its new header before the commit's frames
 * (docs/benchmarks.md, session 8). A longer interval at half the peak rate made each checkpoint
 * copy more, and the commits beside it wait longer for the disk ("Half-rate tails, session 18").
 *
 * While commits follow one another with writes waiting, at most every BUSY_INTERVAL_MS: the
 * indexes' and the rollup's hot pages, written again by every commit, are then copied once for
 * several commits, and the insert thread, the limit at the peak, copies the WAL's rest and starts
 * it over less often: in rounds of the benchmark's ingest loads, builds alternating, 1,000-event
 * batches at the peak went from 37-42 k to 45-53 k events/s (docs/benchmarks.md, "Checkpoints at the
 * peak, session 20"; the two full runs after it read 37-40 k). One idle commit brings the shorter
 * interval back.
 */
const CHECKPOINT_INTERVAL_MS = 200;
const BUSY_INTERVAL_MS = 500;

/** A commit came back: `idle` when the insert thread had nothing more in hand, `busy` when it had. */
export type CommitState = 'idle' | 'busy';

/** When, after the last checkpoint ended at `lastCheckpoint`, the next is due for this commit. */
export function checkpointDueAt(lastCheckpoint: number, commit: CommitState): number {
  return lastCheckpoint + (commit === 'idle' ? CHECKPOINT_INTERVAL_MS : BUSY_INTERVAL_MS);
}
