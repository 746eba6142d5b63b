import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The code of a thread the system refused to start. */
export const THREAD_NOT_STARTED = 'THREAD_NOT_STARTED';

/**
 * A worker thread for `what`. Node throws, rather than emits, when the system refuses the thread
 * (ERR_WORKER_INIT_FAILED, EAGAIN at a container's pids limit or `ulimit -u`): its bare "EAGAIN"
 * becomes an error that says what could not start and why, so that the caller answers 503 and
 * tries again later instead of the throw ending the process from an event handler.
 */
export function startWorker(what: string, script: string, options: WorkerOptions): Worker {
  try {
    return new Worker(script, options);
  } catch (error) {
    // Any other throw (an option Node refuses, data it cannot clone) is a fault of ours, not a limit.
    if ((error as { code?: unknown }).code !== 'ERR_WORKER_INIT_FAILED') throw error;
    throw Object.assign(new Error(`could not start ${what}: the system refused it (${(error as Error).message}), as at a container's pids limit or ulimit -u`), {
      code: THREAD_NOT_STARTED, cause: error,
    });
  }
}
