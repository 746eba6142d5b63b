import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.js';
import type { UsageRecord } from '../src/event/schema.js';

/**
 * The in-process ceiling: the project's own schema and trigger, 1,000-row transactions,
 * no HTTP, no validation — what the hardware and SQLite allow.
 */
export async function measureCeiling(records: UsageRecord[], batchSize = 1000): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-bench-'));
  const store = new SqliteStore(join(dir, 'ceiling.db'));
  await store.migrate();
  const started = performance.now();
  for (let i = 0; i < records.length; i += batchSize) await store.insertBatch(records.slice(i, i + batchSize));
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return records.length / seconds;
}
