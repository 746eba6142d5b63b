import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

/**
 * The Grafana datasource on a dimension of more values than it lists (100,001 runs), and queries
 * whose points pass the 400,000 of one answer (MAX_POINTS, shared by the targets of a query).
 */
const RUNS = 100_001;
const DAY = 86_400_000;
const START = Date.UTC(2026, 10, 2);

describe.each(BACKENDS)('on %s', (backend) => {
  let svc: TestService;

  beforeAll(async () => {
    svc = await startTestService({ backend, now: () => START + 3 * DAY });
    // One event per run, spread over two days of hours: 100,001 series of one point each.
    for (let first = 0; first < RUNS; first += 10_000) {
      const events = Array.from({ length: Math.min(10_000, RUNS - first) }, (_, i) => ({
        id: `e${first + i}`, timestamp: START + ((first + i) % 48) * 3_600_000 + 60_000, agent_id: 'planner', project: 'atlas',
        model: (first + i) % 2 ? 'gpt-4o' : 'o3', run_id: `run-${first + i}`, input_tokens: 10, output_tokens: 1, cost_usd: 0.5,
      }));
      const res = await svc.ingest('/v1/usage', { events });
      expect(res.status).toBe(200);
    }
  }, 120_000);
  afterAll(() => svc.close());

  async function post(path: string, body: unknown) {
    const res = await fetch(`${svc.reportingUrl}/grafana${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  }
  const range = { from: new Date(START).toISOString(), to: new Date(START + 2 * DAY).toISOString() };
  const query = (targets: unknown[], extra: Record<string, unknown> = {}) =>
    ({ range, intervalMs: 3_600_000, maxDataPoints: 1000, targets: targets.map((t, i) => ({ refId: `R${i}`, ...(t as object) })), ...extra });

  it('answers series by run from the rows that hold data, not series times buckets (100,001 × 48 hours)', async () => {
    const { status, body } = await post('/query', query([{ target: 'events', payload: { group_by: ['run'] } }]));
    expect(status).toBe(200);
    expect(body).toHaveLength(RUNS);
    const run7 = body.find((s: any) => s.target === 'run-7');
    expect(run7).toEqual({ refId: 'R0', target: 'run-7', datapoints: [[1, START + 7 * 3_600_000]] });
  }, 60_000);

  it('refuses the target whose points pass 400,000 with the points (and table rows) of the targets before, naming what to change', async () => {
    const series = { target: 'events', payload: { group_by: ['run'] } };
    const targets = [series, { target: 'events', payload: { group_by: ['run'], format: 'table' } }, { ...series, hide: true }, series, series];
    const { status, body } = await post('/query', query(targets));
    expect(status).toBe(400);
    expect(body.error.message).toMatch(
      /^targets\[4\]\.payload\.group_by, maxDataPoints, intervalMs, range: events by run has more than 99,997 points \(hour buckets with data in each series\) \(of 400,000 per query, the targets before took 300,003\); group by fewer/,
    );
  }, 60_000);

  it('refuses a table of more rows than are left of the 400,000, naming group_by and range', async () => {
    const targets = Array.from({ length: 4 }, () => ({ target: 'cost_usd', payload: { format: 'table', group_by: ['run'] } }));
    const { status, body } = await post('/query', query(targets));
    expect(status).toBe(400);
    expect(body.error.message).toMatch(/^targets\[3\]\.payload\.group_by, range: cost_usd by run has more than 99,997 rows .*; group by fewer dimensions or filter them, or ask for a shorter range$/);
  }, 60_000);

  it('answers a table of the costliest runs within the limit', async () => {
    const { status, body } = await post('/query', query([{ target: 'events', payload: { format: 'table', group_by: ['model'] } }]));
    expect(status).toBe(200);
    expect(body).toEqual([{ refId: 'R0', type: 'table', columns: [{ text: 'model', type: 'string' }, { text: 'events', type: 'number' }], rows: [['o3', 50_001], ['gpt-4o', 50_000]] }]);
  });

  it.each([
    ['/variable', { payload: { target: 'run' }, range }, /^payload\.target: run has more than 100,000 values in the range; /],
    ['/tag-values', { key: 'run', range }, /^key: run has more than 100,000 values in the range; /],
    ['/query', query([{ target: 'events' }], { filters: [{ key: 'run', operator: '=~', value: 'run-1.*' }] }), /^filters\[0\]\.key: run has more than 100,000 values in the range; .*filter with = or =\|/],
    ['/query', query([{ target: 'events' }], { adhocFilters: [{ key: 'run', operator: '!=', value: 'run-1' }] }), /^adhocFilters\[0\]\.key: run has more than 100,000 values/],
  ])('%s over a dimension of more than 100,000 values → 400 naming the field', async (path, body, message) => {
    const res = await post(path, body);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
  }, 60_000);

  it.each([
    [{ key: 'run', operator: '=', value: 'run-12' }, 1],
    [{ key: 'run', operator: '=|', values: ['run-12', 'run-13', 'run-none'] }, 2],
  ])('an ad hoc filter naming its values (%j) needs no list of the dimension\'s values', async (filter, events) => {
    const { status, body } = await post('/query', query([{ target: 'events', payload: { format: 'table' } }], { filters: [filter] }));
    expect(status).toBe(200);
    expect(body[0].rows).toEqual([[events]]);
  });

  it('lists the values of a dimension that has fewer than 100,000', async () => {
    expect((await post('/tag-values', { key: 'model', range })).body).toEqual([{ text: 'gpt-4o' }, { text: 'o3' }]);
  });
});
