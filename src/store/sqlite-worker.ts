/**
 * The SQLite store's two helper threads, each with its own connection to the database file:
 * - `insert` commits batches of events, so the SQLite work of one batch runs beside the HTTP,
 *   parsing and validation of the next requests instead of taking turns with them on one thread;
 * - `checkpoint` copies committed WAL frames into the database file after each commit, so no
 *   commit waits for a checkpoint (SQLite's automatic one runs inside the commit that crosses it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { UsageRecord } from '../event/schema.js';
import { batchInserter, openSqlite, type SqliteOptions } from './sqlite-connection.js';

export interface WorkerData {
  role: 'insert' | 'checkpoint';
  file: string;
  options: SqliteOptions;
}

export type InsertRequest = { id: number; records: UsageRecord[] } | 'close';
export type InsertReply = { id: number; inserted: boolean[] } | { id: number; error: { message: string; code?: string } };
export type CheckpointRequest = 'checkpoint' | 'close';

/**
 * The insert thread checkpoints by itself once the WAL holds this many pages (4 KiB each). SQLite
 * starts the WAL over only when a write transaction begins with every frame already copied; under
 * sustained load the next batch begins before the checkpoint thread is done, so the WAL grows to
 * this size, and this checkpoint, with little left to copy, lets the next batch start it over.
 */
const BACKSTOP_PAGES = 10_000;

const { role, file, options } = workerData as WorkerData;
const port = parentPort!;
const db = openSqlite(file, options);

if (role === 'insert') {
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  let insert: ReturnType<typeof batchInserter> | undefined;
  port.on('message', (request: InsertRequest) => {
    if (request === 'close') return close();
    try {
      insert ??= batchInserter(db);
      port.postMessage({ id: request.id, inserted: insert(request.records) } satisfies InsertReply);
    } catch (error) {
      const { message, code } = error as { message: string; code?: string };
      port.postMessage({ id: request.id, error: { message, ...(typeof code === 'string' ? { code } : {}) } } satisfies InsertReply);
    }
  });
} else {
  db.pragma('wal_autocheckpoint = 0');
  port.on('message', (request: CheckpointRequest) => {
    if (request === 'close') return close();
    // PASSIVE never waits for readers or the writer; what it cannot copy now, the next one does.
    // A failure is left to the next commit's checkpoint or the backstop: the commits themselves,
    // and their errors, never depend on it.
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {}
  });
}

function close(): void {
  db.close();
  port.close();
}
