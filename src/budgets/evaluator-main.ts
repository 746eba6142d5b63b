import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import { FailureLog } from '../failure-log.js';
import { nanosToUsd } from '../event/normalise.js';
import { PACKAGE_ROOT } from '../paths.js';
import { telemetry } from '../telemetry.js';
import { startWorker, workerError } from '../threads.js';
import type { EvaluatorMessage, EvaluatorThreadData } from './evaluator-thread.js';
import type { BudgetStatus } from './status.js';
import type { BudgetStore } from './store.js';

/** Compiled JavaScript: the sibling file when this module is built, the build's copy when it runs from source (the tests build first). */
const THREAD_SCRIPT = (() => {
  const sibling = fileURLToPath(new URL('./evaluator-thread.js', import.meta.url));
  return existsSync(sibling) ? sibling : join(PACKAGE_ROOT, 'dist', 'src', 'budgets', 'evaluator-thread.js');
})();

const EVALUATOR = 'the budget evaluator thread';
/** The longest wait before a new evaluator thread, after several ended on their own one after another. */
const RESTART_MAX_MS = 60_000;

/**
 * The collector's side of the evaluator thread: keeps the last statuses for /v1/budgets/check (an
 * answer from memory, the event loop never waiting on a budget's reads), sets the budget gauges and
 * wakes the sender when a crossing enqueued notifications. The thread (an isolate and a connection
 * of its own, about 20 MB) starts once a budget exists: until then every BUDGET_EVALUATE_MS the
 * main thread only looks whether one does, which with none reads an empty table.
 */
export class EvaluatorThread {
  private cache: readonly BudgetStatus[] = [];
  /** What a check waits for: the first look at the budgets, then a new thread's first evaluation. */
  private first!: Promise<void>;
  private releaseFirst!: () => void;
  private awaitingFirst = false;
  private worker: Worker | undefined;
  private watching: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly listing = new FailureLog('budgets: listing budgets');
  private readonly crashes = new FailureLog('budgets: the evaluator thread');
  /** Threads that ended on their own since the last evaluation. */
  private restarts = 0;
  /** Whether the statuses are known: there were no budgets, or a thread has evaluated them. */
  private known = false;

  constructor(private readonly config: Config, private readonly budgets: BudgetStore, private readonly onEnqueued: () => void) {
    this.expectFirst();
  }

  start(): void {
    this.watch(0);
  }

  private watch(ms: number): void {
    this.watching = setTimeout(() => {
      this.budgets.list().then(
        (budgets) => {
          if (this.stopped) return;
          this.listing.succeeded();
          if (budgets.length > 0) {
            // "No budgets" no longer holds; the statuses a thread left still answer until a new one evaluates.
            this.known &&= this.cache.length > 0;
            return this.startThread();
          }
          this.cache = [];
          this.known = true;
          this.resolveFirst();
          this.watch(this.config.BUDGET_EVALUATE_MS);
        },
        (error: unknown) => {
          if (this.stopped) return;
          this.listing.failed(error);
          this.resolveFirst();
          this.watch(this.config.BUDGET_EVALUATE_MS);
        },
      );
    }, ms);
    this.watching.unref();
  }

  private startThread(): void {
    // A check from now on waits for the thread's first evaluation rather than answer "no budgets";
    // after a thread that ended, the statuses it left answer meanwhile.
    if (this.restarts === 0) this.expectFirst();
    const data: EvaluatorThreadData = { config: this.config, intervalMs: this.config.BUDGET_EVALUATE_MS };
    let worker: Worker;
    try {
      worker = this.worker = startWorker(EVALUATOR, THREAD_SCRIPT, { workerData: data });
    } catch (error) {
      return this.ended(error);
    }
    worker.unref();
    let failure: unknown;
    worker.on('message', (message: EvaluatorMessage) => {
      if (message.kind === 'enqueued') return this.onEnqueued();
      if (message.statuses) {
        this.cache = message.statuses;
        telemetry.recordBudgets(message.statuses.map((s) => ({ id: s.budget.id, spentUsd: nanosToUsd(s.spent_nanos), limitUsd: nanosToUsd(s.budget.limit_nanos) })));
        telemetry.recordBudgetEvaluation();
        this.known = true;
        this.restarts = 0;
        this.crashes.succeeded();
      }
      this.resolveFirst();
    });
    worker.on('error', (error) => (failure = workerError(EVALUATOR, error)));
    worker.on('exit', (code) => {
      if (this.stopped) return;
      // Ended on its own (it failed): without a new one, budgets would be evaluated no more, and
      // stop() would wait for an exit already past.
      this.worker = undefined;
      this.ended(failure ?? `it ended with exit code ${code}`);
    });
  }

  /** A thread that ended on its own, or that the system refused to start: another later, less often while they keep failing. */
  private ended(cause: unknown): void {
    this.crashes.failed(cause);
    this.resolveFirst();
    this.watch(Math.min(RESTART_MAX_MS, this.config.BUDGET_EVALUATE_MS * 2 ** this.restarts++));
  }

  /** From now on checks wait; those already waiting go on waiting for the same answer. */
  private expectFirst(): void {
    if (this.awaitingFirst) return;
    this.awaitingFirst = true;
    this.first = new Promise((resolve) => (this.releaseFirst = resolve));
  }

  private resolveFirst(): void {
    this.awaitingFirst = false;
    this.releaseFirst();
  }

  /**
   * The last evaluation's statuses; waits for the first one after start. Null while they are not
   * known (the budgets could not be listed, or no thread has evaluated them yet): "no budgets, all
   * is well" would then be a guess.
   */
  async statuses(): Promise<readonly BudgetStatus[] | null> {
    await this.first;
    return this.known ? this.cache : null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.watching);
    const worker = this.worker;
    this.resolveFirst();
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('stop');
    await exited;
  }
}
