import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plan } from '../../src/store/planner.js';
import { aggregateSql } from '../../src/store/query-builder.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { SQLITE_DIALECT } from '../../src/store/sqlite-queries.js';
import type { AggregateQuery, Filters } from '../../src/store/types.js';
import { usageRecord } from '../support/records.js';

/**
 * SQLite keeps events without a run (OTLP log records, as agents send them) out of the run index
 * (migration 0015). A raw report by run reads them from the time index, only in the hours the
 * rollup's runless_hours name: the `''` group must be exact, cut at the report's range, page by
 * page, and verify and rebuild-rollups keep the mask exact.
 */
const DAY = Date.UTC(2026, 10, 20);
const HOUR = 3_600_000;
let dir: string;
let file: string;
let store: SqliteStore;

// Each event's input tokens a power of ten of its own, so a sum tells which events it holds.
const EVENTS = [
  { id: 'r1-a', ts: DAY + HOUR + 1, run_id: 'r1', input_tokens: 1 },
  { id: 'r1-b', ts: DAY + 2 * HOUR, run_id: 'r1', input_tokens: 10 },
  { id: 'r2-a', ts: DAY + 5 * HOUR + 30, run_id: 'r2', input_tokens: 100 },
  { id: 'log-0', ts: DAY + HOUR + 5, run_id: '', input_tokens: 1_000 },
  { id: 'log-1', ts: DAY + 7 * HOUR + 59 * 60_000, run_id: '', input_tokens: 10_000 },
  { id: 'log-2', ts: DAY - HOUR + 10, run_id: '', input_tokens: 100_000 },
  { id: 'log-3', ts: DAY + 7 * HOUR, run_id: '', input_tokens: 1_000_000, project: 'q' },
];

/** The input tokens of the events the report should count, by run, as a report by run lists them (largest first). */
function expected(keep: (e: (typeof EVENTS)[number]) => boolean): { run: string; input_tokens: number }[] {
  const sums = new Map<string, number>();
  for (const e of EVENTS.filter(keep)) sums.set(e.run_id, (sums.get(e.run_id) ?? 0) + e.input_tokens);
  return [...sums].map(([run, input_tokens]) => ({ run, input_tokens })).sort((a, b) => b.input_tokens - a.input_tokens);
}

function byRun(from: number, to: number, filters: Filters = {}, limit: number | null = null): AggregateQuery {
  return plan({ groupBy: ['run'], filters, from, to, order: { by: 'input_tokens', dir: 'desc' }, limit });
}

async function groups(query: AggregateQuery): Promise<{ run: string; input_tokens: number }[]> {
  const result = await store.aggregate(query);
  return result.groups.map((g) => ({ run: g.key.run!, input_tokens: g.metrics.input_tokens }));
}

/** The steps of SQLite's plan for the report's groups. */
function planOf(query: AggregateQuery): string[] {
  const { groups: sql } = aggregateSql(query, SQLITE_DIALECT);
  const db = new Database(file, { readonly: true });
  const steps = (db.prepare(`EXPLAIN QUERY PLAN ${sql.sql}`).all(...sql.params) as { detail: string }[]).map((s) => s.detail);
  db.close();
  return steps;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tokentally-runless-'));
  file = join(dir, 'runless.db');
  store = new SqliteStore(file, { writeThreads: false });
  await store.migrate();
  await store.insertBatch(EVENTS.map(({ id, ...over }) => usageRecord(id, { project: 'p', ...over })));
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('events without a run', () => {
  it('take no entry in the run index', () => {
    const db = new Database(file, { readonly: true });
    const entries = db.prepare(`SELECT SUM(ncell) FROM dbstat WHERE name = 'usage_events_run_ts' AND pagetype = 'leaf'`).pluck().get();
    db.close();
    expect(entries).toBe(EVENTS.filter((e) => e.run_id !== '').length);
  });

  it('are the exact `\'\'` group of a report by run, cut at its range and filtered as it is', async () => {
    const [from, to] = [DAY - 2 * HOUR, DAY + 12 * HOUR];
    expect(await groups(byRun(from, to))).toEqual(expected(() => true));
    expect(await groups(byRun(from, to, { project: ['p'] }))).toEqual(expected((e) => e.project !== 'q'));
    expect(await groups(byRun(from, to, { run: ['', 'r2'] }))).toEqual(expected((e) => e.run_id !== 'r1'));
    expect(await groups(byRun(from, to, { run: ['r1'] }))).toEqual(expected((e) => e.run_id === 'r1'));
    expect(await groups(byRun(from, to, { run: [''] }))).toEqual(expected((e) => e.run_id === ''));
    // Cut inside the hours that hold them: after log-0 (hour 1) and before log-1 (hour 7, minute 59).
    const [cutFrom, cutTo] = [DAY + HOUR + 6, DAY + 7 * HOUR + 30 * 60_000];
    expect(await groups(byRun(cutFrom, cutTo))).toEqual(expected((e) => e.ts >= cutFrom && e.ts < cutTo));
  });

  it('come page by page after a group as they come in one answer', async () => {
    const whole = await groups(byRun(DAY - 2 * HOUR, DAY + 12 * HOUR));
    const pages: { run: string; input_tokens: number }[] = [];
    for (let after: AggregateQuery['after']; pages.length === 0 || after; ) {
      const result = await store.aggregate({ ...byRun(DAY - 2 * HOUR, DAY + 12 * HOUR, {}, 1), ...(after && { after }) });
      const group = result.groups[0];
      if (!group) break;
      pages.push({ run: group.key.run!, input_tokens: group.metrics.input_tokens });
      after = result.more ? { value: BigInt(group.metrics.input_tokens), key: group.key.run! } : undefined;
    }
    expect(pages).toEqual(whole);
  });

  it('are read from the two indexes alone, the run index for the runs and the time index for the rest', () => {
    const steps = planOf(byRun(DAY - 2 * HOUR, DAY + 12 * HOUR));
    expect(steps).toContain('SCAN usage_events USING COVERING INDEX usage_events_run_ts');
    expect(steps).toContain('SEARCH usage_events USING COVERING INDEX usage_events_ts (ts>? AND ts<?)');
  });

  it('filtered to run `\'\'` alone, are read from the time index alone', async () => {
    const query = plan({ groupBy: ['project'], filters: { run: [''] }, from: DAY - 2 * HOUR, to: DAY + 12 * HOUR, order: null, limit: null });
    const result = await store.aggregate(query);
    expect(result.groups.map((g) => [g.key.project, g.metrics.input_tokens])).toEqual([['p', 111_000], ['q', 1_000_000]]);
    expect(planOf(query)).toContain('SEARCH usage_events USING COVERING INDEX usage_events_ts (ts>? AND ts<?)');
  });

  it('verify finds an hour missing from runless_hours, and rebuild-rollups restores it', async () => {
    const query = byRun(DAY - 2 * HOUR, DAY + 12 * HOUR, { project: ['p'] });
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    const db = new Database(file);
    db.prepare(`UPDATE usage_daily SET runless_hours = runless_hours & ~(1 << 7) WHERE project = 'p' AND day = '2026-11-20'`).run();
    db.close();
    // The report reads only the hours the mask names: log-1 (hour 7) is not read.
    expect(await groups(query)).toEqual(expected((e) => e.project !== 'q' && e.id !== 'log-1'));
    expect(await store.verify()).toMatchObject({ ok: false, mismatches: 2 });
    await store.rebuildRollups();
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    expect(await groups(query)).toEqual(expected((e) => e.project !== 'q'));
  });
});
