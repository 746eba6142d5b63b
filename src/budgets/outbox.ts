import { excerpt } from '../excerpt.js';
import { FailureLog } from '../failure-log.js';
import type { Store } from '../store/types.js';
import { telemetry } from '../telemetry.js';
import { failureMessage, send } from './notification.js';
import type { Delivery, DeliveryOutcome } from './store.js';

export interface SenderOptions {
  /** Attempts per delivery before it has failed for good (BUDGET_NOTIFY_ATTEMPTS). */
  maxAttempts: number;
  /** Per attempt (BUDGET_NOTIFY_TIMEOUT_MS). */
  timeoutMs: number;
  /** How often the outbox is looked at when nothing woke the sender. */
  pollMs: number;
  now: () => number;
}

/** Deliveries leased per round; each round sends them at once. */
const CLAIM_LIMIT = 20;
const MAX_BACKOFF_MS = 5 * 60_000;

/** Wait before attempt n + 1 after n failed ones: 1 s, 2 s, 4 s, ... up to 5 minutes. */
export function backoffMs(failedAttempts: number): number {
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failedAttempts - 1));
}

/**
 * Sends the budget notification outbox. Every collector runs one; a delivery is leased by the one
 * that claims it first, for longer than an attempt can take, so it is sent once unless that
 * collector dies mid-send (then again after the lease, with the same delivery id). Failures never
 * reach ingestion: they are retried with backoff, then reported (metrics, /readyz).
 */
export class DeliverySender {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private again = false;
  private stopped = false;
  private readonly failures = new FailureLog('budget notifications: reading the outbox');

  constructor(private readonly store: Store, private readonly options: SenderOptions) {}

  start(): void {
    this.schedule(0);
  }

  /** Looks at the outbox now (the evaluator enqueued something). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.failures.follow(this.round())
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule(this.again ? 0 : this.options.pollMs);
          this.again = false;
        });
    }, ms);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    for (;;) {
      const now = this.options.now();
      const due = await this.store.budgets.claimDeliveries(now, now + 2 * this.options.timeoutMs + 10_000, CLAIM_LIMIT);
      if (due.length === 0) break;
      await Promise.all(due.map((d) => this.attempt(d)));
      if (this.stopped) break;
    }
    telemetry.recordFailingTargets((await this.store.budgets.failingTargets()).length);
  }

  private async attempt(delivery: Delivery): Promise<void> {
    let outcome: DeliveryOutcome;
    try {
      await send(delivery, this.options.timeoutMs);
      outcome = { delivered: true, at: this.options.now() };
    } catch (error) {
      const failed = delivery.attempts + 1;
      const at = this.options.now();
      const why = excerpt(failureMessage(error), 200);
      outcome = { delivered: false, at, error: why, retryAt: failed >= this.options.maxAttempts ? null : at + backoffMs(failed) };
      if (outcome.retryAt === null) console.error(`budget notifications: ${delivery.target_key} failed ${failed} times, giving up on delivery ${delivery.delivery_id}: ${why}`);
    }
    telemetry.recordNotification(outcome.delivered ? 'delivered' : outcome.retryAt === null ? 'failed' : 'retried');
    await this.store.budgets.finishDelivery(delivery.seq, outcome);
  }
}
