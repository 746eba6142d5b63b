import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { makeRecords } from './events.js';

const CHUNK = 25_000;

/**
 * Grows the database at `file` from `from` to `to` events, in-process through the project's own
 * store, so the trigger keeps the rollup exact. Large transactions and synchronous=NORMAL: a
 * fixture being built needs no per-commit durability. Returns the seconds it took.
 */
export async function growDataset(file: string, from: number, to: number): Promise<number> {
  const store = new SqliteStore(file, { synchronous: 'NORMAL' });
  await store.migrate();
  const pricer = createPricer(loadPriceTable({}));
  const now = Date.now();
  const started = performance.now();
  for (let n = from; n < to; n += CHUNK) await store.insertBatch(makeRecords(n, Math.min(CHUNK, to - n), pricer, now));
  await store.close();
  return (performance.now() - started) / 1000;
}
