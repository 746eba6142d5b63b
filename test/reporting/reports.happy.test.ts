import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

describe.each(BACKENDS)('on %s', (backend) => {
  let svc: TestService;
  const NOW = Date.UTC(2026, 10, 20, 12);

  const e = (id: string, day: number, over: Record<string, unknown>) => ({
    id, timestamp: Date.UTC(2026, 10, day, 10), agent_id: 'planner', model: 'gpt-4o', input_tokens: 100, output_tokens: 10, cost_usd: 0.001, ...over,
  });
  const EVENTS = [
    e('1', 2, { project: 'atlas', provider: 'openai', task_label: 'triage', run_id: 'r1', operation: 'chat' }),
    e('2', 2, { project: 'atlas', agent_id: 'coder', model: 'claude-sonnet-4-5', provider: 'anthropic', run_id: 'r1', input_tokens: 300, cost_usd: 0.004 }),
    e('3', 9, { project: 'borealis', agent_id: 'coder', provider: 'openai', task_label: 'refactor', run_id: 'r2', status: 'error' }),
    e('4', 16, { project: 'borealis', model: 'gemini-2.5-flash', provider: 'google', operation: 'embeddings', cost_usd: 0.0005 }),
    e('5', 16, { timestamp: '2026-11-16T23:30:00Z', model: 'in-house-llm', cost_usd: undefined }),
    e('old', 1, { timestamp: '2026-10-31T23:59:59Z', project: 'atlas' }),
  ];

  beforeAll(async () => {
    svc = await startTestService({ backend, now: () => NOW });
    const res = await svc.ingest('/v1/usage', { events: EVENTS });
    expect(await res.json()).toMatchObject({ accepted: 6 });
  });
  afterAll(() => svc.close());

  async function groups(query: string) {
    const { status, body } = await svc.report(`/v1/reports/usage?${query}`);
    expect(status, JSON.stringify(body)).toBe(200);
    return { source: body.source, rows: body.groups.map((g: any) => [g.key, g.events]), body };
  }

  describe('GET /v1/reports/usage', () => {
    it('defaults to the current UTC month and says so', async () => {
      const { body } = await groups('');
      expect(body).toMatchObject({ from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', source: 'rollup' });
      expect(body.totals).toMatchObject({ events: 5, input_tokens: 700, output_tokens: 50, total_tokens: 750, cost_usd: 0.0065, cost_reported_usd: 0.0065, cost_computed_usd: 0, unpriced_events: 1 });
      expect(body.groups).toEqual([]);
      expect(body.unpriced_models).toEqual([{ model: 'in-house-llm', provider: null, events: 1, input_tokens: 100, output_tokens: 10 }]);
      expect(body.unpriced_models_rest).toBeNull();
    });

    it('lists the 50 unpriced models with the most events and sums the rest', async () => {
      // In December, so the other tests' month is untouched.
      const events = Array.from({ length: 60 }, (_, i) => Array.from({ length: i < 50 ? 2 : 1 }, (__, j) =>
        e(`u${i}-${j}`, 1, { timestamp: Date.UTC(2026, 11, 1, 10), model: `private-${String(i).padStart(2, '0')}`, cost_usd: undefined }))).flat();
      expect(await (await svc.ingest('/v1/usage', { events })).json()).toMatchObject({ accepted: 110 });
      const { body } = await groups('from=2026-12-01&to=2027-01-01');
      expect(body.unpriced_models.map((m: any) => [m.model, m.events])).toEqual(Array.from({ length: 50 }, (_, i) => [`private-${String(i).padStart(2, '0')}`, 2]));
      expect(body.unpriced_models_rest).toEqual({ events: 10, input_tokens: 1000, output_tokens: 100 });
    });

    it('groups and filters by cost source', async () => {
      const { rows, source } = await groups('group_by=cost_source&order=events');
      expect(rows).toEqual([[{ cost_source: 'reported' }, 4], [{ cost_source: 'unpriced' }, 1]]);
      expect(source).toBe('raw');
    });

    it.each([
      ['project', [[{ project: 'atlas' }, 2], [{ project: 'borealis' }, 2], [{ project: 'default' }, 1]], 'rollup'],
      ['agent', [[{ agent: 'coder' }, 2], [{ agent: 'planner' }, 3]], 'rollup'],
      ['provider', [[{ provider: null }, 1], [{ provider: 'anthropic' }, 1], [{ provider: 'google' }, 1], [{ provider: 'openai' }, 2]], 'rollup'],
      ['task', [[{ task: null }, 3], [{ task: 'refactor' }, 1], [{ task: 'triage' }, 1]], 'rollup'],
      ['run', [[{ run: null }, 2], [{ run: 'r1' }, 2], [{ run: 'r2' }, 1]], 'raw'],
      ['operation', [[{ operation: null }, 3], [{ operation: 'chat' }, 1], [{ operation: 'embeddings' }, 1]], 'raw'],
      ['status', [[{ status: 'error' }, 1], [{ status: 'ok' }, 4]], 'raw'],
      ['day', [[{ day: '2026-11-02' }, 2], [{ day: '2026-11-09' }, 1], [{ day: '2026-11-16' }, 2]], 'rollup'],
      ['week', [[{ week: '2026-11-02' }, 2], [{ week: '2026-11-09' }, 1], [{ week: '2026-11-16' }, 2]], 'rollup'],
      ['month', [[{ month: '2026-11' }, 5]], 'rollup'],
      ['hour', [[{ hour: '2026-11-02T10:00:00Z' }, 2], [{ hour: '2026-11-09T10:00:00Z' }, 1], [{ hour: '2026-11-16T10:00:00Z' }, 1], [{ hour: '2026-11-16T23:00:00Z' }, 1]], 'raw'],
    ])('groups by %s', async (by, expected, source) => {
      const { rows, source: used } = await groups(`group_by=${by}&order=events:asc`);
      expect(rows.sort((a: any, b: any) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0])))).toEqual(
        [...expected].sort((a: any, b: any) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0]))),
      );
      expect(used).toBe(source);
    });

    it('groups by several dimensions at once', async () => {
      const { rows } = await groups('group_by=project,model&order=events');
      expect(rows).toContainEqual([{ project: 'atlas', model: 'claude-sonnet-4-5' }, 1]);
      expect(rows).toHaveLength(5);
    });

    it.each([
      ['project=atlas', 2, 'rollup'],
      ['project=atlas,borealis', 4, 'rollup'],
      ['project=atlas&project=default', 3, 'rollup'],
      ['agent=coder', 2, 'rollup'],
      ['agent_id=coder', 2, 'rollup'],
      ['model=gpt-4o', 2, 'rollup'],
      ['provider=openai', 2, 'rollup'],
      ['task=triage', 1, 'rollup'],
      ['run=r1', 2, 'raw'],
      ['run_id=r1', 2, 'raw'],
      ['operation=embeddings', 1, 'raw'],
      ['status=error', 1, 'raw'],
      ['from=2026-11-09&to=2026-11-16', 1, 'rollup'],
      ['from=2026-11-16T12:00:00Z&to=2026-11-17', 1, 'raw'],
      ['from=2026-10-01&to=2026-11-01', 1, 'rollup'],
    ])('filters with %s', async (query, events, source) => {
      const { body } = await groups(query);
      expect(body.totals.events).toBe(events);
      expect(body.source).toBe(source);
    });

    it('folds the groups past the limit into one "other" group', async () => {
      const { body } = await groups('group_by=model&limit=1&order=cost_usd');
      expect(body.groups).toHaveLength(2);
      expect(body.groups[0]).toMatchObject({ key: { model: 'claude-sonnet-4-5' }, cost_usd: 0.004 });
      expect(body.groups[1]).toMatchObject({ key: { model: '(other)' }, other: true, events: 4, cost_usd: 0.0025 });
    });

    it('orders by the computed part of the cost, from the rollup and from raw events', async () => {
      // In September, so the other tests' months are untouched: a reported cost has no computed part.
      const september = (id: string, agent: string, over: Record<string, unknown>) =>
        e(id, 1, { timestamp: Date.UTC(2026, 8, 10), agent_id: agent, run_id: agent, cost_usd: undefined, ...over });
      const events = [
        september('s1', 'alpha', { input_tokens: 1_000_000 }),
        september('s2', 'beta', { cost_usd: 50 }),
        september('s3', 'gamma', { input_tokens: 1_000 }),
      ];
      expect(await (await svc.ingest('/v1/usage', { events })).json()).toMatchObject({ accepted: 3 });
      for (const by of ['agent', 'run']) {
        const { rows, body } = await groups(`from=2026-09-01&to=2026-10-01&group_by=${by}&order=cost_computed_usd`);
        expect(rows.map(([key]: [Record<string, string>]) => key[by]), by).toEqual(['alpha', 'gamma', 'beta']);
        expect(body.source).toBe(by === 'agent' ? 'rollup' : 'raw');
        const asc = await groups(`from=2026-09-01&to=2026-10-01&group_by=${by}&order=cost_computed_usd:asc&limit=1`);
        expect(asc.body.groups.map((g: any) => [g.key[by], g.cost_computed_usd > 0])).toEqual([['beta', false], ['(other)', true]]);
      }
    });

    it('answers CSV with a header and quoted values', async () => {
      const res = await fetch(`${svc.reportingUrl}/v1/reports/usage?group_by=model&format=csv&order=events`);
      expect(res.headers.get('content-type')).toMatch(/text\/csv/);
      const lines = (await res.text()).trim().split('\n');
      expect(lines[0]).toBe('model,events,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,total_tokens,cost_usd,cost_reported_usd,cost_computed_usd,unpriced_events');
      expect(lines[1]).toMatch(/^gpt-4o,2,200,20,/);
    });
  });

  describe('GET /v1/events', () => {
    it('pages through the events of a run, newest first', async () => {
      const first = await svc.report('/v1/events?run_id=r1&limit=1');
      expect(first.body.events.map((x: any) => x.id)).toEqual(['2']);
      expect(first.body.next_cursor).toEqual(expect.any(String));
      const second = await svc.report(`/v1/events?run_id=r1&limit=1&cursor=${first.body.next_cursor}`);
      expect(second.body.events.map((x: any) => x.id)).toEqual(['1']);
      expect(second.body.next_cursor).toBeNull();
    });

    it('filters by agent and model', async () => {
      const { body } = await svc.report('/v1/events?agent=coder&model=gpt-4o');
      expect(body.events.map((x: any) => x.id)).toEqual(['3']);
      expect(body.events[0]).toMatchObject({ project: 'borealis', task_label: 'refactor', status: 'error', cost_usd: 0.001, cost_source: 'reported' });
    });
  });

  describe('GET /api/usage (the original aggregate)', () => {
    it('totals and groups with camelCase names', async () => {
      const { body } = await svc.report('/api/usage?group_by=model&from_date=2026-11-01&to_date=2026-11-30');
      expect(body).toMatchObject({ totalInputTokens: 700, totalOutputTokens: 50, totalCostUsd: 0.0065, recordCount: 5 });
      expect(body.groups[0]).toEqual({ groupKey: 'claude-sonnet-4-5', totalInputTokens: 300, totalOutputTokens: 10, totalCostUsd: 0.004, recordCount: 1 });
    });

    it('filters by agent_id and takes to_date as inclusive', async () => {
      const { body } = await svc.report('/api/usage?group_by=day&agent_id=planner&from_date=2026-11-02&to_date=2026-11-16');
      expect(body.groups.map((g: any) => [g.groupKey, g.recordCount])).toEqual([['2026-11-02', 1], ['2026-11-16', 2]]);
    });
  });

  describe('GET /v1/stats/current-month', () => {
    it('gives month-to-date figures, global and per project', async () => {
      const { body } = await svc.report('/v1/stats/current-month');
      expect(body.month).toBe('2026-11');
      expect(body.global).toMatchObject({ events: 5, cost_usd: 0.0065 });
      expect(body.projects.map((p: any) => [p.project, p.events])).toEqual([['atlas', 2], ['borealis', 2], ['default', 1]]);
    });
  });
});
