import Database from 'better-sqlite3';
import type { UsageRecord } from '../event/schema.js';
import { inStreamOrder, metricStreamStatement, streamMoved } from './metric-streams.js';
import { oldestToDrop, TRIM_ROWS } from './outbox.js';
import { assertSameFiles, rememberFiles } from './sqlite-file-identity.js';
import type { BatchExtras } from './types.js';

export interface SqliteOptions {
  synchronous: 'FULL' | 'NORMAL';
  /**
   * How long a statement waits for another process's write lock. better-sqlite3 waits synchronously,
   * so this stays short; the store retries a busy database with backoff instead (see retry.ts).
   */
  busyTimeoutMs: number;
}

/**
 * A connection as every part of the SQLite store uses it, on whichever thread. `readOnly`: the file
 * must exist and nothing about it changes, its journal mode included.
 */
export function openSqlite(file: string, options: SqliteOptions, readOnly = false): Database.Database {
  const db = new Database(file, { readonly: readOnly, fileMustExist: readOnly });
  // First, so that switching to WAL waits for another process's lock like any other statement.
  db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
  if (!readOnly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous}`);
  }
  // Each insert fires the rollup trigger, so SQLite keeps a statement journal per row; spilled to
  // a temp file it cost more than the insert itself (2-5x slower batches in the benchmark).
  db.pragma('temp_store = MEMORY');
  rememberFiles(db);
  return db;
}

export const RECORD_COLUMNS = [
  'id', 'ts', 'project', 'agent_id', 'model', 'provider', 'operation', 'task_label', 'run_id', 'step_id',
  'session_id', 'user_id', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens',
  'reasoning_tokens', 'cost_nanos', 'cost_source', 'duration_ms', 'status', 'attributes', 'received_at',
] as const satisfies readonly (keyof UsageRecord)[];

/**
 * Appends a record's values in RECORD_COLUMNS order. Compiled from the list, so each value is a
 * plain property read rather than a read by a key from the list: half the time of that loop
 * (docs/benchmarks.md, "Insert cost, session 10").
 */
const pushValues = new Function('r', 'values', `values.push(${RECORD_COLUMNS.map((c) => `r.${c}`).join(', ')});`) as (r: UsageRecord, values: unknown[]) => void;

/**
 * How the inserter reads a batch of either form, by a row's number: its count, its values, and the
 * key that tells a repeat. Records on the calling thread (RECORDS), packed rows on the insert thread
 * (packed-rows.ts).
 */
export interface RowForm<B> {
  /** One row of the INSERT's VALUES: its parameters, in RECORD_COLUMNS order. */
  row: string;
  count(batch: B): number;
  push(batch: B, row: number, values: unknown[]): void;
  project(batch: B, row: number): string;
  id(batch: B, row: number): string;
}
type Records = readonly UsageRecord[];
const RECORDS: RowForm<Records> = {
  row: `(${RECORD_COLUMNS.map(() => '?').join(', ')})`,
  count: (records) => records.length,
  push: (records, row, values) => pushValues(records[row]!, values),
  project: (records, row) => records[row]!.project,
  id: (records, row) => records[row]!.id,
};

/**
 * Rows per INSERT statement. Each statement costs SQLite a statement journal and a round trip from
 * JavaScript; 50 rows a statement make 1,000-row batches a sixth to a quarter faster than one row a
 * statement (docs/benchmarks.md). 50 × 23 parameters stays far below SQLite's limit.
 */
const ROWS_PER_STATEMENT = 50;

/** Records to insert, with the extras committed in the same transaction. */
export interface InsertBatch<B = Records> {
  records: B;
  extras?: BatchExtras;
}

/**
 * Inserts a batch in one IMMEDIATE transaction, with its extras, and tells, per record, whether it
 * was new (an id already stored in its project is skipped, and the triggers fire only for new rows).
 * `uniqueKey`: the columns of the unique index that tells a repeat (another schema's, for the benchmark).
 */
export function batchInserter(db: Database.Database, uniqueKey = 'project, id'): (records: readonly UsageRecord[], extras?: BatchExtras) => boolean[] {
  const insert = batchesInserter(db, RECORDS, uniqueKey);
  return (records, extras) => insert([{ records, ...(extras && { extras }) }])[0]!;
}

/**
 * Inserts several batches, in order, in one IMMEDIATE transaction (one commit, one fsync), and tells
 * for each batch which of its records were new, as if each had been committed on its own.
 *
 * A statement's rows go in in order, each new one with the next seq (one more than the largest,
 * as SQLite numbers rows), so its new rows hold the `changes` seqs ending at `lastInsertRowid`. All
 * or none of a statement's rows new is all a statement tells in the usual case, which is why there is
 * no RETURNING (SQLite would copy every new row into a temporary table and back, and each row would
 * become two JavaScript strings). Otherwise each record's seq is looked up: the new ones are those
 * in that range, in order (of records sharing a project and id, only the first can have been stored).
 * `form`: how to read the batches' records (RowForm).
 */
export function batchesInserter<B>(db: Database.Database, form: RowForm<B>, uniqueKey = 'project, id'): (batches: readonly InsertBatch<B>[]) => boolean[][] {
  const insert = rowsInserter(db, form, uniqueKey);
  const insertAll = db.transaction((batches: readonly InsertBatch<B>[]) => batches.map(insert));
  return (batches) => {
    assertSameFiles(db);
    return insertAll.immediate(batches);
  };
}

/** batchesInserter's insert of one batch, inside a transaction the caller holds open. */
export function rowsInserter<B>(db: Database.Database, form: RowForm<B>, uniqueKey = 'project, id'): (batch: InsertBatch<B>) => boolean[] {
  const statement = (rows: number) =>
    db.prepare<unknown[]>(
      `INSERT INTO usage_events (${RECORD_COLUMNS.join(', ')})
       VALUES ${Array.from({ length: rows }, () => form.row).join(', ')}
       ON CONFLICT (${uniqueKey}) DO NOTHING`,
    );
  // One statement per row count met, so a batch's last rows (or a small batch) go in as one too.
  const statements = new Map<number, ReturnType<typeof statement>>();
  const seqOf = db.prepare<[string, string], number>('SELECT seq FROM usage_events WHERE project = ? AND id = ?').pluck();
  let outbox: Database.Statement | undefined;
  const moves = new Map<string, Database.Statement>();
  return ({ records, extras }) => {
    const now = Date.now();
    for (const update of inStreamOrder(extras?.metricStreams ?? [])) {
      const { sql, params } = metricStreamStatement(update, now);
      let prepared = moves.get(sql);
      if (!prepared) moves.set(sql, (prepared = db.prepare(sql)));
      if (prepared.run(params).changes === 0) throw streamMoved(update);
    }
    const count = form.count(records);
    const inserted = new Array<boolean>(count);
    const values: unknown[] = [];
    for (let start = 0; start < count; ) {
      const rows = Math.min(ROWS_PER_STATEMENT, count - start);
      values.length = 0;
      for (let r = start; r < start + rows; r++) form.push(records, r, values);
      let prepared = statements.get(rows);
      if (!prepared) statements.set(rows, (prepared = statement(rows)));
      // As arguments, not one array: better-sqlite3 reads an array's elements one by one through
      // V8's API, a third of the binding's cost (docs/benchmarks.md, "Insert cost, session 12").
      const { changes, lastInsertRowid } = prepared.run(...values);
      if (changes === rows || changes === 0) inserted.fill(changes === rows, start, start + rows);
      else {
        const last = Number(lastInsertRowid);
        let next = last - changes + 1;
        for (let r = start; r < start + rows; r++) if ((inserted[r] = seqOf.get(form.project(records, r), form.id(records, r)) === next)) next++;
        // Only if SQLite ran out of seqs above the largest (2^63 − 1) and numbered rows at random:
        // rather fail the transaction than tell a caller a wrong answer.
        if (next !== last + 1) throw new Error(`${changes} new rows, but not at seqs ${last - changes + 1}-${last}`);
      }
      start += rows;
    }
    if (extras?.outbox?.length) {
      outbox ??= db.prepare('INSERT INTO forward_outbox (signal, encoding, created_at, bytes, body) VALUES (?, ?, ?, ?, ?)');
      // A body that crossed from another thread is a plain Uint8Array, which SQLite binds only as a Buffer.
      for (const e of extras.outbox) outbox.run(e.signal, e.encoding, now, e.body.byteLength, Buffer.from(e.body.buffer, e.body.byteOffset, e.body.byteLength));
    }
    return inserted;
  };
}

/** A write to the forward outbox outside ingest: delivered rows (one signal's seq range) deleted, or the outbox trimmed to a byte bound. */
export type OutboxWrite = { delete: { signal: string; first: number; last: number } } | { trim: number };
/** What an outbox write deleted. */
export interface OutboxWritten {
  entries: number;
  bytes: number;
}

/**
 * Runs outbox writes in IMMEDIATE transactions. The store sends them to the insert thread, so they
 * take turns with the inserts there instead of waiting for the write lock on the event loop.
 */
export function outboxWriter(db: Database.Database): (write: OutboxWrite) => OutboxWritten {
  const deleteRange = db.prepare('DELETE FROM forward_outbox WHERE signal = ? AND seq BETWEEN ? AND ?');
  const size = db.prepare('SELECT bytes FROM forward_outbox_size WHERE id = 1').pluck();
  const oldest = db.prepare('SELECT seq, bytes FROM forward_outbox ORDER BY seq LIMIT ?').raw();
  const deleteThrough = db.prepare('DELETE FROM forward_outbox WHERE seq <= ?');
  const trim = (maxBytes: number): OutboxWritten => {
    const dropped = { entries: 0, bytes: 0 };
    const excess = (size.get() as number) - maxBytes;
    while (dropped.bytes < excess) {
      const { seqs, bytes } = oldestToDrop(oldest.all(TRIM_ROWS) as [number, number][], excess - dropped.bytes);
      if (seqs.length === 0) break;
      deleteThrough.run(seqs[seqs.length - 1]);
      dropped.entries += seqs.length;
      dropped.bytes += bytes;
    }
    return dropped;
  };
  const write = db.transaction((w: OutboxWrite): OutboxWritten => {
    if ('trim' in w) return trim(w.trim);
    return { entries: deleteRange.run(w.delete.signal, w.delete.first, w.delete.last).changes, bytes: 0 };
  });
  return (w) => write.immediate(w);
}
