import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvaluatorThread } from '../../src/budgets/evaluator-main.js';
import { loadConfig } from '../../src/config.js';
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

describe('the evaluator thread from its start, and after it ends on its own (a crash)', () => {
  let svc: TestService;
  const budget = (id: string) => ({ id, name: id, scope: { project: ['atlas'] }, window: 'day' as const, tz: 'UTC', limit_nanos: 1e9, thresholds: [50], targets: [] });
  beforeAll(async () => {
    svc = await startTestService();
    await svc.store.budgets.save(budget('first'));
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('answers a check made before it started, is replaced by a new one that goes on evaluating, and stopping still returns', async () => {
    const config = loadConfig({ DATABASE_URL: svc.databaseUrl, BUDGET_EVALUATE_MS: '100' });
    const evaluator = new EvaluatorThread(config, svc.store.budgets, () => {});
    // The thread is private to the evaluator: the test ends it from outside, as a crash would.
    const thread = () => (evaluator as unknown as { worker?: Worker }).worker;
    const evaluated = async () => ((await evaluator.statuses()) ?? []).map((s) => s.budget.id).sort();
    try {
      // A check made before the first look at the budgets is answered once the thread has evaluated.
      const early = evaluated();
      evaluator.start();
      expect(await early).toEqual(['first']);
      const crashed = thread()!;
      await crashed.terminate();
      await until(() => thread() !== undefined && thread() !== crashed, 'a new thread');
      await svc.store.budgets.save(budget('second'));
      await until(async () => (await evaluated()).includes('second'), 'an evaluation by the new thread');
    } finally {
      await evaluator.stop();
    }
  });

  it('says the statuses are not known when its thread ends before a first evaluation, rather than answer "no budgets"', async () => {
    const config = loadConfig({ DATABASE_URL: svc.databaseUrl, BUDGET_EVALUATE_MS: '60000' });
    const evaluator = new EvaluatorThread(config, svc.store.budgets, () => {});
    const thread = () => (evaluator as unknown as { worker?: Worker }).worker;
    try {
      evaluator.start();
      // Ended as soon as it exists: long before it has opened the database.
      while (!thread()) await new Promise((resolve) => setImmediate(resolve));
      await thread()!.terminate();
      expect(await evaluator.statuses()).toBeNull();
    } finally {
      await evaluator.stop();
    }
  });
});
