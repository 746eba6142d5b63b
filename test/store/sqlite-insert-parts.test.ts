import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { NO_RETRY } from '../../src/store/retry.js';
import type { InsertParts } from '../../src/store/types.js';
import { cleanup, readOnly, records, writeThreads } from '../support/store-files.js';
import { until } from '../support/wait.js';

/** A connection that tells whether another holds the database's write lock, without waiting for it. */
function lockProbe(file: string): () => boolean {
  const db = new Database(file, { timeout: 0 });
  cleanup.push(() => db.close());
  return () => {
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_BUSY') return true;
      throw error;
    }
    db.exec('ROLLBACK');
    return false;
  };
}

async function partsOnIdleThread(): Promise<{ file: string; parts: (retry?: typeof NO_RETRY) => InsertParts; count(): number; locked(): boolean; insert(records: UsageRecord[]): Promise<boolean[]> }> {
  const { file, threads } = await writeThreads(5_000);
  // The thread started and idle: a batch in parts opens its transaction only on an idle one.
  await threads.insert(records('warm', 1), NO_RETRY);
  const reader = readOnly(file);
  return {
    file,
    parts: (retry = NO_RETRY) => threads.insertInParts(retry),
    count: () => reader.prepare(`SELECT COUNT(*) FROM usage_events WHERE id NOT LIKE 'warm-%'`).pluck().get() as number,
    locked: lockProbe(file),
    insert: (batch) => threads.insert(batch, NO_RETRY),
  };
}

describe('SQLite inserts in parts', () => {
  it('insert the first parts while the last is still to come, and commit them all in one transaction, each record told whether it was new', async () => {
    const { file, parts, count, locked, insert } = await partsOnIdleThread();
    const stored = records('stored', 2);
    await insert(stored);
    const fresh = records('fresh', 500);
    const batch = parts();
    batch.add(fresh.slice(0, 200));
    // Its transaction holds the write lock before the last part, and shows nothing to readers.
    await until(locked, 'the open transaction');
    expect(count()).toBe(2);
    batch.add([...fresh.slice(200, 400), fresh[10]!, stored[1]!]);
    expect(await batch.end([...fresh.slice(400), fresh[250]!])).toEqual([
      ...fresh.slice(0, 400).map(() => true), false, false, ...fresh.slice(400).map(() => true), false,
    ]);
    expect(locked()).toBe(false);
    expect(count()).toBe(502);
    expect(readOnly(file).prepare(`SELECT SUM(events) FROM usage_daily`).pluck().get()).toBe(503);
  });

  it('store nothing of a batch in parts that is abandoned, and let the database go at once for the next', async () => {
    const { parts, count, locked, insert } = await partsOnIdleThread();
    const batch = parts();
    batch.add(records('abandoned', 300));
    await until(locked, 'the open transaction');
    batch.abort();
    await until(() => !locked(), 'the rollback');
    expect(count()).toBe(0);
    const next = records('abandoned', 10);
    expect(await insert(next)).toEqual(next.map(() => true));
  });

  it('commit what is sent while a batch in parts is open after it, in the order sent', async () => {
    const { parts, locked, insert } = await partsOnIdleThread();
    const shared = records('shared', 3);
    const batch = parts();
    batch.add(shared.slice(0, 2));
    await until(locked, 'the open transaction');
    const after = insert([shared[1]!, shared[2]!]);
    const ended = batch.end([shared[2]!]);
    expect(await ended).toEqual([true, true, true]);
    expect(await after).toEqual([false, false]);
  });

  it('commit a batch in parts whole, retried as any other, when the database is locked as it begins', async () => {
    const { file, parts, count } = await partsOnIdleThread();
    const lock = new Database(file);
    cleanup.push(() => lock.close());
    lock.exec('BEGIN IMMEDIATE');
    const batch = parts({ forMs: 10_000, onFailure: () => {} });
    const fresh = records('late', 400);
    batch.add(fresh.slice(0, 200));
    const ended = batch.end(fresh.slice(200));
    await new Promise((r) => setTimeout(r, 400));
    expect(count()).toBe(0);
    lock.exec('ROLLBACK');
    expect(await ended).toEqual(fresh.map(() => true));
    expect(count()).toBe(400);
  });

  it('fail a batch in parts whole when a later part cannot be stored, keeping none of its earlier parts, and go on with the next', async () => {
    const { parts, count, locked, insert } = await partsOnIdleThread();
    const batch = parts();
    batch.add(records('first', 200));
    await until(locked, 'the open transaction');
    const bad = records('bad', 2);
    (bad[1] as { status: string }).status = 'unknown';
    await expect(batch.end(bad)).rejects.toThrow(/CHECK constraint failed/);
    expect(locked()).toBe(false);
    expect(count()).toBe(0);
    const next = records('first', 5);
    expect(await insert(next)).toEqual(next.map(() => true));
  });
});
