import type { Worker } from 'node:worker_threads';
import type { SqliteOptions } from './sqlite-connection.js';
import { joinAnswer } from './read-pieces.js';
import type { ReadName, SqliteReads } from './sqlite-reads.js';
import { fromThread, startThread } from './sqlite-thread-start.js';
import { exitFailure } from '../threads.js';
import type { ReadReply, ReadRequest } from './sqlite-worker.js';

/**
 * Read threads: two, as this machine has two cores, so one long report (seconds over millions of
 * raw events) leaves the other thread to the short ones.
 */
const READ_THREADS = 2;

interface ReadThread {
  worker: Worker;
  /** Who waits for the read in hand, if any: a thread is given one at a time. */
  reading: Pick<QueuedRead, 'resolve' | 'reject'> | undefined;
}

interface QueuedRead {
  request: Exclude<ReadRequest, 'close'>;
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/**
 * The main thread's side of the read threads (see sqlite-worker.ts). Reads wait here, in the order
 * asked, and each goes to the first thread free: a running one with nothing in hand, else a new one
 * while there is room. A read handed to a busy thread waited behind whatever it had in hand, a long
 * report included, while the other thread might be free long before (docs/benchmarks.md, "Rollup
 * report latency, session 19"). One client asking in turn is served by one thread. A thread that
 * dies fails its read, its slot filled again for the next. Once closed, new reads are refused; those
 * already asked are answered first.
 */
export class SqliteReadThreads {
  private readonly threads: (ReadThread | undefined)[] = Array.from({ length: READ_THREADS }, () => undefined);
  private readonly queued: QueuedRead[] = [];
  private nextId = 0;
  private closed = false;
  /** Resolves close() once the queue is empty. */
  private drained: (() => void) | undefined;

  constructor(
    private readonly file: string,
    private readonly options: SqliteOptions,
  ) {}

  read<R extends ReadName>(read: R, query: Parameters<SqliteReads[R]>[0]): Promise<ReturnType<SqliteReads[R]>> {
    if (this.closed) return Promise.reject(new Error('the SQLite store is closed'));
    return new Promise((resolve, reject) => {
      this.queued.push({ request: { id: this.nextId++, read, query } as Exclude<ReadRequest, 'close'>, resolve: resolve as (result: unknown) => void, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.queued.length > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await Promise.all(this.threads.map(async (thread) => {
      if (!thread) return;
      const exited = new Promise((resolve) => thread.worker.once('exit', resolve));
      thread.worker.ref();
      thread.worker.postMessage('close' satisfies ReadRequest);
      await exited;
    }));
  }

  /** Hands the reads that wait to the threads free, starting threads while there is room. */
  private dispatch(): void {
    while (this.queued.length > 0) {
      const thread = this.threads.find((t) => t !== undefined && t.reading === undefined) ?? this.startInFreeSlot();
      if (!thread) break;
      const { request, resolve, reject } = this.queued.shift()!;
      thread.reading = { resolve, reject };
      // Only a thread with a read in hand keeps the process alive.
      thread.worker.ref();
      thread.worker.postMessage(request);
    }
    if (this.queued.length === 0) this.drained?.();
  }

  /**
   * A new thread in a free slot, if there is one. When the system refuses it, the reads wait for a
   * thread that runs; with none running, they fail (503) rather than wait for one that may never come.
   */
  private startInFreeSlot(): ReadThread | undefined {
    const slot = this.threads.indexOf(undefined);
    if (slot === -1) return undefined;
    try {
      return (this.threads[slot] = this.startReadThread(slot));
    } catch (error) {
      if (this.threads.every((t) => t === undefined)) for (const { reject } of this.queued.splice(0)) reject(error as Error);
      return undefined;
    }
  }

  private startReadThread(slot: number): ReadThread {
    const thread: ReadThread = { worker: startThread('read', this.file, this.options), reading: undefined };
    thread.worker.on('message', (reply: ReadReply) => {
      const reading = thread.reading!;
      thread.reading = undefined;
      this.dispatch();
      // Once closing, waiting for its exit keeps the process alive (see close).
      if (thread.reading === undefined && !this.closed) thread.worker.unref();
      if ('error' in reply) reading.reject(fromThread(reply.error));
      else reading.resolve(reply.pieces ? joinAnswer(reply.result, reply.pieces) : reply.result);
    });
    const exited = exitFailure(thread.worker, 'a SQLite read thread', 'a SQLite read thread stopped');
    thread.worker.on('exit', () => {
      if (this.threads[slot] === thread) this.threads[slot] = undefined;
      thread.reading?.reject(exited());
      thread.reading = undefined;
      this.dispatch();
    });
    return thread;
  }
}
