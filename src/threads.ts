import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The code of a thread the system refused to start. */
export const THREAD_NOT_STARTED = 'THREAD_NOT_STARTED';

/**
 * The codes of a thread that could not be set up: Node's own (the system refused the thread, EAGAIN,
 * or the file descriptors of its event loop, EMFILE), and out of file descriptors for its script.
 */
const NOT_STARTED = new Set(['ERR_WORKER_INIT_FAILED', 'EMFILE', 'ENFILE']);

/** The limit each error's words point to; none for the others (Node's isolate not made, out of memory). */
const LIMITS: [RegExp, string][] = [
  [/\bEAGAIN\b/, "a container's pids limit or ulimit -u"],
  [/\bEMFILE\b/, 'the limit of open files (ulimit -n)'],
  [/\bENFILE\b/, "the system's limit of open files (fs.file-max)"],
];

/**
 * A worker thread for `what`. Node throws, rather than emits, when the system refuses the thread
 * (EAGAIN at a container's pids limit or `ulimit -u`): its bare "EAGAIN" becomes an error that says
 * what could not start and why, so that the caller answers 503 and tries again later instead of the
 * throw ending the process from an event handler.
 */
export function startWorker(what: string, script: string, options: WorkerOptions): Worker {
  try {
    return new Worker(script, options);
  } catch (error) {
    throw workerError(what, error as Error);
  }
}

/**
 * The error a worker for `what` reported (its 'error' event), or threw as it was made: one that could
 * not be set up is THREAD_NOT_STARTED, saying why (out of file descriptors, it fails after the start,
 * as an event); any other is left as it is.
 */
export function workerError(what: string, error: Error): Error {
  // Any other (an option Node refuses, data it cannot clone, the thread's own failure) is not a limit.
  if (!NOT_STARTED.has((error as { code?: unknown } | null)?.code as string)) return error;
  const limit = LIMITS.find(([words]) => words.test(error.message))?.[1];
  return Object.assign(new Error(`could not start ${what}: the system refused it (${error.message})${limit ? `, as at ${limit}` : ''}`), {
    code: THREAD_NOT_STARTED, cause: error,
  });
}

/**
 * What the work a worker had in hand fails with once it exits: a failure to set it up as
 * `workerError` words it, else `<stopped>: <the error it reported, or "it exited">` with that
 * error's code (SQLITE_CANTOPEN: a 503, as the database's own errors are).
 */
export function exitFailure(worker: Worker, what: string, stopped: string): () => Error {
  let reported: Error | undefined;
  worker.on('error', (error) => (reported = error));
  return () => {
    const refused = reported && workerError(what, reported);
    if (refused && refused !== reported) return refused;
    const code = (reported as { code?: unknown } | undefined)?.code;
    return Object.assign(new Error(`${stopped}: ${reported?.message ?? 'it exited'}`), code === undefined ? {} : { code });
  };
}
