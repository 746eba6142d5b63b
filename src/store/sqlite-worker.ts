/**
 * The SQLite store's helper threads, each with its own connection to the database file:
 * - `insert` commits batches of events, so the SQLite work of one batch runs beside the HTTP,
 *   parsing and validation of the next requests instead of taking turns with them on one thread;
 * - `checkpoint` copies committed WAL frames into the database file after the commits (at most every
 *   CHECKPOINT_INTERVAL_MS), so no commit waits for a checkpoint (SQLite's automatic one runs inside
 *   the commit that crosses it);
 * - `read` (a few of them) runs reports and lists on a read-only connection, so a query over millions
 *   of rows or 100,000 projects never holds the event loop (issue 17: no request may hold it for more
 *   than ~50 ms); in WAL mode readers and the writer never wait for each other.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { UsageRecord } from '../event/schema.js';
import { retrying } from './retry.js';
import { batchInserter, openSqlite, outboxWriter, type OutboxWrite, type OutboxWritten, type SqliteOptions } from './sqlite-connection.js';
import { READ_CACHE_KIB, sqliteReads, type ReadName, type SqliteReads } from './sqlite-reads.js';
import type { BatchExtras } from './types.js';

export interface WorkerData {
  role: 'insert' | 'checkpoint' | 'read';
  file: string;
  options: SqliteOptions;
}

export type InsertRequest =
  | { id: number; records: UsageRecord[]; extras?: BatchExtras; retryForMs: number }
  | { id: number; outbox: OutboxWrite; retryForMs: number }
  | 'close';
export interface ThreadError {
  message: string;
  code?: string;
}
/** `failed`: an attempt failed (told of each); `error`: no attempt is left, the batch is not stored. */
export type InsertReply =
  | { id: number; inserted: boolean[] } | { id: number; wrote: OutboxWritten } | { id: number; failed: ThreadError } | { id: number; error: ThreadError };
export type CheckpointRequest = 'checkpoint' | 'close';
export type ReadRequest = { [R in ReadName]: { id: number; read: R; query: Parameters<SqliteReads[R]>[0] } }[ReadName] | 'close';
export type ReadReply = { id: number; result: ReturnType<SqliteReads[ReadName]> } | { id: number; error: ThreadError };

/**
 * The insert thread checkpoints by itself once the WAL holds this many pages (4 KiB each). SQLite
 * starts the WAL over only when a write transaction begins with every frame already copied; under
 * sustained load the next batch begins before the checkpoint thread is done, so the WAL grows to
 * this size, and this checkpoint, with little left to copy, lets the next batch start it over.
 */
const BACKSTOP_PAGES = 10_000;

/**
 * The checkpoint thread copies the WAL into the database file at most this often, each time
 * everything committed since. A checkpoint per commit would cost each small commit two more fsyncs
 * (the checkpoint's, of the WAL and the database file, on the same disk as the next commit's) and
 * a third inside the next commit: a fully copied WAL starts over, and SQLite syncs its new header
 * before the commit's frames (docs/benchmarks.md, session 8).
 */
const CHECKPOINT_INTERVAL_MS = 200;

const { role, file, options } = workerData as WorkerData;
const port = parentPort!;
const db = openSqlite(file, options, role === 'read');

if (role === 'read') {
  db.pragma(`cache_size = -${READ_CACHE_KIB}`);
  const reads = sqliteReads(db);
  port.on('message', (request: ReadRequest) => {
    if (request === 'close') return close();
    try {
      port.postMessage({ id: request.id, result: (reads[request.read] as (query: unknown) => ReturnType<SqliteReads[ReadName]>)(request.query) } satisfies ReadReply);
    } catch (error) {
      port.postMessage({ id: request.id, error: toThreadError(error as Error) } satisfies ReadReply);
    }
  });
} else if (role === 'insert') {
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  let insert: ReturnType<typeof batchInserter> | undefined;
  let writeOutbox: ReturnType<typeof outboxWriter> | undefined;
  // One request at a time, in the order sent: a batch waiting to be retried holds back those behind it.
  let turn = Promise.resolve();
  port.on('message', (request: InsertRequest) => {
    turn = turn.then(() => (request === 'close' ? close() : insertRetrying(request)));
  });
  async function insertRetrying(request: Exclude<InsertRequest, 'close'>): Promise<void> {
    const { id, retryForMs } = request;
    const retry = { forMs: retryForMs, onFailure: (error: Error) => port.postMessage({ id, failed: toThreadError(error) } satisfies InsertReply) };
    try {
      port.postMessage((
        'outbox' in request
          ? { id, wrote: await retrying(retry, () => (writeOutbox ??= outboxWriter(db))(request.outbox)) }
          : { id, inserted: await retrying(retry, () => (insert ??= batchInserter(db))(request.records, request.extras)) }
      ) satisfies InsertReply);
    } catch (error) {
      port.postMessage({ id, error: toThreadError(error as Error) } satisfies InsertReply);
    }
  }
} else {
  db.pragma('wal_autocheckpoint = 0');
  let lastCheckpoint = -Infinity;
  let due: NodeJS.Timeout | undefined;
  const checkpoint = () => {
    due = undefined;
    lastCheckpoint = performance.now();
    // PASSIVE never waits for readers or the writer; what it cannot copy now, the next one does.
    // A failure is left to the next checkpoint or the backstop: the commits themselves, and their
    // errors, never depend on it.
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {}
  };
  port.on('message', (request: CheckpointRequest) => {
    if (request === 'close') {
      clearTimeout(due);
      return close();
    }
    if (due) return;
    const wait = lastCheckpoint + CHECKPOINT_INTERVAL_MS - performance.now();
    if (wait <= 0) checkpoint();
    else due = setTimeout(checkpoint, wait);
  });
}

function toThreadError(error: Error): ThreadError {
  const { code } = error as { code?: unknown };
  return { message: error.message, ...(typeof code === 'string' ? { code } : {}) };
}

function close(): void {
  db.close();
  port.close();
}
