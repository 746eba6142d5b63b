/**
 * The SQLite store's helper threads, each with its own connection to the database file:
 * - `insert` commits batches of events, so the SQLite work of one batch runs beside the HTTP,
 *   parsing and validation of the next requests instead of taking turns with them on one thread;
 *   the batches that arrived while it committed go in together, in one transaction (group commit);
 * - `checkpoint` copies committed WAL frames into the database file after the commits (at most every
 *   200 ms, or 500 ms while commits follow one another: checkpoint-due.ts), so no commit waits for
 *   a checkpoint (SQLite's automatic one runs inside the commit that crosses it); after each, the
 *   insert thread copies, between two commits and when no write waits for it if it can, the few
 *   frames committed meanwhile, so that its next transaction starts the WAL over;
 * - `read` (a few of them) runs reports and lists on a read-only connection, so a query over millions
 *   of rows or 100,000 projects never holds the event loop (issue 17: no request may hold it for more
 *   than ~50 ms); in WAL mode readers and the writer never wait for each other.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { retrying } from './retry.js';
import { splitAnswer } from './read-pieces.js';
import { joinParts, PACKED, type PackedRows } from './packed-rows.js';
import { batchesInserter, openSqlite, outboxWriter, rowsInserter, type InsertBatch, type OutboxWrite, type OutboxWritten, type SqliteOptions } from './sqlite-connection.js';
import { assertSameFiles } from './sqlite-file-identity.js';
import { READ_CACHE_KIB, sqliteReads, type ReadName, type SqliteReads } from './sqlite-reads.js';
import type { BatchExtras } from './types.js';
import { checkpointDueAt, type CommitState } from './checkpoint-due.js';
import { copyTailNow } from './wal-tail-copy.js';

export interface WorkerData {
  role: 'insert' | 'checkpoint' | 'read';
  file: string;
  options: SqliteOptions;
  /** Events the insert thread commits in one transaction at most, over the batches it takes together. */
  maxBatchEvents?: number;
}

/**
 * An insert comes in one message, or in parts: its first message and each part after it say
 * `more` while parts follow, each with the next of its records packed with their own strings
 * (sqlite-threads.ts, packed-rows.ts); it is committed in one transaction once it has them all.
 * `dropped`: the rest of its parts will not come, the insert is abandoned.
 */
export type InsertRequest =
  | { id: number; records: PackedRows; extras?: BatchExtras; retryForMs: number; more?: true }
  | { id: number; part: PackedRows; more?: true }
  | { id: number; dropped: true }
  | { id: number; outbox: OutboxWrite; retryForMs: number }
  | 'close';
export interface ThreadError {
  message: string;
  code?: string;
}
/** The insert and checkpoint threads tell that they are set up, their connection open: one that exits before did not start. */
export type ThreadReady = 'ready';
/** `failed`: an attempt failed (told of each); `error`: no attempt is left, the batch is not stored. */
export type InsertReply =
  | { id: number; inserted: boolean[] } | { id: number; wrote: OutboxWritten } | { ids: number[]; failed: ThreadError } | { id: number; error: ThreadError }
  | ThreadReady;
export type CheckpointRequest = CommitState | 'close';
/** The checkpoint thread tells it has copied the WAL (`copied`); the insert thread is then asked to copy what is left (`checkpoint`). */
export type CheckpointDone = 'copied' | ThreadReady;
export type TailCheckpoint = 'checkpoint';
export type ReadRequest = { [R in ReadName]: { id: number; read: R; query: Parameters<SqliteReads[R]>[0] } }[ReadName] | 'close';
/** `pieces`: the answer's long list, taken out of `result` (see read-pieces.ts). */
export type ReadReply = { id: number; result: ReturnType<SqliteReads[ReadName]>; pieces?: Uint8Array[] } | { id: number; error: ThreadError };

/**
 * The insert thread checkpoints by itself once the WAL holds this many pages (4 KiB each). SQLite
 * starts the WAL over only when a write transaction begins with every frame already copied; under
 * sustained load the next batch begins before the checkpoint thread is done, so the WAL grows to
 * this size, and this checkpoint, with little left to copy, lets the next batch start it over.
 * Half a second of commits at the peak (checkpoint-due.ts) wrote at most 5,100 pages at 30,000
 * events/s here: this leaves room for twice that rate before the backstop steps in.
 */
const BACKSTOP_PAGES = 20_000;

/**
 * A PASSIVE checkpoint copies the frames committed before it began. SQLite starts the WAL over only
 * in a write transaction that begins with every frame copied, and under steady load a commit lands
 * during nearly every checkpoint: the WAL then grew until the backstop's checkpoint ran inside a
 * commit (docs/benchmarks.md, "Half-rate tails, session 11"). Run by the insert thread between two
 * commits, after the checkpoint thread's, this one copies only the frames committed meanwhile, and
 * no commit can land during it; it waits for a moment when no write waits (wal-tail-copy.ts).
 */
function checkpointPassive(): void {
  // A failure is left to the next checkpoint or the backstop: the commits themselves, and their
  // errors, never depend on it.
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {}
}

/**
 * Forwarded bodies reach the insert thread as ArrayBuffers of their own (the outbox, docs/forwarding.md),
 * and the thread makes so few JavaScript objects that its young generation, and with it the dead
 * bodies, is otherwise collected only every few hundred requests: about 20 MB held at 30,000 spans/s
 * in the forwarding benchmark (docs/benchmarks.md, "Forwarding, session 10"). A minor collection
 * after each this many bytes of bodies bounds them.
 */
const OUTBOX_COLLECT_BYTES = 2 * 1024 * 1024;

/** V8's minor collection. It gives `gc` only to contexts made after --expose-gc is set, as jest's leak detector takes it. */
function youngCollection(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options: { type: 'minor' }) => void;
  return () => gc({ type: 'minor' });
}

const { role, file, options, maxBatchEvents } = workerData as WorkerData;
const port = parentPort!;
const db = openSqlite(file, options, role === 'read');
if (role !== 'read') port.postMessage('ready' satisfies ThreadReady);

if (role === 'read') {
  db.pragma(`cache_size = -${READ_CACHE_KIB}`);
  const reads = sqliteReads(db);
  port.on('message', (request: ReadRequest) => {
    if (request === 'close') return close();
    try {
      const { answer, pieces } = splitAnswer((reads[request.read] as (query: unknown) => ReturnType<SqliteReads[ReadName]>)(request.query));
      port.postMessage({ id: request.id, result: answer, pieces } satisfies ReadReply, pieces?.map((piece) => piece.buffer as ArrayBuffer));
    } catch (error) {
      port.postMessage({ id: request.id, error: toThreadError(error as Error) } satisfies ReadReply);
    }
  });
} else if (role === 'insert') {
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  type Insert = Extract<InsertRequest, { records: PackedRows }>;
  type Write = Insert | Extract<InsertRequest, { outbox: OutboxWrite }>;
  let insert: ReturnType<typeof batchesInserter<PackedRows>> | undefined;
  let writeOutbox: ReturnType<typeof outboxWriter> | undefined;
  let collectYoung: (() => void) | undefined;
  let outboxBytes = 0;
  const waiting: Write[] = [];
  let closing = false;
  /** When the checkpoint thread last asked for the WAL's rest to be copied, until it is. */
  let copyAskedAt: number | undefined;
  let working: Promise<void> | undefined;
  /** Inserts whose parts are still coming, each with those come. */
  const incoming = new Map<number, { insert: Insert; parts: PackedRows[] }>();
  /**
   * The insert in parts whose rows go in as its parts come, in a transaction left open until its
   * last: begun only on a thread with nothing else to do, so its rows are inserted while the main
   * thread still checks the rest of the request, and nothing else waits behind the open
   * transaction but what arrives meanwhile. `inserted`: what each part's rows told.
   */
  let open: { id: number; inserted: boolean[][] } | undefined;
  /** A commit (or its retries' waits) is in progress. */
  let committing = false;
  let insertRows: ReturnType<typeof rowsInserter<PackedRows>> | undefined;
  port.on('message', (request: InsertRequest | TailCheckpoint) => {
    if (request === 'close') closing = true;
    else if (request === 'checkpoint') copyAskedAt = closing ? undefined : (copyAskedAt ?? performance.now());
    else if ('dropped' in request) {
      incoming.delete(request.id);
      if (open?.id === request.id) rollBack();
    } else if ('part' in request) {
      const started = incoming.get(request.id)!;
      started.parts.push(request.part);
      if (open?.id === request.id) insertOpen({ records: request.part });
      if (request.more) return;
      incoming.delete(request.id);
      const inserted = open?.id === request.id ? commitOpen() : undefined;
      if (inserted) {
        port.postMessage({ id: request.id, inserted } satisfies InsertReply);
        countOutbox([started.insert]);
      } else waiting.push({ ...started.insert, records: joinParts(started.parts) });
    } else if ('records' in request && request.more) {
      incoming.set(request.id, { insert: request, parts: [request.records] });
      if (!committing && waiting.length === 0 && open === undefined) beginOpen(request);
      if (open) return;
    } else waiting.push(request);
    if (!open) working ??= work();
  });
  /** Opens the transaction of an insert in parts and inserts its first; a database that refuses leaves it to be committed whole. */
  function beginOpen({ id, records, extras }: Insert): void {
    try {
      assertSameFiles(db);
      db.exec('BEGIN IMMEDIATE');
    } catch {
      return;
    }
    open = { id, inserted: [] };
    insertOpen({ records, ...(extras && { extras }) });
  }
  /** A part's rows into the open transaction. If they fail, it is rolled back: the insert is then committed whole once it has all its parts, with its retries. */
  function insertOpen(batch: InsertBatch<PackedRows>): void {
    try {
      open!.inserted.push((insertRows ??= rowsInserter(db, PACKED))(batch));
    } catch {
      rollBack();
    }
  }
  /** What the open insert's rows told, once committed; undefined when the commit failed (rolled back). */
  function commitOpen(): boolean[] | undefined {
    try {
      db.exec('COMMIT');
    } catch {
      rollBack();
      return undefined;
    }
    const inserted = open!.inserted.flat();
    open = undefined;
    return inserted;
  }
  function rollBack(): void {
    open = undefined;
    // A failed statement may have rolled the transaction back already.
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } catch {}
  }
  /**
   * Commits what waits, in the order sent: a group of batches waiting to be retried holds back those
   * behind it. Before each commit the thread takes its messages (setImmediate runs after them), so a
   * request that arrived during a commit waits for that one and its own, never for one commit per
   * request ahead of it.
   */
  async function work(): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      // An insert in parts began meanwhile and holds the transaction: the rest waits for its commit.
      if (open) break;
      if (copyAskedAt !== undefined && copyTailNow(copyAskedAt, waiting.length, performance.now())) {
        copyAskedAt = undefined;
        checkpointPassive();
      }
      if (waiting.length === 0) break;
      const first = waiting[0]!;
      committing = true;
      await ('outbox' in first ? write(waiting.shift() as Extract<Write, { outbox: OutboxWrite }>) : insertGroup(takeGroup()));
      committing = false;
    }
    working = undefined;
    if (closing && !open) close();
  }
  /** The inserts at the head of the line, as many as fit in one transaction (the first always does). */
  function takeGroup(): Insert[] {
    let events = 0;
    let taken = 0;
    for (; taken < waiting.length; taken++) {
      const next = waiting[taken]!;
      if ('outbox' in next || (taken > 0 && events + PACKED.count(next.records) > maxBatchEvents!)) break;
      events += PACKED.count(next.records);
    }
    return waiting.splice(0, taken) as Insert[];
  }
  async function insertGroup(group: Insert[]): Promise<void> {
    const retry = {
      forMs: group[0]!.retryForMs,
      // One report per failed attempt for the whole group: each batch's caller is told once, and
      // callers that share one callback (the writer counts storage errors with it) are told once.
      onFailure: (error: Error) => port.postMessage({ ids: group.map(({ id }) => id), failed: toThreadError(error) } satisfies InsertReply),
    };
    try {
      const inserted = await retrying(retry, () => (insert ??= batchesInserter(db, PACKED))(group));
      group.forEach(({ id }, i) => port.postMessage({ id, inserted: inserted[i]! } satisfies InsertReply));
    } catch (error) {
      for (const { id } of group) port.postMessage({ id, error: toThreadError(error as Error) } satisfies InsertReply);
    }
    countOutbox(group);
  }
  /** Collects the young generation once enough outbox bodies were committed. */
  function countOutbox(committed: readonly Insert[]): void {
    // These bodies outlive this collection, but only this one: the next frees them.
    for (const { extras } of committed) for (const { body } of extras?.outbox ?? []) outboxBytes += body.byteLength;
    if (outboxBytes >= OUTBOX_COLLECT_BYTES) {
      outboxBytes = 0;
      (collectYoung ??= youngCollection())();
    }
  }
  async function write({ id, outbox, retryForMs }: Extract<Write, { outbox: OutboxWrite }>): Promise<void> {
    const retry = { forMs: retryForMs, onFailure: (error: Error) => port.postMessage({ ids: [id], failed: toThreadError(error) } satisfies InsertReply) };
    try {
      port.postMessage({ id, wrote: await retrying(retry, () => (writeOutbox ??= outboxWriter(db))(outbox)) } satisfies InsertReply);
    } catch (error) {
      port.postMessage({ id, error: toThreadError(error as Error) } satisfies InsertReply);
    }
  }
} else {
  db.pragma('wal_autocheckpoint = 0');
  let lastCheckpoint = -Infinity;
  let due: NodeJS.Timeout | undefined;
  let dueAt = Infinity;
  const checkpoint = () => {
    due = undefined;
    dueAt = Infinity;
    // PASSIVE never waits for readers or the writer; what it cannot copy now, the next one does.
    checkpointPassive();
    // Counted from its end: a checkpoint slower than the interval would otherwise start the next at
    // once, and the insert thread's copy would keep finding the checkpoint lock taken.
    lastCheckpoint = performance.now();
    port.postMessage('copied' satisfies CheckpointDone);
  };
  port.on('message', (request: CheckpointRequest) => {
    if (request === 'close') {
      clearTimeout(due);
      return close();
    }
    // The earliest time any commit since the last checkpoint allows.
    const at = checkpointDueAt(lastCheckpoint, request);
    if (at >= dueAt) return;
    clearTimeout(due);
    const wait = at - performance.now();
    if (wait <= 0) return checkpoint();
    dueAt = at;
    due = setTimeout(checkpoint, wait);
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
