import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { SqliteWriteThreads } from '../../src/store/sqlite-threads.js';
import { usageRecord } from './records.js';

/**
 * SQLite files for the store's write-thread suites, each thing opened here closed after its test.
 */

export const OPTIONS = { synchronous: 'FULL', busyTimeoutMs: 250 } as const;
export const records = (prefix: string, n: number): UsageRecord[] =>
  Array.from({ length: n }, (_, i) =>
    usageRecord(`${prefix}-${i}`, { ts: Date.UTC(2026, 10, 1) + i * 1000, agent_id: `agent-${i % 7}`, operation: 'chat', run_id: `run-${prefix}-${i % 50}`, input_tokens: i }),
  );

/** What to undo after the current test, last first. */
export const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-threads-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
export function readOnly(file: string): Database.Database {
  const db = new Database(file, { readonly: true });
  cleanup.push(() => db.close());
  return db;
}
export async function openStore(file: string, writeThreads: boolean): Promise<SqliteStore> {
  const store = new SqliteStore(file, { ...OPTIONS, writeThreads });
  cleanup.push(() => store.close());
  await store.migrate();
  return store;
}

/** Write threads on a fresh, migrated file, closed after the test. */
export async function writeThreads(maxBatchEvents: number): Promise<{ file: string; threads: SqliteWriteThreads }> {
  const file = join(tempDir(), 'usage.db');
  await openStore(file, false);
  const threads = new SqliteWriteThreads(file, OPTIONS, maxBatchEvents);
  cleanup.push(() => threads.close());
  return { file, threads };
}
