import Database from 'better-sqlite3';
import type { UsageRecord } from '../event/schema.js';

export interface SqliteOptions {
  synchronous: 'FULL' | 'NORMAL';
  /**
   * How long a statement waits for another process's write lock. better-sqlite3 waits synchronously,
   * so this stays short; the writer retries a busy database with backoff instead.
   */
  busyTimeoutMs: number;
}

/** A connection as every part of the SQLite store uses it, on whichever thread. */
export function openSqlite(file: string, options: SqliteOptions): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous}`);
  db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
  // Each insert fires the rollup trigger, so SQLite keeps a statement journal per row; spilled to
  // a temp file it cost more than the insert itself (2-5x slower batches in the benchmark).
  db.pragma('temp_store = MEMORY');
  return db;
}

const RECORD_COLUMNS = [
  'id', 'ts', 'project', 'agent_id', 'model', 'provider', 'operation', 'task_label', 'run_id', 'step_id',
  'session_id', 'user_id', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens',
  'reasoning_tokens', 'cost_nanos', 'cost_source', 'duration_ms', 'status', 'attributes', 'received_at',
] as const satisfies readonly (keyof UsageRecord)[];

/**
 * Inserts a batch in one IMMEDIATE transaction and tells, per record, whether it was new (a
 * duplicate id is skipped, and the triggers fire only for new rows).
 */
export function batchInserter(db: Database.Database): (records: readonly UsageRecord[]) => boolean[] {
  const statement = db.prepare(
    `INSERT INTO usage_events (${RECORD_COLUMNS.join(', ')})
     VALUES (${RECORD_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (id) DO NOTHING`,
  );
  const values = new Array<unknown>(RECORD_COLUMNS.length);
  const insert = db.transaction((records: readonly UsageRecord[]) =>
    records.map((record) => {
      for (let i = 0; i < RECORD_COLUMNS.length; i++) values[i] = record[RECORD_COLUMNS[i]!];
      return statement.run(values).changes === 1;
    }),
  );
  return (records) => insert.immediate(records);
}
