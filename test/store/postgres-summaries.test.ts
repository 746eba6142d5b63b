import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { pruneRaw } from '../../src/retention.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { plan } from '../../src/store/planner.js';
import { summariesFor } from '../../src/store/postgres-summaries.js';
import type { AggregateQuery } from '../../src/store/types.js';
import { zoneSegments } from '../../src/zone.js';
import { createDatabase, POSTGRES_OPTED_OUT, type TestDatabase, sqlPool } from '../support/postgres.js';
import { usageRecord } from '../support/records.js';
import { rng } from '../support/random.js';

/**
 * The summaries of migration 0011 (usage_daily_notask, usage_slots, usage_runs): kept exactly by
 * the insert and reprice triggers under concurrent writers, read in place of the raw events or
 * usage_daily with the same answers, checked by verify, restored by rebuild-rollups, and cut at
 * the raw horizon by retention. The months are relative to today, as the partitions are.
 */
let db: TestDatabase;
let store: PostgresStore;
let sql: pg.Pool;

const now = new Date();
const monthStart = (offset: number) => Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1);
const DAY_MS = 86_400_000;
const TABLES = ['usage_daily', 'usage_daily_notask', 'usage_slots', 'usage_runs'];
const TASKS = ['', 't1', 't2'];

const r = rng(20261205);
function randomRecord(i: number): UsageRecord {
  const big = r.next() < 0.05;
  return usageRecord(`s${i}`, {
    ts: r.int(monthStart(-2), monthStart(1) - 1),
    project: r.pick(['p1', 'p2', 'p3']), agent_id: r.pick(['a1', 'a2', 'a3', 'a4']), model: r.pick(['m1', 'm2', 'm3']),
    provider: r.pick(['', 'openai']), task_label: r.pick(TASKS), run_id: r.pick(['', 'r1', 'r2', 'r3', 'r4', 'r5']),
    status: r.pick(['ok', 'error']), cost_source: r.pick(['reported', 'computed', 'unpriced']),
    // Some values past 2^50, so that sums pass 2^53 and are read exactly as BigInt.
    input_tokens: big ? 2 ** 51 + r.int(0, 1000) : r.int(0, 5000), output_tokens: r.int(0, 500),
    cost_nanos: big ? 2 ** 52 + r.int(0, 1000) : r.int(0, 10 ** 9),
  });
}
const records = Array.from({ length: 3000 }, (_, i) => randomRecord(i));

const eventsIn = async (table: string) => (await sql.query(`SELECT COALESCE(SUM(events), 0)::int AS n FROM ${table}`)).rows[0].n as number;

beforeAll(async () => {
  if (POSTGRES_OPTED_OUT) return;
  db = await createDatabase();
  store = new PostgresStore(db.url, { poolMax: 4 });
  await store.migrate();
  await store.addPartitions(monthStart(-2));
  sql = sqlPool(db.url, 2);
});
afterAll(async () => {
  await sql?.end();
  await store?.close();
  await db?.drop();
});

type Question = Omit<AggregateQuery, 'source' | 'totalsSource'>;

/** A question that reads the same events but names a value list no summary holds: the source's own table answers it. */
function bypassing(q: Question): AggregateQuery {
  const source = plan(q).source;
  return plan({ ...q, filters: { ...q.filters, ...(source === 'raw' ? { status: ['ok', 'error'] } : { task: TASKS }) } });
}

const day = (offset: number, d: number) => monthStart(offset) + d * DAY_MS;
const base = { filters: {}, order: null, limit: null } as const;
const zoned = (zone: string, from: number, to: number) => ({ from, to, zone: zoneSegments(zone, from, to) });

/** Questions each summary answers, with the summary expected to answer their groups. */
const QUESTIONS: [string, Question][] = [
  ['usage_daily_notask', { ...base, groupBy: ['model'], from: day(-1, 0), to: day(0, 5) }],
  ['usage_daily_notask', { ...base, groupBy: ['agent', 'day'], filters: { project: ['p1', 'p2'] }, from: day(-2, 3), to: day(0, 20) }],
  ['usage_daily_notask', { ...base, groupBy: ['project', 'week'], order: { by: 'cost_nanos', dir: 'desc' }, limit: 2, from: day(-2, 0), to: day(1, 0) }],
  ['usage_runs', { ...base, groupBy: ['run'], order: { by: 'cost_nanos', dir: 'desc' }, limit: 3, from: monthStart(-1), to: monthStart(0) }],
  ['usage_runs', { ...base, groupBy: ['run', 'task', 'week'], filters: { agent: ['a2'] }, from: day(-2, 2), to: day(0, 9) }],
  ['usage_runs', { ...base, groupBy: ['day'], filters: { run: ['r2', ''] }, from: day(-2, 2), to: day(0, 9) }],
  ['usage_slots', { ...base, groupBy: ['hour'], ...zoned('Europe/Paris', monthStart(-1) - 3_600_000, monthStart(0) - 3_600_000) }],
  ['usage_slots', { ...base, groupBy: ['hour', 'model'], filters: { agent: ['a1', 'a3'] }, ...zoned('Asia/Kolkata', day(-1, 3) - 19_800_000, day(0, 4) - 19_800_000) }],
  ['usage_slots', { ...base, groupBy: ['day'], ...zoned('America/New_York', day(-2, 0) + 4 * 3_600_000, day(0, 28) + 5 * 3_600_000) }],
  ['usage_slots', { ...base, groupBy: ['hour'], ...zoned('Pacific/Chatham', day(-1, 1) + 900_000, day(-1, 2) + 2_700_000) }],
];

describe.skipIf(POSTGRES_OPTED_OUT)('PostgreSQL summaries', () => {
  it('two writers of overlapping batches store each event once, and every summary counts it once, without deadlock', async () => {
    const writers = [new PostgresStore(db.url, { poolMax: 2 }), new PostgresStore(db.url, { poolMax: 2 })];
    try {
      const batches = Array.from({ length: 20 }, (_, k) => records.slice(k * 150, k * 150 + 300));
      const stored = await Promise.all(batches.flatMap((b) => [writers[0]!.insertBatch(b), writers[1]!.insertBatch([...b].reverse())]));
      expect(stored.flat().filter(Boolean).length).toBe(records.length);
    } finally {
      await Promise.all(writers.map((w) => w.close()));
    }
    for (const table of TABLES) expect(await eventsIn(table), table).toBe(records.length);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it.each(QUESTIONS.map(([table, q], i) => [i, table, q] as const))('question %i is answered from %s with the same numbers as without it', async (_, table, question) => {
    const q = plan(question);
    expect(summariesFor(q).groups?.name).toBe(table);
    expect(summariesFor(bypassing(question)).groups).toBeNull();
    const [answer, expected] = await Promise.all([store.aggregate(q), store.aggregate(bypassing(question))]);
    expect(answer.groups.length).toBeGreaterThan(0);
    expect(answer).toEqual(expected);
  });

  it('reads the source table when a slot would straddle the range, a zone change or the question names what a summary lacks', () => {
    const raw = { ...base, source: 'raw' as const, totalsSource: 'raw' as const };
    expect(summariesFor({ ...raw, groupBy: ['hour'], from: monthStart(-1) + 60_000, to: monthStart(0) }).groups).toBeNull();
    expect(summariesFor({ ...raw, groupBy: ['hour'], from: monthStart(-1), to: monthStart(0), zone: [{ from: 0, offsetMinutes: 0 }, { from: monthStart(-1) + 60_000, offsetMinutes: 60 }] }).groups).toBeNull();
    expect(summariesFor({ ...raw, groupBy: ['hour', 'task'], from: monthStart(-1), to: monthStart(0) }).groups).toBeNull();
    expect(summariesFor({ ...raw, groupBy: ['run', 'model'], from: monthStart(-1), to: monthStart(0) }).groups).toBeNull();
    expect(summariesFor({ ...raw, groupBy: ['run', 'hour'], from: monthStart(-1), to: monthStart(0) }).groups).toBeNull();
    expect(summariesFor({ ...base, source: 'rollup', groupBy: ['task'], from: monthStart(-1), to: monthStart(0) }).groups).toBeNull();
  });

  it('a reprice moves every summary by the difference', async () => {
    const result = await store.reprice({ from: monthStart(-1), to: monthStart(0), models: ['m2'] }, (record) => {
      record.cost_nanos = 7;
      record.cost_source = 'computed';
    });
    expect(result.changed).toBeGreaterThan(0);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('verify finds a summary row that differs, and rebuild-rollups restores every summary', async () => {
    await sql.query('UPDATE usage_slots SET cost_nanos = cost_nanos + 1 WHERE ctid = (SELECT MIN(ctid) FROM usage_slots)');
    await sql.query('DELETE FROM usage_runs WHERE ctid = (SELECT MIN(ctid) FROM usage_runs)');
    await sql.query(`INSERT INTO usage_daily_notask VALUES ('2001-01-01', 'p', 'a', 'm', '', 1, 1, 1, 1, 1, 1, 1, 1, 0)`);
    expect(await store.verify()).toMatchObject({ ok: false, mismatches: 4 });
    await store.rebuildRollups();
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    for (const table of TABLES) expect(await eventsIn(table), table).toBe(records.length);
  });

  it('retention deletes the slots and runs before the raw horizon, and keeps usage_daily_notask whole', async () => {
    const deleted = await pruneRaw(store, monthStart(-1) + DAY_MS);
    expect(await store.rawHorizon()).toBe(monthStart(-1));
    const kept = records.length - deleted;
    expect(deleted).toBe(records.filter((e) => e.ts < monthStart(-1)).length);
    expect(await eventsIn('usage_slots')).toBe(kept);
    expect(await eventsIn('usage_runs')).toBe(kept);
    expect(await eventsIn('usage_daily_notask')).toBe(records.length);
    const first = await sql.query(`SELECT (SELECT MIN(ts) FROM usage_slots)::float8 AS slot, (SELECT MIN(day)::text FROM usage_runs) AS day`);
    expect(first.rows[0].slot).toBeGreaterThanOrEqual(monthStart(-1));
    expect(first.rows[0].day >= new Date(monthStart(-1)).toISOString().slice(0, 10)).toBe(true);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    await store.rebuildRollups();
    expect(await eventsIn('usage_slots')).toBe(kept);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });
});
