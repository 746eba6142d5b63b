import PQueue from 'p-queue';
import type { UsageRecord } from '../src/event/schema.js';
import { ApiError, storageUnavailable } from '../src/http/errors.js';
import { databaseReplaced, describeDatabaseError } from '../src/store/unavailable.js';
import type { InsertRetry } from '../src/store/retry.js';
import type { BatchExtras, InsertParts, Store } from '../src/store/types.js';
import { joinUsage, telemetry, type BatchUsage } from '../src/telemetry.js';

export interface WriterOptions {
  /** Events waiting for a commit, across all requests; beyond it new requests are refused with 429. */
  maxQueuedEvents: number;
  /**
   * Estimated memory held by waiting events; beyond it new requests are refused with 429. A request
   * is always taken into an empty queue, so no single request is refused forever.
   */
  maxQueuedBytes: number;
  /** Events committed in one transaction at most. */
  maxBatchEvents: number;
  /** How long a failing database is retried before the waiting requests get 503. */
  retryForMs: number;
}

/** A request waiting for its commit: only this waits, its records are with the store by then. */
interface Waiter {
  events: number;
  bytes: number;
  resolve(inserted: boolean[]): void;
  reject(error: unknown): void;
}

interface Pending {
  records: readonly UsageRecord[];
  extras?: BatchExtras;
  waiter: Waiter;
}

const RETRY_AFTER_SECONDS = 1;

/**
 * The single writer: requests hand over their events and wait; a flush (p-queue, as many at once
 * as the store keeps in order) takes everything pending and commits it in one transaction, so
 * concurrent requests share a commit. A store that takes every flush at once (SQLite's insert
 * thread) commits those that wait for it together instead. A request is answered only after its
 * events are committed.
 */
export class BatchWriter {
  private readonly queue: PQueue;
  private pending: Pending[] = [];
  private pendingEvents = 0;
  private pendingBytes = 0;
  private flushScheduled = false;
  private draining = false;
  /** Why the last attempt to commit failed, for /readyz; cleared by the next successful flush or probe. */
  lastError: string | null = null;
  /** Failed attempts so far, so that a probe does not clear a failure newer than itself. */
  private failures = 0;
  /** The database's files were replaced under the service: no probe's success mends that, only a restart. */
  private replaced = false;
  private readonly retry: InsertRetry;

  constructor(
    private readonly store: Store,
    private readonly options: WriterOptions,
  ) {
    this.queue = new PQueue({ concurrency: store.insertsInFlight });
    this.retry = {
      forMs: options.retryForMs,
      onFailure: (error) => {
        this.failures++;
        this.lastError = describeDatabaseError(error);
        this.replaced ||= databaseReplaced(error);
        telemetry.recordStorageError();
      },
    };
  }

  get queuedEvents(): number {
    return this.pendingEvents;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Commits the records, and the extras in the same transaction; resolves, once durable, with which records were new. */
  submit(records: readonly UsageRecord[], extras?: BatchExtras): Promise<boolean[]> {
    if (this.draining) {
      return Promise.reject(new ApiError(503, 'draining', 'the collector is shutting down; retry against another instance or later', RETRY_AFTER_SECONDS));
    }
    if (records.length === 0 && extras === undefined) return Promise.resolve([]);
    const bytes = records.reduce((sum, r) => sum + recordBytes(r), extrasBytes(extras));
    if (this.pendingEvents + records.length > this.options.maxQueuedEvents || (this.pendingBytes > 0 && this.pendingBytes + bytes > this.options.maxQueuedBytes)) {
      return Promise.reject(new ApiError(429, 'queue_full', `the write queue is full (${this.pendingEvents} events, ${this.pendingBytes} bytes waiting); retry shortly`, RETRY_AFTER_SECONDS));
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ records, ...(extras && { extras }), waiter: { events: records.length, bytes, resolve, reject } });
      this.pendingEvents += records.length;
      this.pendingBytes += bytes;
      this.scheduleFlush();
    });
  }

  /**
   * Why writes fail, or null, for /readyz. After a failed commit, while no batch waits (whose own
   * retries tell), it tries a write of its own, so recovery shows without waiting for traffic;
   * not after the database's files were replaced, which only a restart mends.
   */
  async writeFailure(): Promise<string | null> {
    if (this.lastError === null || this.pendingEvents > 0 || this.replaced) return this.lastError;
    const failures = this.failures;
    try {
      await this.store.probeWrite();
      if (this.failures === failures) this.lastError = null;
    } catch (error) {
      if (this.failures === failures) this.lastError = describeDatabaseError(error);
    }
    return this.lastError;
  }

  /** Refuses new work, then waits until everything already accepted is committed or failed. */
  async drain(): Promise<void> {
    this.draining = true;
    await this.queue.onIdle();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    void this.queue.add(() => this.flush());
  }

  private takeBatch(): Pending[] {
    let count = 0;
    let taken = 0;
    while (taken < this.pending.length) {
      const size = this.pending[taken]!.records.length;
      if (taken > 0 && count + size > this.options.maxBatchEvents) break;
      count += size;
      taken++;
    }
    return this.pending.splice(0, taken);
  }

  /**
   * A batch handed over in parts as the route prepares it (Store.insertInParts): the store inserts
   * its first records while the rest are checked, and commits them all in one transaction after the
   * last, which `end` is answered after. Only into an idle writer: behind other commits the parts
   * would only wait, and the requests after them with them. `events`, `bytes`: at most what it
   * holds, counted against the queue's limits until its commit. Undefined: submit the batch whole.
   */
  submitInParts(events: number, bytes: number): InsertParts | undefined {
    if (this.draining || this.pendingEvents > 0 || events > this.options.maxQueuedEvents || bytes > this.options.maxQueuedBytes) return undefined;
    const parts = this.store.insertInParts?.(this.retry);
    if (!parts) return undefined;
    this.pendingEvents += events;
    this.pendingBytes += bytes;
    let answer!: Waiter;
    const answered = new Promise<boolean[]>((resolve, reject) => (answer = { events, bytes, resolve, reject }));
    let end!: (ended: { committed: Promise<boolean[]>; usage: BatchUsage } | 'aborted') => void;
    const ended = new Promise<Parameters<typeof end>[0]>((resolve) => (end = resolve));
    // In the queue from the first part, so that a drain waits for it.
    void this.queue.add(async () => {
      const outcome = await ended;
      if (outcome !== 'aborted') return this.committed([answer], outcome.committed, outcome.usage);
      this.pendingEvents -= events;
      this.pendingBytes -= bytes;
    });
    const usages: BatchUsage[] = [];
    let handed = 0;
    const add = (records: readonly UsageRecord[]) => {
      usages.push(telemetry.usageOf(records));
      handed += records.length;
    };
    return {
      add: (records) => {
        add(records);
        parts.add(records);
      },
      end: (records) => {
        add(records);
        // Counted as what it held from now on.
        this.pendingEvents -= events - handed;
        answer.events = handed;
        end({ committed: parts.end(records), usage: joinUsage(usages) });
        return answered;
      },
      abort: () => {
        parts.abort();
        end('aborted');
      },
    };
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const { waiters, committed, usage } = this.startCommit();
    if (this.pending.length > 0) this.scheduleFlush();
    await this.committed(waiters, committed, usage);
  }

  /** Answers the waiters once their commit is done, in their order, and counts it. */
  private async committed(waiters: readonly Waiter[], committed: Promise<boolean[]>, usage: BatchUsage): Promise<void> {
    const events = waiters.reduce((sum, w) => sum + w.events, 0);
    const started = performance.now();
    try {
      const inserted = await telemetry.withSpan('tokentally.flush', { 'tokentally.flush.events': events }, () => committed);
      this.lastError = null;
      telemetry.recordCommitted(usage, inserted);
      let offset = 0;
      for (const w of waiters) {
        w.resolve(inserted.slice(offset, offset + w.events));
        offset += w.events;
      }
    } catch (error) {
      const failure = storageUnavailable('events not stored', error);
      for (const w of waiters) w.reject(failure);
    } finally {
      this.pendingEvents -= events;
      for (const w of waiters) this.pendingBytes -= w.bytes;
      telemetry.recordFlush(events, (performance.now() - started) / 1000);
    }
  }

  /**
   * Takes the next batch and hands it to the store; synchronous, so that its records are not kept
   * while it commits: held that long, they would reach V8's old generation (docs/benchmarks.md).
   */
  private startCommit(): { waiters: Waiter[]; committed: Promise<boolean[]>; usage: BatchUsage } {
    const batch = this.takeBatch();
    const records = batch.length === 1 ? batch[0]!.records : batch.flatMap((p) => p.records);
    const usage = telemetry.usageOf(records);
    return { waiters: batch.map((p) => p.waiter), committed: this.store.insertBatch(records, this.retry, mergeExtras(batch)), usage };
  }
}

/** The extras of a batch's requests, as one (outbox entries in request order). */
function mergeExtras(batch: readonly Pending[]): BatchExtras | undefined {
  const withExtras = batch.flatMap((p) => (p.extras ? [p.extras] : []));
  if (withExtras.length === 0) return undefined;
  const metricStreams = withExtras.flatMap((e) => e.metricStreams ?? []);
  const outbox = withExtras.flatMap((e) => e.outbox ?? []);
  return { ...(metricStreams.length > 0 && { metricStreams }), ...(outbox.length > 0 && { outbox }) };
}

/** A metric stream's move in memory, a rough upper bound: its key, resource and counts. */
const STREAM_MOVE_BYTES = 200;

function extrasBytes(extras: BatchExtras | undefined): number {
  return (extras?.outbox?.reduce((sum, e) => sum + e.body.byteLength, 0) ?? 0) + (extras?.metricStreams?.length ?? 0) * STREAM_MOVE_BYTES;
}

/**
 * Fixed per-record overhead plus its strings (UTF-16 in memory), a cheap upper-bound estimate. Read
 * by name: `Object.values` built an array of 23 values a record on the main thread.
 */
function recordBytes(r: UsageRecord): number {
  const chars = r.id.length + r.project.length + r.agent_id.length + r.model.length + r.provider.length + r.operation.length
    + r.task_label.length + r.run_id.length + r.step_id.length + r.session_id.length + r.user_id.length
    + r.cost_source.length + r.status.length + (r.attributes?.length ?? 0);
  return 400 + 2 * chars;
}
