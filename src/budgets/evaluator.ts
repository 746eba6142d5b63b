import { FailureLog } from '../failure-log.js';
import type { Store } from '../store/types.js';
import { deliveriesFor } from './notification.js';
import type { Budget } from './schema.js';
import { evaluate, isCrossed, type BudgetStatus } from './status.js';

export interface EvaluatorOptions {
  /** Between the end of one evaluation and the start of the next (BUDGET_EVALUATE_MS). */
  intervalMs: number;
  now: () => number;
  /** Told when something was enqueued, after `onEvaluated` is told the statuses that enqueued it. */
  onEnqueued: () => void;
  /** Told every evaluation's statuses, or null when one failed (it is logged, and tried again at the next tick). */
  onEvaluated: (statuses: readonly BudgetStatus[] | null) => void;
}

/**
 * The collector's budget loop: every few seconds it evaluates every budget (spend and forecast of
 * the current window), keeps the answers for /v1/budgets/check and the gauges, and records the
 * thresholds newly crossed with their notifications. On PostgreSQL only the collector holding the
 * alert lock records crossings; the others evaluate for their own cache. A crossing is a row with
 * a unique key, so even two evaluations racing on one SQLite file alert once.
 */
export class BudgetEvaluator {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly failures = new FailureLog('budgets: evaluation');

  constructor(private readonly store: Store, private readonly options: EvaluatorOptions) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Evaluates now; what a tick does. */
  async evaluateAll(): Promise<void> {
    const budgets = await this.store.budgets.list();
    const alerted = await this.store.budgets.whileAlerting(() => this.evaluateBudgets(budgets, true));
    const { statuses, enqueued } = alerted ?? (await this.evaluateBudgets(budgets, false));
    // The statuses first: a check made once a notification has come says the state it announced.
    this.options.onEvaluated(statuses);
    if (enqueued) this.options.onEnqueued();
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.running = this.failures.follow(this.evaluateAll())
        .then((evaluated) => {
          if (!evaluated) this.options.onEvaluated(null);
        })
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule(this.options.intervalMs);
        });
    }, ms);
    this.timer.unref();
  }

  private async evaluateBudgets(budgets: readonly Budget[], alerting: boolean): Promise<{ statuses: BudgetStatus[]; enqueued: boolean }> {
    const statuses: BudgetStatus[] = [];
    let enqueued = false;
    for (const budget of budgets) {
      const now = this.options.now();
      const status = await evaluate(this.store, budget, now);
      statuses.push(status);
      if (!alerting || status.archived) continue;
      enqueued = (await this.syncCrossings(status, now)) || enqueued;
    }
    return { statuses, enqueued };
  }

  /**
   * Records the thresholds the spend is now at or past and the window does not hold yet (each with
   * its notifications), and forgets those it fell back below (a reprice lowered it). True when
   * something was enqueued.
   */
  private async syncCrossings(status: BudgetStatus, now: number): Promise<boolean> {
    const { budget, window } = status;
    const crossedNow = budget.thresholds.filter((t) => isCrossed(status.spent_nanos, budget.limit_nanos, t));
    const recorded = new Set(status.crossings.map((c) => c.threshold));
    const fellBelow = [...recorded].filter((t) => !crossedNow.includes(t));
    await this.store.budgets.clearCrossings(budget.id, window.key, fellBelow);
    status.crossings = status.crossings.filter((c) => !fellBelow.includes(c.threshold));
    let enqueued = false;
    for (const threshold of crossedNow.filter((t) => !recorded.has(t))) {
      const crossing = { threshold, crossed_at: now, spend_nanos: status.spent_nanos };
      if (await this.store.budgets.recordCrossing(budget.id, window.key, crossing, deliveriesFor('budget.threshold_crossed', status, threshold, now), now)) {
        status.crossings.push(crossing);
        enqueued ||= budget.targets.length > 0;
      }
    }
    return enqueued;
  }
}
