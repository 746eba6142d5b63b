import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import { nanosToUsd } from '../event/normalise.js';
import { PACKAGE_ROOT } from '../paths.js';
import { telemetry } from '../telemetry.js';
import type { EvaluatorMessage, EvaluatorThreadData } from './evaluator-thread.js';
import type { BudgetStatus } from './status.js';
import type { BudgetStore } from './store.js';

/** Compiled JavaScript: the sibling file when this module is built, the build's copy when it runs from source (the tests build first). */
const THREAD_SCRIPT = (() => {
  const sibling = fileURLToPath(new URL('./evaluator-thread.js', import.meta.url));
  return existsSync(sibling) ? sibling : join(PACKAGE_ROOT, 'dist', 'src', 'budgets', 'evaluator-thread.js');
})();

/**
 * The collector's side of the evaluator thread: keeps the last statuses for /v1/budgets/check (an
 * answer from memory, the event loop never waiting on a budget's reads), sets the budget gauges and
 * wakes the sender when a crossing enqueued notifications. The thread (an isolate and a connection
 * of its own, about 20 MB) starts once a budget exists: until then every BUDGET_EVALUATE_MS the
 * main thread only looks whether one does, which with none reads an empty table.
 */
export class EvaluatorThread {
  private cache: readonly BudgetStatus[] = [];
  private first: Promise<void>;
  private resolveFirst!: () => void;
  private worker: Worker | undefined;
  private watching: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly config: Config, private readonly budgets: BudgetStore, private readonly onEnqueued: () => void) {
    this.first = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  start(): void {
    this.watch(0);
  }

  private watch(ms: number): void {
    this.watching = setTimeout(() => {
      this.budgets.list().then(
        (budgets) => {
          if (this.stopped) return;
          if (budgets.length > 0) return this.startThread();
          this.resolveFirst();
          this.watch(this.config.BUDGET_EVALUATE_MS);
        },
        (error: unknown) => {
          if (this.stopped) return;
          console.error('budgets: listing budgets failed, will try again:', error);
          this.resolveFirst();
          this.watch(this.config.BUDGET_EVALUATE_MS);
        },
      );
    }, ms);
    this.watching.unref();
  }

  private startThread(): void {
    // A check from now on waits for the thread's first evaluation rather than answer "no budgets".
    this.first = new Promise((resolve) => (this.resolveFirst = resolve));
    const data: EvaluatorThreadData = { config: this.config, intervalMs: this.config.BUDGET_EVALUATE_MS };
    const worker = (this.worker = new Worker(THREAD_SCRIPT, { workerData: data }));
    worker.unref();
    worker.on('message', (message: EvaluatorMessage) => {
      if (message.kind === 'enqueued') return this.onEnqueued();
      if (message.statuses) {
        this.cache = message.statuses;
        telemetry.recordBudgets(message.statuses.map((s) => ({ id: s.budget.id, spentUsd: nanosToUsd(s.spent_nanos), limitUsd: nanosToUsd(s.budget.limit_nanos) })));
        telemetry.recordBudgetEvaluation();
      }
      this.resolveFirst();
    });
    worker.on('error', (error) => {
      console.error('budgets: the evaluator thread failed; budgets are no longer evaluated:', error);
      this.resolveFirst();
    });
  }

  /** The last evaluation's statuses; waits for the first one after start. */
  async statuses(): Promise<readonly BudgetStatus[]> {
    await this.first;
    return this.cache;
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
