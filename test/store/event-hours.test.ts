import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { EventsQuery } from '../../src/store/types.js';
import { idsOfAllPages } from '../support/event-pages.js';
import { usageRecord } from '../support/records.js';

/**
 * SQLite lists events filtered by project, agent or model through the hours each rollup row says
 * hold its events (migration 0014): the mask must be exact, and verify and rebuild-rollups keep it so.
 */
const DAY = Date.UTC(2026, 10, 20);
const HOUR = 3_600_000;
let dir: string;
let file: string;
let store: SqliteStore;

const allPages = (query: Omit<EventsQuery, 'after'>) => idsOfAllPages(store, query);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tokentally-hours-'));
  file = join(dir, 'hours.db');
  store = new SqliteStore(file, { writeThreads: false });
  await store.migrate();
  // Agent "rare" in hours 23 of the day before, 2, 3 and 5 (two spans of consecutive hours and two
  // single ones); "busy" in every hour between, so the rare agent's hours are never the only ones.
  const rare = [DAY - HOUR + 10, DAY + 2 * HOUR + 1, DAY + 3 * HOUR + 59 * 60_000, DAY + 3 * HOUR + 60_000, DAY + 5 * HOUR];
  await store.insertBatch([
    ...rare.map((ts, i) => usageRecord(`rare-${i}`, { ts, agent_id: 'rare' })),
    ...Array.from({ length: 30 }, (_, i) => usageRecord(`busy-${i}`, { ts: DAY - 2 * HOUR + i * 15 * 60_000, agent_id: 'busy' })),
  ]);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('events filtered through the rollup hours', () => {
  const everything = { filters: { agent: ['rare'] }, from: null, to: null };
  const newestFirst = ['rare-4', 'rare-2', 'rare-3', 'rare-1', 'rare-0'];

  it('lists a rare agent newest first, page by page, with no event of another agent or hour', async () => {
    for (const limit of [1, 2, 3, 100]) expect(await allPages({ ...everything, limit })).toEqual(newestFirst);
    expect(await allPages({ filters: { agent: ['rare'] }, from: DAY + 3 * HOUR + 30 * 60_000, to: DAY + 5 * HOUR, limit: 1 })).toEqual(['rare-2']);
    expect(await allPages({ filters: { agent: ['rare'], project: ['default'] }, from: DAY, to: DAY + HOUR, limit: 5 })).toEqual([]);
  });

  it('verify finds an hour missing from a rollup row, and rebuild-rollups restores it', async () => {
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    const db = new Database(file);
    db.prepare(`UPDATE usage_daily SET hours = hours & ~(1 << 5) WHERE agent_id = 'rare'`).run();
    db.close();
    expect(await allPages({ ...everything, limit: 10 })).not.toContain('rare-4');
    expect(await store.verify()).toMatchObject({ ok: false, mismatches: 2 });
    await store.rebuildRollups();
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    expect(await allPages({ ...everything, limit: 10 })).toEqual(newestFirst);
  });
});
