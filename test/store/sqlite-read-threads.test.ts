import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { plan } from '../../src/store/planner.js';
import { joinAnswer, PIECE_ROWS, splitAnswer } from '../../src/store/read-pieces.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { AggregateResult } from '../../src/store/types.js';
import { usageRecord } from '../support/records.js';
import { turnsDuring } from '../support/turns.js';
import { readStores, readsInHand } from '../support/read-stores.js';

const RUNS = 10_000;
const DAY = Date.UTC(2026, 10, 3);

describe('SQLite read threads, long answers', () => {
  const stores = readStores('read-threads', () => Array.from({ length: RUNS }, (_, i) => usageRecord(`e-${i}`, { ts: DAY + i, run_id: `run-${i}`, input_tokens: i + 1 })));

  it('a report of 10,000 groups from a read thread is the one read on the calling thread', async () => {
    const query = plan({ groupBy: ['run'], filters: {}, from: DAY, to: DAY + 86_400_000, order: { by: 'input_tokens', dir: 'desc' }, limit: null });
    const fromThread = await stores.threaded.aggregate(query);
    expect(fromThread.groups).toHaveLength(RUNS);
    expect(fromThread.groups[0]).toMatchObject({ key: { run: `run-${RUNS - 1}` } });
    expect(fromThread).toEqual(await stores.direct.aggregate(query));
  });

  it('start a second thread only when a read finds the first one busy', async () => {
    const file2 = join(stores.dir, 'threads.db');
    const store = new SqliteStore(file2, { writeThreads: false });
    try {
      await store.migrate();
      await store.insertBatch([usageRecord('e-0', { ts: DAY })]);
      const query = plan({ groupBy: ['model'], filters: {}, from: DAY, to: DAY + 86_400_000, order: null, limit: null });
      // Private: how many threads the store has started is all this test asks of it.
      const started = () => (store as unknown as { readThreads: { threads: unknown[] } }).readThreads.threads.filter(Boolean).length;
      for (let i = 0; i < 3; i++) await store.aggregate(query);
      expect(started()).toBe(1);
      await Promise.all([store.aggregate(query), store.aggregate(query)]);
      expect(started()).toBe(2);
    } finally {
      await store.close();
    }
  });

  it('keep reads waiting on the main thread for the first thread free, not behind a read another thread has in hand', async () => {
    // Handed out as they came, the fourth read went behind the first, which stands for a long
    // report: the other thread already had two in hand.
    const store = new SqliteStore(stores.file, { writeThreads: false });
    try {
      const day = { filters: {}, from: DAY, to: DAY + 86_400_000, limit: null };
      const short = plan({ ...day, groupBy: ['model'], order: null });
      await Promise.all([store.aggregate(short), store.aggregate(short)]);
      const reads = [plan({ ...day, groupBy: ['run'], order: { by: 'input_tokens', dir: 'desc' } }), short, short, short].map((query) => store.aggregate(query));
      expect(readsInHand(store)).toEqual([true, true]);
      // Private: how many reads wait is all this test asks of the store beyond that.
      expect((store as unknown as { readThreads: { queued: unknown[] } }).readThreads.queued).toHaveLength(2);
      await Promise.all(reads);
      // Close lets the reads already asked finish, and refuses new ones.
      const late = [store.aggregate(short), store.aggregate(short), store.aggregate(short)];
      const closed = store.close();
      await expect(store.aggregate(short)).rejects.toThrow('closed');
      await Promise.all([...late, closed]);
    } finally {
      await store.close();
    }
  });

  it('load no package but better-sqlite3: zod, which report queries do not need, made a read thread start 130-150 ms later', () => {
    const packages = new Set<string>();
    const seen = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, imported, loaded] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s+(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]/gm)) {
        const spec = imported ?? loaded;
        if (spec!.startsWith('.')) walk(resolve(dirname(file), spec!));
        else if (!spec!.startsWith('node:')) packages.add(spec!);
      }
    };
    walk(join(PACKAGE_ROOT, 'dist', 'src', 'store', 'sqlite-worker.js'));
    expect([...packages]).toEqual(['better-sqlite3']);
  });

  it('keep a process alive until the store is closed with reads in flight, and no longer', () => {
    // A read's answer that arrives after close must not let go of the thread close waits for.
    const script = join(stores.dir, 'program.mjs');
    const query = plan({ groupBy: ['run'], filters: {}, from: DAY, to: DAY + 86_400_000, order: null, limit: null });
    writeFileSync(script, `
      import { SqliteStore } from ${JSON.stringify(join(PACKAGE_ROOT, 'dist', 'src', 'store', 'sqlite.js'))};
      const store = new SqliteStore(${JSON.stringify(stores.file)}, { writeThreads: false });
      const reads = [0, 1, 2].map(() => store.aggregate(${JSON.stringify(query)}));
      await store.close();
      await Promise.all(reads);
      console.log('closed');`);
    expect(execFileSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 }).trim()).toBe('closed');
  });

  it('a long list crosses in pieces decoded a turn apart, and comes back whole', async () => {
    const answer: AggregateResult = {
      totals: { events: 1 } as AggregateResult['totals'], more: false,
      groups: Array.from({ length: RUNS }, (_, i) => ({ key: { run: `run-${i}` }, metrics: { events: i, exact: { cost_nanos: 2n ** 70n + BigInt(i) } } as never })),
    };
    const { answer: rest, pieces } = splitAnswer(answer);
    expect(rest.groups).toEqual([]);
    expect(pieces!.length).toBe(Math.ceil(RUNS / PIECE_ROWS));
    const { result, turns } = await turnsDuring(() => joinAnswer(rest, pieces!));
    expect(turns).toBeGreaterThanOrEqual(pieces!.length - 1);
    expect(result).toEqual(answer);
    const projects = Array.from({ length: 5_000 }, (_, i) => ({ id: `p-${i}` }));
    const split = splitAnswer(projects);
    expect(split.answer).toEqual([]);
    expect(await joinAnswer(split.answer, split.pieces!)).toEqual(projects);
    expect(splitAnswer(answer.groups.slice(0, 100)).pieces).toBeUndefined();
  });
});
