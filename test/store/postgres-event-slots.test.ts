import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres.js';
import type { EventsQuery } from '../../src/store/types.js';
import { createDatabase, POSTGRES_OPTED_OUT, type TestDatabase, sqlPool } from '../support/postgres.js';
import { idsOfAllPages } from '../support/event-pages.js';
import { usageRecord } from '../support/records.js';

/**
 * PostgreSQL lists events filtered by project or model (and not by agent) through the 15-minute
 * slots that usage_slots says hold them (migration 0015): the raw events have no index by project
 * or model, a page reads the slots' spans a few at a time, and a slot missing from the summary is
 * an event missing from the list, which verify finds and rebuild-rollups restores.
 */
const DAY = Date.UTC(2026, 10, 20);
const SLOT = 900_000;
let db: TestDatabase;
let store: PostgresStore;
let sql: pg.Pool;

const allPages = (query: Omit<EventsQuery, 'after'>) => idsOfAllPages(store, query);

beforeAll(async () => {
  if (POSTGRES_OPTED_OUT) return;
  db = await createDatabase();
  store = new PostgresStore(db.url, { poolMax: 2 });
  await store.migrate();
  await store.addPartitions(DAY - 86_400_000);
  sql = sqlPool(db.url, 1);
  // Model "rare" in the last slot of the day before, two consecutive slots (two events in the
  // second), and six single slots after: eight spans, more than the first statements read. "busy"
  // in every slot between, so the rare model's slots are never the only ones.
  const rare = [DAY - 10, DAY + 8 * SLOT + 1, DAY + 9 * SLOT + 5, DAY + 9 * SLOT + 6, ...[20, 30, 40, 50, 60, 70].map((s) => DAY + s * SLOT)];
  await store.insertBatch([
    ...rare.map((ts, i) => usageRecord(`rare-${i}`, { ts, model: 'rare', project: i % 2 ? 'odd' : 'even' })),
    ...Array.from({ length: 80 }, (_, i) => usageRecord(`busy-${i}`, { ts: DAY - 4 * SLOT + i * SLOT + 7, model: 'busy', project: 'odd' })),
  ]);
});
afterAll(async () => {
  await sql?.end();
  await store?.close();
  await db?.drop();
});

describe.skipIf(POSTGRES_OPTED_OUT)('PostgreSQL events filtered through the slots', () => {
  const rare = { filters: { model: ['rare'] }, from: null, to: null };
  const newestFirst = ['rare-9', 'rare-8', 'rare-7', 'rare-6', 'rare-5', 'rare-4', 'rare-3', 'rare-2', 'rare-1', 'rare-0'];

  it('has no index by project or model on the raw events, and one on the slots', async () => {
    const indexes = async (table: string) =>
      (await sql.query(`SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY 1`, [table])).rows.map((r) => r.indexname);
    expect(await indexes('usage_events')).toEqual(['usage_events_agent_ts', 'usage_events_run_ts', 'usage_events_ts', 'usage_events_unpriced_ts']);
    expect(await indexes('usage_slots')).toEqual(['usage_slots_model', 'usage_slots_pkey', 'usage_slots_project']);
  });

  it('lists a rare model newest first, page by page, with no event of another model or slot', async () => {
    for (const limit of [1, 2, 3, 4, 100]) expect(await allPages({ ...rare, limit })).toEqual(newestFirst);
    expect(await allPages({ ...rare, from: DAY + 9 * SLOT + 6, to: DAY + 40 * SLOT, limit: 1 })).toEqual(['rare-5', 'rare-4', 'rare-3']);
    expect(await allPages({ ...rare, from: DAY - 5, to: DAY + 9 * SLOT + 6, limit: 2 })).toEqual(['rare-2', 'rare-1']);
    expect(await allPages({ filters: { project: ['odd'], model: ['rare'] }, from: null, to: null, limit: 2 }))
      .toEqual(['rare-9', 'rare-7', 'rare-5', 'rare-3', 'rare-1']);
    expect(await allPages({ filters: { model: ['rare'], project: ['elsewhere'] }, from: null, to: null, limit: 5 })).toEqual([]);
    expect(await allPages({ filters: { model: ['busy', 'rare'] }, from: DAY + 8 * SLOT, to: DAY + 10 * SLOT, limit: 2 }))
      .toEqual(['busy-13', 'rare-3', 'rare-2', 'busy-12', 'rare-1']);
  });

  it('verify finds a slot missing from the summary, and rebuild-rollups restores it', async () => {
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    await sql.query(`DELETE FROM usage_slots WHERE model = 'rare' AND ts = $1`, [DAY + 70 * SLOT]);
    expect(await allPages({ ...rare, limit: 10 })).toEqual(newestFirst.slice(1));
    // A filter by agent reads its index, not the slots.
    expect(await allPages({ filters: { model: ['rare'], agent: [usageRecord('x').agent_id] }, from: null, to: null, limit: 10 })).toEqual(newestFirst);
    expect(await store.verify()).toMatchObject({ ok: false });
    await store.rebuildRollups();
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    expect(await allPages({ ...rare, limit: 10 })).toEqual(newestFirst);
  });
});
