import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryOutcome, NewDelivery } from '../../src/budgets/store.js';
import { loadConfig } from '../../src/config.js';
import { startBookkeepingPrune } from '../../src/retention.js';
import type { MetricStreamUpdate } from '../../src/store/types.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';
import { runSql } from '../support/sql.js';
import { until } from '../support/wait.js';

/**
 * The collector's periodic prune of its bookkeeping tables: finished budget deliveries after
 * BUDGET_OUTBOX_RETENTION_DAYS, metric streams after METRIC_STREAM_RETENTION_DAYS and the day a
 * stream still sent may go unmarked (STILL_SENT_MS); each table on its own.
 */
const DAY = 86_400_000;
const MINUTE = 60_000;
/** Far enough ahead that the service's own sender, which runs meanwhile, finds none of these due. */
const LATER = Date.now() + 365 * DAY;
const NOW = LATER + 10 * DAY;
const DAYS = { outbox: 5, streams: 2 };

const delivery = (n: number, target: string): NewDelivery => ({
  delivery_id: `d${n}`, budget_id: 'bookkeeping', target: { type: 'slack', url: `https://hooks.example/${target}` }, target_key: `bookkeeping slack ${target}`, body: '{}',
});
const stream = (name: string): MetricStreamUpdate => ({ stream: name, start: '1796292000000000000', time: '1796292060000000000', value: 1, previous: null });

const REFUSE_DELETES = {
  sqlite: [`CREATE TRIGGER refuse_deletes BEFORE DELETE ON budget_outbox BEGIN SELECT RAISE(ABORT, 'outbox deletes refused'); END`],
  postgres: [
    `CREATE FUNCTION refuse_deletes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'outbox deletes refused'; END $$`,
    'CREATE TRIGGER refuse_deletes BEFORE DELETE ON budget_outbox FOR EACH STATEMENT EXECUTE FUNCTION refuse_deletes()',
  ],
};

describe('bookkeeping retention settings', () => {
  it('are at most 36500 days, where the horizon is still a date', () => {
    for (const name of ['BUDGET_OUTBOX_RETENTION_DAYS', 'METRIC_STREAM_RETENTION_DAYS']) {
      expect(loadConfig({ [name]: '36500' })[name as 'BUDGET_OUTBOX_RETENTION_DAYS']).toBe(36_500);
      expect(() => loadConfig({ [name]: '36501' })).toThrow(name);
    }
  });
});

describe.each(BACKENDS)('bookkeeping prune on %s', (backend) => {
  let svc: TestService;
  const deliveries = async () => (await runSql(svc.databaseUrl, 'SELECT delivery_id FROM budget_outbox ORDER BY seq')).map((r) => r.delivery_id);
  const streams = async () => (await runSql(svc.databaseUrl, 'SELECT stream FROM metric_streams ORDER BY stream')).map((r) => r.stream);
  const movedAt = (name: string, ms: number) => runSql(svc.databaseUrl, 'UPDATE metric_streams SET updated_at = ? WHERE stream = ?', [ms, name]);

  beforeAll(async () => {
    svc = await startTestService({ backend });
    const budgets = svc.store.budgets;
    await budgets.save({ id: 'bookkeeping', name: 'bookkeeping', scope: { project: ['nobody'] }, window: 'month', tz: 'UTC', limit_nanos: 1e9, thresholds: [50], targets: [] });
    // Target a: delivered before the outbox horizon (LATER + 5 days), then again; b: after it.
    const plan: [NewDelivery, DeliveryOutcome][] = [
      [delivery(1, 'a'), { delivered: true, at: LATER + 1 * DAY }],
      [delivery(2, 'a'), { delivered: true, at: LATER + 2 * DAY }],
      [delivery(3, 'b'), { delivered: true, at: LATER + 6 * DAY }],
      [delivery(4, 'b'), { delivered: true, at: LATER + 7 * DAY }],
    ];
    expect(await budgets.recordCrossing('bookkeeping', 0, { threshold: 50, crossed_at: LATER, spend_nanos: 5e8 }, plan.map(([d]) => d), LATER)).toBe(true);
    const claimed = await budgets.claimDeliveries(LATER, LATER + DAY, 10);
    for (const [d, outcome] of plan) await budgets.finishDelivery(claimed.find((c) => c.delivery_id === d.delivery_id)!.seq, outcome);
    await svc.store.insertBatch([], undefined, { metricStreams: ['idle', 'still-sent', 'later-1', 'later-2'].map(stream) });
  });
  afterAll(() => svc?.close());

  it('prunes each table by its own setting, a stream only a day after its retention', async () => {
    // Stream horizon: NOW - 2 days - 1 day. still-sent's mark is a day old past its 2 days: a
    // point without new tokens may come any minute and mark it again.
    await movedAt('idle', NOW - 3 * DAY - MINUTE);
    await movedAt('still-sent', NOW - 3 * DAY + MINUTE);
    await movedAt('later-1', NOW);
    await movedAt('later-2', NOW);
    const errors: unknown[] = [];
    await startBookkeepingPrune(svc.store, DAYS, () => NOW, (e) => errors.push(e), { firstMs: 0, everyMs: DAY }).stop();
    expect(errors).toEqual([]);
    expect(await deliveries()).toEqual(['d2', 'd3', 'd4']);
    expect(await streams()).toEqual(['later-1', 'later-2', 'still-sent']);
  });

  it('runs first after its delay and then on its interval', async () => {
    const errors: unknown[] = [];
    const task = startBookkeepingPrune(svc.store, DAYS, () => NOW, (e) => errors.push(e), { firstMs: 20, everyMs: 20 });
    try {
      await movedAt('later-1', NOW - 4 * DAY);
      await until(async () => !(await streams()).includes('later-1'), 'the first prune');
      await movedAt('later-2', NOW - 4 * DAY);
      await until(async () => !(await streams()).includes('later-2'), 'a later prune');
    } finally {
      await task.stop();
    }
    expect(errors).toEqual([]);
  });

  it('prunes the streams when pruning the deliveries fails, and reports the failure', async () => {
    // A delete from the outbox fails, as a busy database would make it.
    for (const sql of REFUSE_DELETES[backend]) await runSql(svc.databaseUrl, sql);
    await svc.store.insertBatch([], undefined, { metricStreams: [stream('idle-again')] });
    await movedAt('idle-again', NOW);
    expect(await streams()).toEqual(['idle-again', 'still-sent']);
    const errors: unknown[] = [];
    // Ten days on, d3 is past the outbox horizon and every stream past its own.
    await startBookkeepingPrune(svc.store, DAYS, () => NOW + 10 * DAY, (e) => errors.push(e), { firstMs: 0, everyMs: DAY }).stop();
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/outbox deletes refused/);
    expect(await deliveries()).toEqual(['d2', 'd3', 'd4']);
    expect(await streams()).toEqual([]);
  });
});
