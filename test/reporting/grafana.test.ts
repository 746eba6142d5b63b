import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

describe.each(BACKENDS)('on %s', (backend) => {
  let svc: TestService;
  const NOW = Date.UTC(2026, 10, 20, 12);
  const ev = (id: string, day: number, model: string, cost: number, project = 'atlas') => ({
    id, timestamp: Date.UTC(2026, 10, day, 9), agent_id: 'planner', project, model, input_tokens: 100, output_tokens: 10, cost_usd: cost,
  });

  beforeAll(async () => {
    svc = await startTestService({ backend, now: () => NOW });
    await svc.ingest('/v1/usage', {
      events: [ev('1', 2, 'gpt-4o', 1), ev('2', 2, 'gemini-2.5-flash', 0.25), ev('3', 3, 'gpt-4o', 2, 'borealis'), ev('4', 5, 'o3', 4)],
    });
  });
  afterAll(() => svc.close());

  async function post(path: string, body: unknown) {
    const res = await fetch(`${svc.reportingUrl}/grafana${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  }

  /** A /query body as the plugin sends it, with the extra fields Grafana adds. */
  const queryBody = (targets: unknown[], extra: Record<string, unknown> = {}) => ({
    app: 'dashboard', requestId: 'Q100', timezone: 'browser', panelId: 2, dashboardUID: 'abc', interval: '1d', intervalMs: 86_400_000,
    maxDataPoints: 1000, startTime: NOW, scopedVars: { __interval: { text: '1d', value: '1d' } },
    range: { from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z', raw: { from: 'now-7d', to: 'now' } },
    targets: targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), datasource: { type: 'simpod-json-datasource', uid: 'x' }, editorMode: 'builder', ...(t as object) })),
    ...extra,
  });

  describe('Grafana JSON datasource protocol', () => {
    it('answers the connection test on /grafana and /grafana/', async () => {
      expect((await fetch(`${svc.reportingUrl}/grafana`)).status).toBe(200);
      expect((await fetch(`${svc.reportingUrl}/grafana/`)).status).toBe(200);
    });

    it('lists metrics with their payload options, for {} and for {metric, payload}', async () => {
      for (const body of [{}, { metric: 'cost_usd', payload: {} }]) {
        const { status, body: metrics } = await post('/metrics', body);
        expect(status).toBe(200);
        expect(metrics).toContainEqual(expect.objectContaining({ value: 'cost_usd', label: 'Cost (USD)' }));
        const groupBy = metrics[0].payloads.find((p: any) => p.name === 'group_by');
        expect(groupBy).toMatchObject({ type: 'multi-select', options: expect.arrayContaining([{ value: 'model', label: 'model' }]) });
      }
    });

    it('answers metric-payload-options with [{value, label}]', async () => {
      const { body } = await post('/metric-payload-options', { metric: 'cost_usd', payload: {}, name: 'format' });
      expect(body).toEqual([{ value: 'timeseries', label: 'Time series' }, { value: 'table', label: 'Table' }]);
    });

    it('answers a query with a bare array of ascending time series, one per group', async () => {
      const { status, body } = await post('/query', queryBody([{ target: 'cost_usd', payload: { group_by: ['model'] } }]));
      expect(status).toBe(200);
      expect(Array.isArray(body)).toBe(true);
      const byName = Object.fromEntries(body.map((s: any) => [s.target, s.datapoints]));
      expect(byName).toEqual({
        'gemini-2.5-flash': [[0.25, Date.UTC(2026, 10, 2)]],
        'gpt-4o': [[1, Date.UTC(2026, 10, 2)], [2, Date.UTC(2026, 10, 3)]],
        o3: [[4, Date.UTC(2026, 10, 5)]],
      });
    });

    it('takes interpolated, regex-escaped variables in the payload', async () => {
      const { body } = await post('/query', queryBody([{ target: 'events', payload: { model: '(gemini-2\\.5-flash|o3)' } }]));
      expect(body).toEqual([{ refId: 'A', target: 'events', datapoints: [[1, Date.UTC(2026, 10, 2)], [1, Date.UTC(2026, 10, 5)]] }]);
    });

    it.each([
      ['filters', [{ key: 'project', operator: '=', value: 'borealis', condition: '' }], 2],
      ['filters', [{ key: 'model', operator: '=~', value: 'gpt.*' }], 3],
      ['filters', [{ key: 'model', operator: '!~', value: 'gpt.*' }], 4.25],
      ['filters', [{ key: 'model', operator: '!=', value: 'o3' }], 3.25],
      ['filters', [{ key: 'model', operator: '=|', values: ['o3', 'gemini-2.5-flash'] }], 4.25],
      ['adhocFilters', [{ key: 'project', operator: '=', value: 'atlas' }], 5.25],
      ['filters', [{ key: 'model', operator: '=~', value: 'nothing-matches' }], 0],
    ])('applies ad hoc filters sent in %s: %j', async (field, filters, cost) => {
      const { body } = await post('/query', queryBody([{ target: 'cost_usd', payload: { format: 'table' } }], { [field]: filters }));
      expect(body).toEqual([{ refId: 'A', type: 'table', columns: [{ text: 'cost_usd', type: 'number' }], rows: [[cost]] }]);
    });

    it('answers tables grouped as asked', async () => {
      const { body } = await post('/query', queryBody([{ target: 'cost_usd', payload: { format: 'table', group_by: ['project'] } }]));
      expect(body[0]).toMatchObject({ type: 'table', columns: [{ text: 'project', type: 'string' }, { text: 'cost_usd', type: 'number' }], rows: [['atlas', 5.25], ['borealis', 2]] });
    });

    it('picks hour buckets for a short range', async () => {
      const { body } = await post('/query', queryBody([{ target: 'events', payload: {} }], { intervalMs: 60_000, range: { from: '2026-11-02T00:00:00Z', to: '2026-11-03T00:00:00Z' } }));
      expect(body[0].datapoints).toEqual([[2, Date.UTC(2026, 10, 2, 9)]]);
    });

    it('answers variable queries with __text/__value pairs', async () => {
      const { body } = await post('/variable', { payload: { target: 'model' }, range: { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', raw: {} } });
      expect(body).toEqual(['gemini-2.5-flash', 'gpt-4o', 'o3'].map((v) => ({ __text: v, __value: v })));
    });

    it('answers tag-keys and tag-values for ad hoc filters', async () => {
      expect((await post('/tag-keys', {})).body).toContainEqual({ type: 'string', text: 'model' });
      expect((await post('/tag-values', { key: 'project' })).body).toEqual([{ text: 'atlas' }, { text: 'borealis' }]);
    });

    it.each([
      ['/query', { targets: [] }, /^range: /],
      ['/query', queryBody([{ target: 'price' }]), /^targets\[\]\.target: "price"/],
      ...['__proto__', 'toString', 'constructor'].map((name) => ['/query', queryBody([{ target: name }]), new RegExp(`^targets\\[\\]\\.target: "${name}" is not one of`)] as const),
      ['/query', queryBody([{ target: 'events', payload: { group_by: ['colour'] } }]), /group_by: unknown dimension "colour"/],
      ['/query', queryBody([{ target: 'events' }], { filters: [{ key: 'model', operator: '=~', value: '(' }] }), /^filters\[0\]\.value: "\(" is not a regular expression RE2 accepts/],
      ['/variable', { payload: { target: 'colour' } }, /^payload.target: "colour"/],
      ['/tag-values', { key: 'colour' }, /^key: "colour"/],
    ])('%s with a bad body → 400 naming the field', async (path, body, message) => {
      const res = await post(path, body);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
      // What Grafana's toDataQueryError shows in the panel.
      expect(res.body.message).toBe(res.body.error.message);
    });
  });

  describe('the dashboard shipped in docs/grafana', () => {
    it('every panel query of the dashboard JSON is answered', async () => {
      const { readFileSync } = await import('node:fs');
      const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana/tokentally-dashboard.json', import.meta.url), 'utf8'));
      // What Grafana sends after interpolating the variables at their "All" value.
      const interpolate = (payload: Record<string, unknown>) => JSON.parse(JSON.stringify(payload).replaceAll('"$project"', '".*"').replaceAll('"$model"', '".*"'));
      for (const panel of dashboard.panels) {
        const targets = panel.targets.map((t: any) => ({ ...t, payload: interpolate(t.payload) }));
        const { status, body } = await post('/query', queryBody(targets));
        expect(status, panel.title).toBe(200);
        expect(body.length, panel.title).toBeGreaterThan(0);
      }
    });
  });
});
