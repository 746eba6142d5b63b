import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneMetricStreams } from '../../src/retention.js';
import type { MetricStreamUpdate } from '../../src/store/types.js';
import { runSql } from '../support/sql.js';
import { usageRecord } from '../support/records.js';
import { POSTGRES_OPTED_OUT } from '../support/postgres.js';
import { startTestService, type Backend, type TestService } from '../support/service.js';
import { until } from '../support/wait.js';

/**
 * The store's half of counting cumulative metrics: a stream's new point commits with the events
 * counted from it, and only from the point the counting started from (another collector may have
 * moved the stream meanwhile): else the whole batch fails and nothing of it is stored.
 */

const SETUPS: { name: string; backend: Backend; env?: Record<string, string> }[] = [
  { name: 'SQLite, insert thread', backend: 'sqlite' },
  { name: 'SQLite, one thread', backend: 'sqlite', env: { SQLITE_WRITE_THREADS: 'off' } },
  ...(POSTGRES_OPTED_OUT ? [] : [{ name: 'PostgreSQL', backend: 'postgres' as const }]),
];

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
});

const move = (previous: MetricStreamUpdate['previous'], time: string, value: number, stream = 'stream-a'): MetricStreamUpdate =>
  ({ stream, start: '1796292000000000000', time, value, previous });

describe.each(SETUPS)('metric stream state on $name', ({ backend, env }) => {
  it('commits a stream\'s point with its events, and refuses the batch whole when the stream moved meanwhile', async () => {
    svc = await startTestService({ backend, ...(env && { env }) });
    const { store } = svc;
    const first = move(null, '1796292060000000000', 100);
    expect(await store.insertBatch([usageRecord('e1')], undefined, { metricStreams: [first] })).toEqual([true]);
    expect(await store.readMetricStreams(['stream-a', 'stream-b'])).toEqual(new Map([['stream-a', { start: first.start, time: first.time, value: 100, moved_at: expect.any(Number) }]]));

    // Counted again from nothing, or from a point it has left: refused, and e2 is not stored.
    for (const stale of [move(null, '1796292120000000000', 250), move({ start: first.start, time: '1796292000000000000' }, '1796292120000000000', 250)]) {
      await expect(store.insertBatch([usageRecord('e2')], undefined, { metricStreams: [stale] })).rejects.toMatchObject({ code: 'METRIC_STREAM_MOVED' });
    }
    expect((await store.listEvents({ filters: {}, from: null, to: null, limit: 10, after: null })).events.map((e) => e.id)).toEqual(['e1']);

    // From where it stands, with a second stream and no events at all: both move.
    const next = move({ start: first.start, time: first.time }, '1796292120000000000', 250);
    expect(await store.insertBatch([], undefined, { metricStreams: [next, move(null, '1796292120000000000', 7, 'stream-b')] })).toEqual([]);
    expect(await store.readMetricStreams(['stream-a', 'stream-b'])).toEqual(new Map([
      ['stream-a', { start: next.start, time: next.time, value: 250, moved_at: expect.any(Number) }],
      ['stream-b', { start: next.start, time: next.time, value: 7, moved_at: expect.any(Number) }],
    ]));
  });

  it('prunes the streams not moved since a time, a page at a time, and no other', async () => {
    svc = await startTestService({ backend, ...(env && { env }) });
    const { store } = svc;
    const streams = Array.from({ length: 7 }, (_, i) => `stream-${i}`);
    await store.insertBatch([], undefined, { metricStreams: streams.map((s) => move(null, '1796292060000000000', 1, s)) });
    // Five of them last moved long ago; stream-1 and stream-4 today.
    await runSql(svc.databaseUrl, 'UPDATE metric_streams SET updated_at = ? WHERE stream NOT IN (?, ?)', [Date.UTC(2026, 0, 1), 'stream-1', 'stream-4']);
    const before = Date.now() - 86_400_000;
    // A page looks at its two streams after `after`, whatever their age; a short page is the last.
    expect(await store.pruneMetricStreams(before, '', 2)).toEqual({ deleted: 1, last: 'stream-1' });
    expect(await store.pruneMetricStreams(before, 'stream-1', 2)).toEqual({ deleted: 2, last: 'stream-3' });
    expect(await store.pruneMetricStreams(before, 'stream-5', 2)).toEqual({ deleted: 1, last: null });
    expect(await pruneMetricStreams(store, before)).toBe(1);
    expect([...(await store.readMetricStreams(streams)).keys()].sort()).toEqual(['stream-1', 'stream-4']);
    expect(await pruneMetricStreams(store, before)).toBe(0);
  });
});

describe.skipIf(POSTGRES_OPTED_OUT)('metric stream pruning on PostgreSQL', () => {
  it('keeps a stream moved between the read of its page and the delete', async () => {
    svc = await startTestService({ backend: 'postgres' });
    const { store } = svc;
    await store.insertBatch([], undefined, { metricStreams: [move(null, '1796292060000000000', 1, 'stream-a'), move(null, '1796292060000000000', 1, 'stream-b')] });
    await runSql(svc.databaseUrl, 'UPDATE metric_streams SET updated_at = ?', [Date.UTC(2026, 0, 1)]);
    // Another collector holds stream-a while moving it: the prune reads it stale, its delete waits.
    const other = new pg.Client({ connectionString: svc.databaseUrl });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT 1 FROM metric_streams WHERE stream = $1 FOR UPDATE', ['stream-a']);
      const pruning = store.pruneMetricStreams(Date.now() - 86_400_000, '', 10);
      // This database's only: other test files prune streams in databases of the same server. Asked
      // outside `other`'s transaction, in which pg_stat_activity would keep its first read's snapshot.
      await until(async () => (await runSql(svc.databaseUrl, `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM metric_streams%'`)).length === 1, 'the delete waiting');
      await other.query('UPDATE metric_streams SET updated_at = $1 WHERE stream = $2', [Date.now(), 'stream-a']);
      await other.query('COMMIT');
      expect(await pruning).toEqual({ deleted: 1, last: null });
    } finally {
      await other.end();
    }
    expect([...(await store.readMetricStreams(['stream-a', 'stream-b'])).keys()]).toEqual(['stream-a']);
  });
});
