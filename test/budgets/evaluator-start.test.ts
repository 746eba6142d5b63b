import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';
import { metricValue, until } from '../support/wait.js';

const evaluations = async (svc: TestService) => (await metricValue(svc.collectorUrl, 'tokentally_budget_evaluations_total')) ?? 0;

describe.each(BACKENDS)('the budget evaluator on %s', (backend) => {
  let svc: TestService;
  /** The counter is the process's, which earlier services in this file have counted on. */
  let before: number;
  beforeAll(async () => {
    svc = await startTestService({ backend, env: { BUDGET_EVALUATE_MS: '100' } });
    before = await evaluations(svc);
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('evaluates nothing while no budget exists, and starts within an interval once one does', async () => {
    const none = await fetch(`${svc.collectorUrl}/v1/budgets/check?project=atlas`);
    expect(await none.json()).toEqual({ state: 'ok', budgets: [] });
    // The check waits for the first look at the budgets: with a thread, that is its first evaluation.
    expect(await evaluations(svc)).toBe(before);

    const put = await fetch(`${svc.reportingUrl}/v1/budgets/daily`, {
      method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scope: { project: 'atlas' }, window: 'day', limit_usd: 1, thresholds: [50] }),
    });
    expect(put.status).toBe(201);
    await until(async () => (await evaluations(svc)) > before, 'a first evaluation');
    const check = (await (await fetch(`${svc.collectorUrl}/v1/budgets/check?project=atlas`)).json()) as { budgets: { budget_id: string }[] };
    expect(check.budgets.map((b) => b.budget_id)).toEqual(['daily']);
  });
});
