/** Starting the SQLite store's threads (sqlite-worker.ts): the write threads' and the read threads' alike. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { PACKAGE_ROOT } from '../paths.js';
import { startWorker } from '../threads.js';
import type { SqliteOptions } from './sqlite-connection.js';
import type { ThreadError, WorkerData } from './sqlite-worker.js';

/**
 * Threads run compiled JavaScript: the sibling file when this module is built, the build's copy
 * when it runs from its TypeScript source (the tests build first).
 */
const WORKER_SCRIPT = (() => {
  const sibling = fileURLToPath(new URL('./sqlite-worker.js', import.meta.url));
  return existsSync(sibling) ? sibling : join(PACKAGE_ROOT, 'dist', 'src', 'store', 'sqlite-worker.js');
})();

/**
 * The threads' young generation, in MB. Left to V8 the insert thread's grows large, as a batch in
 * hand outlives several collections; capped, the thread's heap stays small at the same events/s
 * (docs/benchmarks.md). A `--max-semi-space-size` given to the process overrides this (the service's
 * 8 MB semi-spaces make the same size).
 */
const YOUNG_GENERATION_MB = 16;

/** Throws (code THREAD_NOT_STARTED) when the system refuses the thread. */
export function startThread(role: WorkerData['role'], file: string, options: SqliteOptions, maxBatchEvents?: number): Worker {
  const thread = startWorker(`a SQLite ${role} thread`, WORKER_SCRIPT, {
    workerData: { role, file, options, ...(maxBatchEvents !== undefined && { maxBatchEvents }) } satisfies WorkerData,
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
  });
  // A thread's failure surfaces as its exit, which fails what it had in hand.
  thread.on('error', () => {});
  return thread;
}

/** An error a thread reported, as the Error it was there. */
export function fromThread({ message, code }: ThreadError): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}
