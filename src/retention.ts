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

/** Deletes metric streams last moved before `before`, a page at a time in stream order, yielding between pages. */
export async function pruneMetricStreams(store: Store, before: number, isStopped: () => boolean = () => false): Promise<number> {
  let deleted = 0;
  for (let after = ''; ; ) {
    const page = await store.pruneMetricStreams(before, after, PRUNE_BATCH_ROWS);
    deleted += page.deleted;
    if (page.last === null || isStopped()) return deleted;
    after = page.last;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Runs `work` hourly, and at once when `atStart`; a run that outlasts the hour (a first prune of a
 * large backlog) delays the next one.
 */
function hourly(work: (isStopped: () => boolean) => Promise<unknown>, atStart: boolean, onError: (error: unknown) => void): RetentionTask {
  let stopped = false;
  let running: Promise<unknown> | null = null;
  const run = () => {
    running ??= work(() => stopped).catch(onError).finally(() => (running = null));
  };
  if (atStart) run();
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

/**
 * Raw retention (RAW_RETENTION_DAYS): prunes at start and then hourly. Rollups are kept, so day,
 * project, agent, model, provider and task reports still cover the whole history.
 */
export function startRetention(store: Store, days: number, now: () => number, onError: (error: unknown) => void): RetentionTask {
  return hourly((isStopped) => pruneRaw(store, retentionHorizon(now(), days), isStopped), true, onError);
}

/**
 * The collector's bookkeeping tables, hourly: budget deliveries finished more than `days.outbox`
 * days ago (BUDGET_OUTBOX_RETENTION_DAYS) and metric streams not moved for `days.streams` days
 * (METRIC_STREAM_RETENTION_DAYS). Not at start: after a long outage the streams still being sent
 * are first seen again (and moved, see countPoints) within the hour, rather than pruned.
 */
export function startBookkeepingPrune(store: Store, days: { outbox: number; streams: number }, now: () => number, onError: (error: unknown) => void): RetentionTask {
  return hourly(async (isStopped) => {
    await store.budgets.pruneDeliveries(now() - days.outbox * DAY_MS);
    await pruneMetricStreams(store, now() - days.streams * DAY_MS, isStopped);
  }, false, onError);
}
