import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryOutcome, NewDelivery } from '../../src/budgets/store.js';
import { runSql } from '../support/sql.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

/**
 * Finished budget deliveries are pruned after BUDGET_OUTBOX_RETENTION_DAYS, except each target's
 * latest finished one: whether a target is failing (/readyz, the gauge) reads the same before and
 * after, and nothing still to be sent goes.
 */
const DAY = 86_400_000;
/** Far enough ahead that the service's own sender, which runs meanwhile, finds none of these due. */
const LATER = Date.now() + 365 * DAY;

const delivery = (n: number, target: string): NewDelivery => ({
  delivery_id: `d${n}`, budget_id: 'prune', target: { type: 'slack', url: `https://hooks.example/${target}` }, target_key: `prune slack ${target}`, body: '{}',
});

describe.each(BACKENDS)('budget outbox pruning on %s', (backend) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ backend });
  });
  afterAll(() => svc?.close());

  it("deletes finished deliveries older than the horizon, keeping each target's latest finished one and every unfinished one", async () => {
    const budgets = svc.store.budgets;
    await budgets.save({ id: 'prune', name: 'prune', scope: { project: ['nobody'] }, window: 'month', tz: 'UTC', limit_nanos: 1e9, thresholds: [50], targets: [] });
    // Per target, in the order sent: (a) delivered, failed, delivered; (b) delivered, failed;
    // (c) delivered, then one still waiting; (d) delivered twice, recently; (e) one still retried,
    // long before the horizon, then a later one delivered.
    const plan: [NewDelivery, DeliveryOutcome | null][] = [
      [delivery(1, 'a'), { delivered: true, at: LATER + 1 * DAY }],
      [delivery(2, 'a'), { delivered: false, at: LATER + 2 * DAY, error: 'HTTP 500', retryAt: null }],
      [delivery(3, 'a'), { delivered: true, at: LATER + 3 * DAY }],
      [delivery(4, 'b'), { delivered: true, at: LATER + 1 * DAY }],
      [delivery(5, 'b'), { delivered: false, at: LATER + 2 * DAY, error: 'HTTP 404', retryAt: null }],
      [delivery(6, 'c'), { delivered: true, at: LATER + 1 * DAY }],
      [delivery(7, 'c'), null],
      [delivery(8, 'd'), { delivered: true, at: LATER + 40 * DAY }],
      [delivery(9, 'd'), { delivered: true, at: LATER + 41 * DAY }],
      [delivery(10, 'e'), { delivered: false, at: LATER + 1 * DAY, error: 'HTTP 503', retryAt: LATER + 2 * DAY }],
      [delivery(11, 'e'), { delivered: true, at: LATER + 2 * DAY }],
    ];
    expect(await budgets.recordCrossing('prune', 0, { threshold: 50, crossed_at: LATER, spend_nanos: 5e8 }, plan.map(([d]) => d), LATER)).toBe(true);
    const claimed = await budgets.claimDeliveries(LATER, LATER + DAY, 20);
    expect(claimed).toHaveLength(plan.length);
    for (const [d, outcome] of plan) {
      if (outcome) await budgets.finishDelivery(claimed.find((c) => c.delivery_id === d.delivery_id)!.seq, outcome);
    }
    const failing = await budgets.failingTargets();
    expect(failing.map((f) => f.target_key)).toEqual(['prune slack b']);

    const remaining = async () => (await runSql(svc.databaseUrl, 'SELECT delivery_id FROM budget_outbox ORDER BY seq')).map((r) => r.delivery_id);
    expect(await budgets.pruneDeliveries(LATER)).toBe(0);
    expect(await budgets.pruneDeliveries(LATER + 10 * DAY)).toBe(3);
    expect(await remaining()).toEqual(['d3', 'd5', 'd6', 'd7', 'd8', 'd9', 'd10', 'd11']);
    expect(await budgets.failingTargets()).toEqual(failing);
    expect(await budgets.pruneDeliveries(LATER + 100 * DAY)).toBe(1);
    expect(await remaining()).toEqual(['d3', 'd5', 'd6', 'd7', 'd9', 'd10', 'd11']);
    expect(await budgets.failingTargets()).toEqual(failing);
  });
});
