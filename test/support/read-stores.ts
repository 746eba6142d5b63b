import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { SqliteStore } from '../../src/store/sqlite.js';

export interface ReadStores {
  file: string;
  dir: string;
  /** Reads on the store's read threads. */
  threaded: SqliteStore;
  /** Reads on its own connection, one statement a report. */
  direct: SqliteStore;
}

/**
 * One SQLite file holding `records`, opened twice for the suite that calls this, so that its tests
 * can set what the read threads answer against what one connection does.
 */
export function readStores(name: string, records: () => UsageRecord[]): ReadStores {
  const dir = mkdtempSync(join(tmpdir(), `tokentally-${name}-`));
  const stores = { dir, file: join(dir, 'usage.db') } as ReadStores;
  beforeAll(async () => {
    stores.threaded = new SqliteStore(stores.file, { writeThreads: false });
    await stores.threaded.migrate();
    const all = records();
    for (let i = 0; i < all.length; i += 1_000) await stores.threaded.insertBatch(all.slice(i, i + 1_000));
    stores.direct = new SqliteStore(stores.file, { writeThreads: false, readThreads: false });
  });
  afterAll(async () => {
    await stores.threaded?.close();
    await stores.direct?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return stores;
}

/** Whether each read thread of `store` has a read in hand (private: where reads went is all a test asks). */
export function readsInHand(store: SqliteStore): boolean[] {
  return (store as unknown as { readThreads: { threads: ({ reading?: unknown } | undefined)[] } }).readThreads.threads.map((t) => t?.reading !== undefined);
}
