import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneRaw } from '../../src/retention.js';
import { PostgresStore } from '../../src/store/postgres.js';
import type { AggregateQuery } from '../../src/store/types.js';
import { createDatabase, POSTGRES_OPTED_OUT, type TestDatabase, sqlPool } from '../support/postgres.js';
import { usageRecord } from '../support/records.js';
import { postgresAtVersion } from '../support/old-schema.js';
import { INSERT_BATCH_SQL, insertBatchParams } from '../../src/store/postgres-queries.js';

/**
 * usage_events on PostgreSQL is partitioned by month (migration 0010): events reach their month's
 * partition or the default one, ids stay unique per project across partitions, and retention drops
 * whole months. The months are relative to today, as the partitions made ahead are.
 */
let db: TestDatabase;
let store: PostgresStore;
let sql: pg.Pool;

const now = new Date();
/** Noon on the 10th of the month `offset` months from this one, in epoch ms. */
const inMonth = (offset: number, hour = 0) => Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 10, 12 + hour);
const monthStart = (offset: number) => Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1);
const name = (offset: number) => `usage_events_${new Date(monthStart(offset)).toISOString().slice(0, 7).replace('-', '_')}`;

const all: AggregateQuery = { source: 'raw', groupBy: [], filters: {}, from: Number.MIN_SAFE_INTEGER, to: Number.MAX_SAFE_INTEGER, order: null, limit: null };
const rollupTotals = async () =>
  (await sql.query('SELECT SUM(events)::int AS events, SUM(input_tokens)::int AS input FROM usage_daily')).rows[0];
const partitions = async () => (await sql.query<{ name: string }>('SELECT name FROM usage_events_partitions() ORDER BY lower_ms')).rows.map((r) => r.name);
const where = async () =>
  Object.fromEntries((await sql.query('SELECT tableoid::regclass::text AS t, COUNT(*)::int AS n FROM usage_events GROUP BY 1')).rows.map((r) => [r.t, r.n]));

beforeAll(async () => {
  if (POSTGRES_OPTED_OUT) return;
  db = await createDatabase();
  store = new PostgresStore(db.url, { poolMax: 4 });
  await store.migrate();
  sql = sqlPool(db.url, 2);
});
afterAll(async () => {
  await sql?.end();
  await store?.close();
  await db?.drop();
});

describe.skipIf(POSTGRES_OPTED_OUT)('PostgreSQL monthly partitions', () => {
  it('has this month and the next two made ahead, and a default partition for the rest', async () => {
    expect(await partitions()).toEqual([name(0), name(1), name(2)]);
    const { rows } = await sql.query(`SELECT COUNT(*)::int AS n FROM pg_inherits WHERE inhparent = 'usage_events'::regclass`);
    expect(rows[0].n).toBe(4);
    expect(await store.addPartitions()).toBe(0);
  });

  it('sends events to their month, strays to the default partition, and a backfilled month gets its partition', async () => {
    const records = [-4, -3, -2, -1, 0, 1].flatMap((m) => Array.from({ length: 10 }, (_, i) => usageRecord(`m${m}-${i}`, { ts: inMonth(m, i), input_tokens: 10 })));
    expect((await store.insertBatch(records)).every(Boolean)).toBe(true);
    expect(await where()).toEqual({ usage_events_default: 40, [name(0)]: 10, [name(1)]: 10 });
    expect(await store.addPartitions()).toBe(4);
    expect(await partitions()).toEqual([-4, -3, -2, -1, 0, 1, 2].map(name));
    expect(await where()).toEqual(Object.fromEntries([-4, -3, -2, -1, 0, 1].map((m) => [name(m), 10])));
    expect((await store.aggregate(all)).totals.events).toBe(60);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('keeps an id once per project across partitions, whatever timestamp a retry carries', async () => {
    const retry = usageRecord('m-4-0', { ts: inMonth(-4), input_tokens: 10 });
    expect(await store.insertBatch([
      usageRecord('m-4-0', { ts: inMonth(0), input_tokens: 99 }),
      { ...retry, project: 'elsewhere' },
    ])).toEqual([false, true]);
    expect(await store.insertBatch([usageRecord('m-4-0', { ts: inMonth(-4), input_tokens: 99, project: 'elsewhere' })])).toEqual([false]);
    expect(await rollupTotals()).toEqual({ events: 61, input: 610 });
  });

  it('lets concurrent writers of overlapping batches across months each store an event once, without deadlock', async () => {
    const events = Array.from({ length: 600 }, (_, i) => usageRecord(`c${i}`, { ts: inMonth((i % 4) - 2, i % 10), input_tokens: 1, agent_id: `a${i % 3}` }));
    const batches = Array.from({ length: 10 }, (_, k) => events.slice(k * 50, k * 50 + 150));
    const writers = [new PostgresStore(db.url, { poolMax: 2 }), new PostgresStore(db.url, { poolMax: 2 })];
    try {
      const stored = await Promise.all(batches.flatMap((b) => [writers[0]!.insertBatch(b), writers[1]!.insertBatch([...b].reverse())]));
      expect(stored.flat().filter(Boolean).length).toBe(600);
    } finally {
      await Promise.all(writers.map((w) => w.close()));
    }
    expect(await rollupTotals()).toEqual({ events: 661, input: 1210 });
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('retention drops the months wholly before the horizon, keeps their rollups, and forgets their ids', async () => {
    const rollupBefore = await rollupTotals();
    const kept = (await store.aggregate({ ...all, from: monthStart(-2) })).totals.events;
    // A horizon inside month -2 keeps that month whole: only -4 and -3 are past it.
    const deleted = await pruneRaw(store, inMonth(-2));
    expect(await store.rawHorizon()).toBe(monthStart(-2));
    expect(await partitions()).toEqual([-2, -1, 0, 1, 2].map(name));
    expect((await store.aggregate(all)).totals.events).toBe(kept);
    expect(deleted).toBe(661 - kept);
    expect(await rollupTotals()).toEqual(rollupBefore);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    const ids = await sql.query('SELECT COUNT(*)::int AS n, MIN(ts) AS first FROM usage_event_ids');
    expect(ids.rows[0]).toEqual({ n: kept, first: String(inMonth(-2)) });
    // Their ids are free again, as on SQLite once raw events are deleted; a kept month's are not.
    expect(await store.insertBatch([usageRecord('m-4-0', { ts: inMonth(-4) }), usageRecord('m-2-0', { ts: inMonth(-2) })])).toEqual([true, false]);
  });

  it('retention also deletes strays before the horizon from the default partition, by their ids', async () => {
    const old = Date.UTC(2001, 0, 1);
    expect(await store.insertBatch([usageRecord('ancient', { ts: old }), usageRecord('m-4-1', { ts: inMonth(-4) })])).toEqual([true, true]);
    expect((await where()).usage_events_default).toBe(3);
    expect(await pruneRaw(store, inMonth(-2))).toBe(3);
    expect((await where()).usage_events_default).toBeUndefined();
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });
  it('retention walks a month past the horizon for its ids, stopped after any step and run again, and drops it at the end', async () => {
    const idsIn = async (offset: number) =>
      (await sql.query('SELECT COUNT(*)::int AS n FROM usage_event_ids WHERE ts >= $1 AND ts < $2', [monthStart(offset), monthStart(offset + 1)])).rows[0].n;
    const retiring = async () => (await sql.query<{ name: string }>('SELECT name FROM usage_events_retiring')).rows.map((r) => r.name);
    const month = await idsIn(-2);
    const later = await Promise.all([-1, 0, 1].map(idsIn));
    expect(month).toBe(160);
    // One step of 50 rows, as a retention stopped (or crashed) after it leaves the database:
    // the month detached (no insert reaches it now), 50 of its ids gone in ts order, the rest kept.
    expect(await store.pruneRaw(inMonth(-1), 50)).toBe(50);
    expect(await partitions()).toEqual([-1, 0, 1, 2].map(name));
    const [detached] = await retiring();
    expect((await sql.query(`SELECT COUNT(*)::int AS n FROM ${detached}`)).rows[0].n).toBe(160);
    expect(await idsIn(-2)).toBe(110);
    // Its first event's id is free again (stored anew, a stray before the horizon); its last one's is not yet.
    expect(await store.insertBatch([usageRecord('m-2-0', { ts: inMonth(-2) }), usageRecord('m-2-9', { ts: inMonth(-2, 9) })])).toEqual([true, false]);
    expect((await where()).usage_events_default).toBe(1);
    const rollupBefore = await rollupTotals();
    // Run again: the walk resumes at its cursor, the month is dropped, the stray goes with its id.
    expect(await pruneRaw(store, inMonth(-1))).toBe(111);
    expect(await retiring()).toEqual([]);
    expect((await sql.query(`SELECT to_regclass($1) AS t`, [detached])).rows[0].t).toBeNull();
    expect(await idsIn(-2)).toBe(0);
    expect(await Promise.all([-1, 0, 1].map(idsIn))).toEqual(later);
    expect((await where()).usage_events_default).toBeUndefined();
    expect(await rollupTotals()).toEqual(rollupBefore);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    expect(await store.insertBatch([usageRecord('m-2-9', { ts: inMonth(-2, 9) }), usageRecord('m-1-0', { ts: inMonth(-1) })])).toEqual([true, false]);
  });

  it('has no index on the ids\' timestamps for inserts to keep', async () => {
    const { rows } = await sql.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'usage_event_ids'`);
    expect(rows.map((r) => r.indexname)).toEqual(['usage_event_ids_pkey']);
  });
});

describe.skipIf(POSTGRES_OPTED_OUT)('migration 0014 after a retention stopped between a drop and its ids', () => {
  it('deletes the ids that only the dropped index could find, and keeps those of events still stored', async () => {
    const old = await createDatabase();
    const client = new pg.Client({ connectionString: old.url });
    let upgraded: PostgresStore | undefined;
    try {
      await client.connect();
      await postgresAtVersion(client, 13);
      await client.query('SELECT usage_events_add_partitions($1, 0)', [monthStart(-3)]);
      const records = [
        ...[0, 1, 2].map((i) => usageRecord(`dropped-${i}`, { ts: inMonth(-3, i) })),
        ...[0, 1].map((i) => usageRecord(`kept-${i}`, { ts: inMonth(-1, i) })),
        usageRecord('stray', { ts: Date.UTC(2001, 0, 1) }),
      ];
      await client.query(INSERT_BATCH_SQL, insertBatchParams(records));
      // What the retention before 0014 had done when it stopped: horizon recorded, month -3 dropped, its ids not yet deleted.
      await client.query('INSERT INTO raw_retention (id, horizon) VALUES (1, $1)', [monthStart(-2)]);
      await client.query(`DROP TABLE ${name(-3)}`);
      upgraded = new PostgresStore(old.url, { poolMax: 2 });
      await upgraded.migrate();
      const ids = async () => (await client.query('SELECT id FROM usage_event_ids ORDER BY id')).rows.map((r) => r.id);
      expect(await ids()).toEqual(['kept-0', 'kept-1', 'stray']);
      expect(await pruneRaw(upgraded, inMonth(-2))).toBe(1);
      expect(await ids()).toEqual(['kept-0', 'kept-1']);
      expect(await upgraded.insertBatch([usageRecord('dropped-0', { ts: inMonth(-1) }), usageRecord('kept-0', { ts: inMonth(-1) })])).toEqual([true, false]);
    } finally {
      await client.end();
      await upgraded?.close();
      await old.drop();
    }
  });
});
