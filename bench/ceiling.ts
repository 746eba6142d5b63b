import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.js';
import { batchInserter, openSqlite } from '../src/store/sqlite-connection.js';
import type { UsageRecord } from '../src/event/schema.js';

/**
 * The seeds' two-table design, on the same columns as ours so the same events go in: raw events
 * with a unique id and one time index, and the daily rollup kept by its ON CONFLICT trigger. No
 * per-project ids, report indexes, overflow columns or projects table.
 */
export const SEED_SCHEMA = `
CREATE TABLE usage_events (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL, project TEXT NOT NULL,
  agent_id TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL, operation TEXT NOT NULL,
  task_label TEXT NOT NULL, run_id TEXT NOT NULL, step_id TEXT NOT NULL, session_id TEXT NOT NULL,
  user_id TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
  cost_nanos INTEGER NOT NULL, cost_source TEXT NOT NULL, duration_ms INTEGER, status TEXT NOT NULL,
  attributes TEXT, received_at INTEGER NOT NULL
);
CREATE INDEX usage_events_ts ON usage_events (ts);
CREATE TABLE usage_daily (
  day TEXT NOT NULL, project TEXT NOT NULL, agent_id TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
  task_label TEXT NOT NULL, events INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
  cost_nanos INTEGER NOT NULL,
  PRIMARY KEY (day, project, agent_id, model, provider, task_label)
) WITHOUT ROWID;
CREATE TRIGGER usage_events_rollup AFTER INSERT ON usage_events
BEGIN
  INSERT INTO usage_daily VALUES (date(NEW.ts / 86400000 + 2440587.5), NEW.project, NEW.agent_id, NEW.model,
    NEW.provider, NEW.task_label, 1, NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
    NEW.cache_write_tokens, NEW.reasoning_tokens, NEW.cost_nanos)
  ON CONFLICT DO UPDATE SET
    events = events + 1, input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens, cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, cost_nanos = cost_nanos + excluded.cost_nanos;
END;`;

export interface Ceiling {
  eventsPerSecond: number;
  /**
   * CPU time of the whole process (every thread) per event, in µs: on a shared machine it moves
   * far less than the wall clock, so schemas compare by it.
   */
  cpuMicros: number;
}

/** Inserting `records` in `batchSize`-row calls of `insert`, in a fresh directory. */
export async function timeInserts(
  records: UsageRecord[], batchSize: number, open: (file: string) => Promise<{ insert(batch: UsageRecord[]): unknown; close(): unknown }>,
): Promise<Ceiling> {
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-bench-'));
  try {
    const target = await open(join(dir, 'ceiling.db'));
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < records.length; i += batchSize) await target.insert(records.slice(i, i + batchSize));
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    await target.close();
    return { eventsPerSecond: records.length / seconds, cpuMicros: (user + system) / records.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * (a) The in-process ceiling of our schema: the project's own store (its schema, indexes, triggers,
 * insert and checkpoint threads), 1,000-row transactions, no HTTP, no validation.
 */
export function measureCeiling(records: UsageRecord[], batchSize = 1000): Promise<Ceiling> {
  return timeInserts(records, batchSize, async (file) => {
    const store = new SqliteStore(file);
    await store.migrate();
    return { insert: (batch) => store.insertBatch(batch), close: () => store.close() };
  });
}

/**
 * (a') The ceiling our schema cannot move: the seeds' design above with the same durability (WAL,
 * synchronous=FULL), the same transactions and the same multi-row inserts, on the calling thread
 * with SQLite's own checkpoints, as a simple app runs it.
 */
export function measureSeedSchemaCeiling(records: UsageRecord[], batchSize = 1000): Promise<Ceiling> {
  return timeInserts(records, batchSize, async (file) => {
    const db = openSqlite(file, { synchronous: 'FULL', busyTimeoutMs: 250 });
    db.exec(SEED_SCHEMA);
    const insert = batchInserter(db, 'id');
    return { insert, close: () => db.close() };
  });
}
