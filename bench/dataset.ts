import Database from 'better-sqlite3';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { UsageRecord } from '../src/event/schema.js';
import { makeRecords } from './events.js';

const CHUNK = 25_000;

/**
 * Grows the database at `file` from `from` to `to` events, in-process through the project's own
 * store, so the trigger keeps the rollup exact. It builds a fixture, not a service: large
 * transactions, synchronous=NORMAL, and the secondary indexes of the events table dropped for the
 * load, then rebuilt from their own definitions (one sort each instead of millions of random
 * inserts). `reshape` may change event number n before it is stored. Returns the seconds it took.
 */
export async function growDataset(file: string, from: number, to: number, reshape?: (record: UsageRecord, n: number) => void): Promise<number> {
  const store = new SqliteStore(file, { synchronous: 'NORMAL' });
  await store.migrate();
  const started = performance.now();
  const db = new Database(file);
  const indexes = db
    .prepare(`SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'usage_events' AND sql IS NOT NULL`)
    .all() as { name: string; sql: string }[];
  for (const { name } of indexes) db.exec(`DROP INDEX "${name}"`);
  const pricer = createPricer(loadPriceTable({}));
  const now = Date.now();
  for (let n = from; n < to; n += CHUNK) {
    const records = makeRecords(n, Math.min(CHUNK, to - n), pricer, now);
    if (reshape) records.forEach((record, i) => reshape(record, n + i));
    await store.insertBatch(records);
  }
  await store.close();
  for (const { sql } of indexes) db.exec(sql);
  db.close();
  return (performance.now() - started) / 1000;
}
