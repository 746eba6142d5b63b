import { FailureLog } from '../../src/failure-log.js';
import { fitting } from '../../src/store/outbox.js';
import type { OutboxRow, OutboxTake, Store } from '../../src/store/types.js';
import type { ForwardConfig, Signal, SignalForward } from './config.js';
import { requestBody } from './encoding.js';
import { forwardMetrics } from './metrics.js';
import { createTransport, type Outcome, type Transport } from './transport.js';

/**
 * The background side of forwarding: one sender per signal takes the signal's oldest outbox rows,
 * sends them as one export, deletes them once the upstream has them (or refused them for good) and
 * backs off while it fails; a housekeeping tick bounds the outbox and refreshes the metrics. Nothing
 * here is on the ingest path: ingest only commits outbox rows (collector/otlp/receive.ts).
 */

/** What one export carries at most (a larger entry goes alone): small enough for any upstream's default request limit (4 MiB for gRPC). */
const EXPORT_BYTES = 1024 * 1024;
/**
 * What one round reads from the outbox: a few exports, sent one after the other and deleted together
 * in one transaction. It bounds the sender's memory (plus one entry larger than the rest).
 */
const TAKE: OutboxTake = { maxEntries: 512, maxBytes: 4 * EXPORT_BYTES };
/** While the upstream fails, a retry reads only what its first export needs. */
const RETRY_TAKE: OutboxTake = { maxEntries: 512, maxBytes: EXPORT_BYTES };
/** How often an idle sender looks for new rows, and a sender whose signal another collector holds looks again. */
const POLL_MS = 200;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** An upstream's Retry-After is honoured up to this. */
const RETRY_AFTER_MAX_MS = 5 * 60_000;
const HOUSEKEEPING_MS = 1_000;
/** Drops of full-outbox entries are summed in one log line per this long. */
const DROP_LOG_MS = 60_000;

export interface ForwardStatus {
  upstream: 'up' | 'down';
  /** Why the last export of a failing signal did not go through. */
  reason?: string;
  outbox_entries: number;
  outbox_bytes: number;
}

export class Forwarder {
  readonly signals: ReadonlySet<Signal>;
  private readonly transports = new Map<Signal, Transport>();
  private readonly stopping = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private housekeeping: NodeJS.Timeout | undefined;
  /** The failure of each signal whose last export failed. */
  private readonly failing = new Map<Signal, string>();
  private readonly refusalsLogged = new Set<string>();
  private readonly housekeepingFailures = new FailureLog('forward: outbox housekeeping');
  private size = { entries: 0, bytes: 0 };
  private unloggedDrops = { entries: 0, bytes: 0, since: 0 };

  constructor(
    private readonly store: Store,
    private readonly config: ForwardConfig,
  ) {
    for (const [signal, forward] of Object.entries(config.signals) as [Signal, SignalForward][]) this.transports.set(signal, createTransport(signal, forward));
    this.signals = new Set(this.transports.keys());
  }

  start(): void {
    for (const signal of this.signals) this.loops.push(this.send(signal));
    const tick = () => {
      this.housekeep().finally(() => {
        if (!this.stopping.signal.aborted) this.housekeeping = setTimeout(tick, HOUSEKEEPING_MS).unref();
      });
    };
    tick();
  }

  /** Stops the senders (an export in flight is aborted; its rows stay for the next start). */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.housekeeping);
    await Promise.all(this.loops);
    this.logDrops(true);
    for (const transport of this.transports.values()) transport.close();
  }

  status(): ForwardStatus {
    const reason = [...this.failing].map(([signal, why]) => `${signal}: ${why}`).join('; ');
    return { upstream: reason ? 'down' : 'up', ...(reason ? { reason } : {}), outbox_entries: this.size.entries, outbox_bytes: this.size.bytes };
  }

  private async send(signal: Signal): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      let outcome: Outcome | undefined;
      let handed: number | null = null;
      try {
        handed = await this.store.forwardOutbox(signal, failures > 0 ? RETRY_TAKE : TAKE, async (rows) => {
          let done = 0;
          for (const group of exportGroups(rows)) {
            outcome = await this.export(signal, group);
            if (!this.settle(signal, group.length, outcome)) break;
            done += group.length;
          }
          return done;
        });
      } catch (error) {
        // The database failed (the ingest path reports that itself): wait, then try again.
        outcome = { kind: 'retry', reason: `outbox unavailable: ${(error as Error).message}` };
      }
      if (outcome?.kind === 'retry') {
        this.failing.set(signal, outcome.reason);
        failures++;
        const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
        await this.sleep(outcome.afterMs === undefined ? backoff : Math.min(outcome.afterMs, RETRY_AFTER_MAX_MS));
        continue;
      }
      if (outcome) {
        failures = 0;
        this.failing.delete(signal);
      }
      // Nothing waiting, or another collector sends this signal now.
      if (!handed) await this.sleep(POLL_MS);
    }
  }

  private async export(signal: Signal, rows: OutboxRow[]): Promise<Outcome> {
    const transport = this.transports.get(signal)!;
    let body: readonly Buffer[];
    try {
      body = requestBody(signal, rows, transport.format, this.config.dropAttributes);
    } catch (error) {
      // Every entry was decoded once when it was accepted; one that no longer decodes would hold up its signal for ever.
      return { kind: 'refused', reason: 'undecodable', message: `an outbox entry could not be re-encoded: ${(error as Error).message}` };
    }
    return transport.send(body, this.stopping.signal);
  }

  /** Counts what an export did with its rows; true when they are done with (delivered or refused for good). */
  private settle(signal: Signal, rows: number, outcome: Outcome): boolean {
    switch (outcome.kind) {
      case 'delivered':
        forwardMetrics.forwarded.inc({ signal }, rows);
        return true;
      case 'retry':
        if (!this.stopping.signal.aborted) forwardMetrics.retries.inc({ signal });
        return false;
      case 'refused':
        forwardMetrics.dropped.inc({ signal, reason: outcome.reason }, rows);
        if (!this.refusalsLogged.has(outcome.reason)) {
          this.refusalsLogged.add(outcome.reason);
          console.error(`forward: the upstream refused ${rows} ${signal} entries for good and they were dropped (${outcome.message}); further refusals of this kind are counted in tokentally_forward_dropped_total{reason="${outcome.reason}"} without a log line`);
        }
        return true;
    }
  }

  /** Bounds the outbox (oldest first) and refreshes the gauges. */
  private async housekeep(): Promise<void> {
    try {
      const dropped = await this.store.trimOutbox(this.config.outboxMaxBytes);
      if (dropped.entries > 0) {
        forwardMetrics.dropped.inc({ signal: 'any', reason: 'outbox_full' }, dropped.entries);
        forwardMetrics.droppedBytes.inc({ reason: 'outbox_full' }, dropped.bytes);
        this.unloggedDrops.entries += dropped.entries;
        this.unloggedDrops.bytes += dropped.bytes;
      }
      this.logDrops(false);
      const size = await this.store.outboxSize();
      this.size = { entries: Number(size.entries), bytes: Number(size.bytes) };
      forwardMetrics.outboxEntries.set(this.size.entries);
      forwardMetrics.outboxBytes.set(this.size.bytes);
      forwardMetrics.oldestSeconds.set(size.oldest === null ? 0 : Math.max(0, (Date.now() - Number(size.oldest)) / 1000));
      this.housekeepingFailures.succeeded();
    } catch (error) {
      this.housekeepingFailures.failed(error);
    }
  }

  private logDrops(final: boolean): void {
    const drops = this.unloggedDrops;
    if (drops.entries === 0 || (!final && Date.now() - drops.since < DROP_LOG_MS)) return;
    console.error(`forward: the outbox was over FORWARD_OUTBOX_MAX_BYTES (${this.config.outboxMaxBytes} bytes), so its oldest ${drops.entries} entries (${drops.bytes} bytes) were dropped undelivered; usage events are never dropped`);
    this.unloggedDrops = { entries: 0, bytes: 0, since: Date.now() };
  }

  private sleep(ms: number): Promise<void> {
    const stop = this.stopping.signal;
    return new Promise((resolve) => {
      if (stop.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        stop.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      stop.addEventListener('abort', done);
    });
  }
}

/** Consecutive rows in groups of at most EXPORT_BYTES (a larger row alone), in order. */
function* exportGroups(rows: readonly OutboxRow[]): Generator<OutboxRow[]> {
  for (let first = 0; first < rows.length; ) {
    const count = fitting(rows.slice(first).map((row) => [row.seq, row.body.byteLength] as const), EXPORT_BYTES).length;
    yield rows.slice(first, first + count);
    first += count;
  }
}
