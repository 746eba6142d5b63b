import type { Store } from './store/types.js';

const DAY_MS = 86_400_000;
/** Rows deleted per transaction: small enough that the writer never waits long for the lock. */
const PRUNE_BATCH_ROWS = 5_000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** The first UTC midnight whose day is still kept when raw events live `days` days. */
export function retentionHorizon(now: number, days: number): number {
  return Math.floor(now / DAY_MS) * DAY_MS - days * DAY_MS;
}

/** Deletes raw events older than the horizon, batch by batch, yielding between batches. */
export async function pruneRaw(store: Store, before: number, isStopped: () => boolean = () => false): Promise<number> {
  let deleted = 0;
  for (;;) {
    const n = await store.pruneRaw(before, PRUNE_BATCH_ROWS);
    deleted += n;
    if (n < PRUNE_BATCH_ROWS || isStopped()) return deleted;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface RetentionTask {
  stop(): Promise<void>;
}

/**
 * Raw retention (RAW_RETENTION_DAYS): prunes at start and then hourly. Rollups are kept, so day,
 * project, agent, model, provider and task reports still cover the whole history.
 */
export function startRetention(store: Store, days: number, now: () => number, onError: (error: unknown) => void): RetentionTask {
  let stopped = false;
  let running: Promise<unknown> | null = null;
  // A first prune of a large backlog can outlast the hour: the next one starts only after it.
  const run = () => {
    running ??= pruneRaw(store, retentionHorizon(now(), days), () => stopped).catch(onError).finally(() => (running = null));
  };
  run();
  const timer = setInterval(run, PRUNE_EVERY_MS);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
