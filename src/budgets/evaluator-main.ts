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

/** Compiled JavaScript: the sibling file when this module is built, the build's copy when it runs from source (the tests build first). */
const THREAD_SCRIPT = (() => {
  const sibling = fileURLToPath(new URL('./evaluator-thread.js', import.meta.url));
  return existsSync(sibling) ? sibling : join(PACKAGE_ROOT, 'dist', 'src', 'budgets', 'evaluator-thread.js');
})();

/**
 * The collector's side of the evaluator thread: keeps the last statuses for /v1/budgets/check (an
 * answer from memory, the event loop never waiting on a budget's reads), sets the budget gauges and
 * wakes the sender when a crossing enqueued notifications.
 */
export class EvaluatorThread {
  private cache: readonly BudgetStatus[] = [];
  private readonly first: Promise<void>;
  private resolveFirst!: () => void;
  private worker: Worker | undefined;

  constructor(private readonly config: Config, private readonly onEnqueued: () => void) {
    this.first = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  start(): void {
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
    const worker = this.worker;
    this.resolveFirst();
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('stop');
    await exited;
  }
}
