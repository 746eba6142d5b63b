import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../bench/server.js';
import { pruneRaw, retentionHorizon } from '../../src/retention.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-20T12:00:00Z');
const HORIZON = retentionHorizon(NOW, 30); // 2026-10-21T00:00:00Z

describe.each(BACKENDS)('raw retention (RAW_RETENTION_DAYS) on %s', (backend) => {
  // PostgreSQL drops whole months (partitions): its horizon is the start of HORIZON's month.
  const horizon = backend === 'sqlite' ? HORIZON : Date.UTC(2026, 9, 1);
  const pruned = backend === 'sqlite' ? 29 * 24 + 12 : 9 * 24 + 12;
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ backend, now: () => NOW, env: { RAW_RETENTION_DAYS: '30' } });
    // 60 days of events, one an hour, in two runs.
    const events = Array.from({ length: 60 * 24 }, (_, h) => ({
      id: `e${h}`, timestamp: NOW - 60 * DAY + h * 3_600_000, agent_id: 'a', model: h % 2 ? 'gpt-4o' : 'claude-sonnet-4-5',
      run_id: `run-${h % 3}`, input_tokens: 100, output_tokens: 10,
    }));
    const unpriced = { id: 'u1', timestamp: NOW - 5 * DAY, agent_id: 'a', model: 'mystery-model', input_tokens: 7 };
    expect((await svc.ingest('/v1/usage', { events: [...events, unpriced] })).status).toBe(200);
  });
  afterAll(() => svc.close());

  const rawCount = async () =>
    (await svc.store.aggregate({ source: 'raw', groupBy: [], filters: {}, from: 0, to: Date.UTC(2100, 0), order: null, limit: null })).totals.events;

  it('deletes raw events before the horizon in bounded batches and keeps every rollup', async () => {
    const before = await svc.report('/v1/reports/usage?from=2026-09-01&to=2026-12-01&group_by=model');
    expect(await pruneRaw(svc.store, HORIZON)).toBe(pruned);
    expect(await rawCount()).toBe(60 * 24 + 1 - pruned);
    expect(await svc.store.rawHorizon()).toBe(horizon);
    const after = await svc.report('/v1/reports/usage?from=2026-09-01&to=2026-12-01&group_by=model');
    expect(after.body).toEqual(before.body);
    expect(after.body.source).toBe('rollup');
    expect(after.body.unpriced_models).toEqual([{ model: 'mystery-model', provider: null, events: 1, input_tokens: 7, output_tokens: 0 }]);
  });

  it('refuses a raw-only question reaching before the horizon, naming from, and answers it from the horizon on', async () => {
    const refused = await svc.report('/v1/reports/usage?from=2026-09-25&to=2026-11-21&group_by=run');
    expect(refused.status).toBe(400);
    const at = new Date(horizon).toISOString().replace('.000', '');
    expect(refused.body.error).toMatchObject({ code: 'raw_expired', message: expect.stringContaining(`from: raw events before ${at} were deleted`) });
    const kept = await svc.report(`/v1/reports/usage?from=${at.slice(0, 10)}&to=2026-11-21&group_by=run`);
    expect(kept.status).toBe(200);
    expect(kept.body).toMatchObject({ source: 'raw', totals: { events: await rawCount() } });
    expect((await svc.report('/v1/reports/timeseries?interval=hour&from=2026-09-29&to=2026-09-30')).status).toBe(400);
  });

  it('never moves the horizon back, and verify and rebuild-rollups work from the horizon on', async () => {
    await svc.store.pruneRaw(HORIZON - 40 * DAY, 10);
    expect(await svc.store.rawHorizon()).toBe(horizon);
    expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    const before = await svc.report('/v1/reports/usage?from=2026-09-01&to=2026-12-01&group_by=day');
    await svc.store.rebuildRollups();
    expect((await svc.report('/v1/reports/usage?from=2026-09-01&to=2026-12-01&group_by=day')).body).toEqual(before.body);
    expect(await svc.store.verify()).toMatchObject({ ok: true });
  });
});

describe('backup and prune-raw commands (SQLite)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ now: () => NOW });
    await svc.ingest('/v1/usage', { events: [{ id: 'one', agent_id: 'a', model: 'm', input_tokens: 1 }] });
  });
  afterAll(() => svc.close());

  it('backs the database up online with `tokentally backup FILE`, refusing to overwrite a file', async () => {
    const file = join(svc.dir, 'backups', 'copy.db');
    const run = runCli(['backup', file], { DATABASE_URL: join(svc.dir, 'usage.db') });
    expect(await run.exited).toBe(0);
    expect(existsSync(file)).toBe(true);
    const copy = new Database(file, { readonly: true });
    expect(copy.prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(1);
    copy.close();
    const again = runCli(['backup', file], { DATABASE_URL: join(svc.dir, 'usage.db') });
    expect(await again.exited).toBe(1);
    expect(again.output()).toMatch(/already exists/);
  });

  it('prunes from the command line with `tokentally prune-raw`, and says when retention is off', async () => {
    const off = runCli(['prune-raw'], { DATABASE_URL: join(svc.dir, 'usage.db') });
    expect(await off.exited).toBe(1);
    expect(off.output()).toMatch(/RAW_RETENTION_DAYS is not set/);
    const run = runCli(['prune-raw'], { DATABASE_URL: join(svc.dir, 'usage.db'), RAW_RETENTION_DAYS: '3650' });
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/deleted 0 raw events before \d{4}-\d\d-\d\dT00:00:00Z; rollups kept/);
  });
});
