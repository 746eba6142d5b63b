import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config.js';
import { openStore } from '../store/open.js';
import { BudgetEvaluator } from './evaluator.js';
import type { BudgetStatus } from './status.js';

/** What the main thread starts the evaluator thread with. */
export interface EvaluatorThreadData {
  config: Config;
  intervalMs: number;
}

/** Messages from the thread: each evaluation's statuses (null: it failed), and that something was enqueued. */
export type EvaluatorMessage = { kind: 'evaluated'; statuses: readonly BudgetStatus[] | null } | { kind: 'enqueued' };

/**
 * The evaluator on a thread of its own, with its own connection: on SQLite its reads are
 * synchronous, and on the main thread they would hold up every request (the budget check included)
 * while they run. Told `stop`, it finishes the evaluation in hand, closes its store and ends.
 */
if (parentPort) {
  const port = parentPort;
  const { config, intervalMs } = workerData as EvaluatorThreadData;
  // Its writes (crossings) are few: no insert thread of its own; and its reads are already off the
  // main thread: no read threads (two more isolates) either.
  const store = openStore({ ...config, SQLITE_WRITE_THREADS: 'off' }, { readThreads: false });
  const evaluator = new BudgetEvaluator(store, {
    intervalMs, now: Date.now,
    onEnqueued: () => port.postMessage({ kind: 'enqueued' } satisfies EvaluatorMessage),
    onEvaluated: (statuses) => port.postMessage({ kind: 'evaluated', statuses } satisfies EvaluatorMessage),
  });
  port.on('message', (message: string) => {
    if (message !== 'stop') return;
    void evaluator.stop().then(() => store.close()).finally(() => port.close());
  });
  evaluator.start();
}
