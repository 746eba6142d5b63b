import type { Store } from './store/types.js';

const DAY_MS = 86_400_000;
/** Rows deleted per transaction: small enough that the writer never waits long for the lock. */
const PRUNE_BATCH_ROWS = 5_000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/**
 * How often a stream sent without new counts is moved to where it stands, to show it is still
 * sent (see countPoints): a stream is pruned only once it has not moved for its retention and this.
 */
export const STILL_SENT_MS = DAY_MS;

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

/** When a periodic prune first runs (0: at once) and how often after that, in ms. */
export interface PruneTiming {
  firstMs: number;
  everyMs: number;
}

const HOURLY: PruneTiming = { firstMs: PRUNE_EVERY_MS, everyMs: PRUNE_EVERY_MS };

/**
 * Runs `work` on `timing`; a run that outlasts the period (a first prune of a large backlog) delays
 * the next one.
 */
function periodic(work: (isStopped: () => boolean) => Promise<unknown>, timing: PruneTiming, onError: (error: unknown) => void): RetentionTask {
  let stopped = false;
  let running: Promise<unknown> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const run = () => {
    running ??= work(() => stopped).catch(onError).finally(() => (running = null));
  };
  const repeat = () => {
    timer = setInterval(run, timing.everyMs);
    timer.unref();
  };
  if (timing.firstMs === 0) {
    run();
    repeat();
  } else {
    timer = setTimeout(() => {
      run();
      if (!stopped) repeat();
    }, timing.firstMs);
    timer.unref();
  }
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer); // the first delay's or the interval's: Node clears either
      await running;
    },
  };
}

/**
 * Raw retention (RAW_RETENTION_DAYS): prunes at start and then hourly. Rollups are kept, so day,
 * project, agent, model, provider and task reports still cover the whole history.
 */
export function startRetention(store: Store, days: number, now: () => number, onError: (error: unknown) => void): RetentionTask {
  return periodic((isStopped) => pruneRaw(store, retentionHorizon(now(), days), isStopped), { ...HOURLY, firstMs: 0 }, onError);
}

/**
 * The collector's bookkeeping tables, hourly: budget deliveries finished more than `days.outbox`
 * days ago (BUDGET_OUTBOX_RETENTION_DAYS) and metric streams not moved for `days.streams` days
 * and STILL_SENT_MS (METRIC_STREAM_RETENTION_DAYS), each on its own: one failing does not keep
 * the other from running. First an hour after start: after a long outage the streams still being
 * sent are first seen again (and moved, see countPoints) within the hour, rather than pruned.
 */
export function startBookkeepingPrune(
  store: Store, days: { outbox: number; streams: number }, now: () => number, onError: (error: unknown) => void, timing: PruneTiming = HOURLY,
): RetentionTask {
  return periodic(async (isStopped) => {
    await store.budgets.pruneDeliveries(now() - days.outbox * DAY_MS).catch(onError);
    await pruneMetricStreams(store, now() - days.streams * DAY_MS - STILL_SENT_MS, isStopped).catch(onError);
  }, timing, onError);
}
