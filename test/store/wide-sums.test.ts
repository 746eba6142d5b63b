import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { MAX_LISTED_ERRORS } from '../../src/event/validate.js';
import { METRIC_NAMES, type AggregateQuery, type ExactMetrics, type Metrics } from '../../src/store/types.js';
import { usageRecord } from '../support/records.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

/**
 * Sums past every integer type's range stay exact: in the rollup rows, in reports from the rollup
 * and from raw events, in verify and rebuild-rollups, on both backends. The largest values the
 * schema allows are sent many times over HTTP; the 1,100 × (2^53 − 1), which the schema now
 * refuses but a database from before the caps may hold, is written to the store directly.
 */
const DAY = Date.UTC(2026, 10, 3);
const MAX_TOKENS = 1_000_000_000;
const ALL_TIME = { from: Date.UTC(2000, 0, 1), to: Date.UTC(2100, 0, 1) };
/** Metrics as the store answers them: numbers, and the sums past 2^53 − 1 exactly in `exact`. */
const exactMetrics = (sums: Record<keyof Metrics, bigint>): ExactMetrics => {
  const metrics = Object.fromEntries(METRIC_NAMES.map((m) => [m, Number(sums[m])])) as unknown as ExactMetrics;
  const exact = Object.fromEntries(METRIC_NAMES.filter((m) => sums[m] > BigInt(Number.MAX_SAFE_INTEGER)).map((m) => [m, sums[m]]));
  return Object.keys(exact).length ? { ...metrics, exact } : metrics;
};

describe.each(BACKENDS)('on %s, sums that overflow 64 bits', (backend) => {
  let svc: TestService;
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-prices-'));
  beforeAll(async () => {
    // A model at the price table's ceiling ($1,000,000 per million tokens): one event of the
    // largest counts costs 2 × 10^18 nano-dollars, computed.
    const prices = join(dir, 'prices.json');
    writeFileSync(prices, JSON.stringify({ prices: [{ provider: 'test', model: 'priciest', input: 1_000_000, output: 1_000_000 }] }));
    svc = await startTestService({ backend, env: { PRICES_FILE: prices } });
  });
  afterAll(async () => {
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const report = async (query: string) => {
    const { status, body } = await svc.report(`/v1/reports/usage?${query}`);
    expect(status, JSON.stringify(body)).toBe(200);
    return body;
  };

  it("refuses the issue's case, 1,100 events of 2^53 − 1 input tokens, per event with the field path", async () => {
    const events = Array.from({ length: 1100 }, (_, i) => ({ id: `huge-${i}`, agent_id: 'a', model: 'm', input_tokens: 2 ** 53 - 1 }));
    const res = await svc.ingest('/v1/usage', { events });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toMatchObject({ accepted: 0, rejected: 1100 });
    // The answer lists the first MAX_LISTED_ERRORS problems; `rejected` counts them all.
    expect(body.errors).toHaveLength(MAX_LISTED_ERRORS);
    expect(body.errors[99]).toEqual({ index: 99, path: 'events[99].input_tokens', message: expect.stringMatching(/at most 1,000,000,000/) });
    const cost = await svc.ingest('/v1/usage', { events: [{ agent_id: 'a', model: 'm', cost_usd: 1_000_001 }] });
    expect((await cost.json()).errors).toEqual([{ index: 0, path: 'events[0].cost_usd', message: expect.stringMatching(/at most 1,000,000/) }]);
  });

  it('the largest allowed events, 12,010 times: reported and computed costs past 2^64 nano-dollars stay exact', async () => {
    const largest = (i: number, over: object) => ({
      id: `max-${i}`, timestamp: DAY + i, agent_id: 'a', input_tokens: MAX_TOKENS, output_tokens: MAX_TOKENS,
      cache_read_tokens: MAX_TOKENS / 2, cache_write_tokens: MAX_TOKENS / 2, reasoning_tokens: MAX_TOKENS, ...over,
    });
    for (let start = 0; start < 12_000; start += 4000) {
      const events = Array.from({ length: 4000 }, (_, i) => largest(start + i, { model: 'm', cost_usd: 1_000_000 }));
      expect(await (await svc.ingest('/v1/usage', { events })).json()).toMatchObject({ accepted: 4000 });
    }
    const priced = Array.from({ length: 10 }, (_, i) => largest(20_000 + i, { model: 'priciest', provider: 'test', cache_read_tokens: 0, cache_write_tokens: 0 }));
    expect(await (await svc.ingest('/v1/usage', { events: priced })).json()).toMatchObject({ accepted: 10 });

    // 12,000 × 10^15 reported + 10 × 2 × 10^18 computed nano-dollars; every sum here is a double exactly.
    const totals = {
      events: 12_010, input_tokens: 12_010 * MAX_TOKENS, output_tokens: 12_010 * MAX_TOKENS, cache_read_tokens: 6_000 * MAX_TOKENS,
      cache_write_tokens: 6_000 * MAX_TOKENS, reasoning_tokens: 12_010 * MAX_TOKENS, total_tokens: 24_020 * MAX_TOKENS,
      cost_usd: 3.2e10, cost_reported_usd: 1.2e10, cost_computed_usd: 2e10, unpriced_events: 0,
    };
    const rollup = await report('from=2026-11-01&to=2026-12-01&group_by=model');
    expect(rollup).toMatchObject({ source: 'rollup', totals });
    expect(rollup.groups.map((g: any) => [g.key.model, g.events, g.cost_usd])).toEqual([['priciest', 10, 2e10], ['m', 12_000, 1.2e10]]);
    const raw = await report('from=2026-11-01&to=2026-12-01&group_by=run');
    expect(raw).toMatchObject({ source: 'raw', totals });
    const limited = await report('from=2026-11-01&to=2026-12-01&group_by=model&limit=1');
    expect(limited.groups.map((g: any) => [g.key.model, g.cost_usd])).toEqual([['priciest', 2e10], ['(other)', 1.2e10]]);
    const leastComputed = await report('from=2026-11-01&to=2026-12-01&group_by=model&order=cost_computed_usd:asc&limit=1');
    expect(leastComputed.groups.map((g: any) => [g.key.model, g.cost_usd, g.cost_computed_usd])).toEqual([['m', 1.2e10, 0], ['(other)', 2e10, 2e10]]);

    expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    await svc.store.rebuildRollups();
    expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    expect(await report('from=2026-11-01&to=2026-12-01&group_by=model')).toEqual(rollup);
  });

  it('the 1,100 × (2^53 − 1) a database from before the caps may hold: reports, verify, reprice and rebuild stay exact', async () => {
    const MAX = 2 ** 53 - 1;
    const huge = (i: number, over: Partial<UsageRecord>): UsageRecord => usageRecord(`old-${i}`, {
      input_tokens: MAX, output_tokens: MAX, cache_read_tokens: MAX, cache_write_tokens: MAX, reasoning_tokens: MAX,
      cost_nanos: MAX, cost_source: i % 2 ? 'reported' : 'computed', ...over,
    });
    // One rollup row of 1,000 (its sums carry past 2^62 there), another of 100.
    const records = [
      ...Array.from({ length: 1000 }, (_, i) => huge(i, { project: 'atlas', ts: Date.UTC(2030, 0, 1, 1) })),
      ...Array.from({ length: 100 }, (_, i) => huge(1000 + i, { project: 'borealis', ts: Date.UTC(2030, 0, 2, 1) })),
    ];
    for (let i = 0; i < records.length; i += 250) await svc.store.insertBatch(records.slice(i, i + 250));
    const sums = (n: bigint, computedCost: bigint) => exactMetrics({
      events: n, input_tokens: n * BigInt(MAX), output_tokens: n * BigInt(MAX), cache_read_tokens: n * BigInt(MAX),
      cache_write_tokens: n * BigInt(MAX), reasoning_tokens: n * BigInt(MAX),
      cost_nanos: (n / 2n) * BigInt(MAX) + (n / 2n) * computedCost, reported_cost_nanos: (n / 2n) * BigInt(MAX), unpriced_events: 0n,
    });
    const question = (over: Partial<AggregateQuery>): AggregateQuery => ({
      source: 'rollup', groupBy: ['project'], filters: { project: ['atlas', 'borealis'] }, ...ALL_TIME, order: { by: 'cost_nanos', dir: 'desc' }, limit: null, ...over,
    });
    const expectSums = async (computedCost: bigint) => {
      for (const source of ['rollup', 'raw'] as const) {
        const all = await svc.store.aggregate(question({ source }));
        expect(all.totals, source).toEqual(sums(1100n, computedCost));
        expect(all.groups, source).toEqual([
          { key: { project: 'atlas' }, metrics: sums(1000n, computedCost) },
          { key: { project: 'borealis' }, metrics: sums(100n, computedCost) },
        ]);
        // Ordered and cut by the limit, with the totals read on their own.
        const top = await svc.store.aggregate(question({ source, order: { by: 'total_tokens', dir: 'asc' }, limit: 1 }));
        expect(top).toEqual({ totals: sums(1100n, computedCost), groups: [{ key: { project: 'borealis' }, metrics: sums(100n, computedCost) }], more: true });
        const computed = await svc.store.aggregate(question({ source, order: { by: 'computed_cost_nanos', dir: 'desc' }, limit: 1 }));
        expect(computed.groups, source).toEqual([{ key: { project: 'atlas' }, metrics: sums(1000n, computedCost) }]);
      }
      expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    };

    await expectSums(BigInt(MAX));
    // A reprice lowers half the costs: the rollup's sums borrow back below 2^62.
    const repriced = await svc.store.reprice({ from: Date.UTC(2030, 0, 1), to: Date.UTC(2030, 0, 3), models: null }, (r) => {
      r.cost_nanos = 7;
      r.cost_source = 'computed';
    });
    expect(repriced).toEqual({ examined: 550, changed: 550 });
    await expectSums(7n);
    await svc.store.rebuildRollups();
    await expectSums(7n);
  });

  it('a rollup row just past 2^62 reads right, though what is left below 2^62 is small', async () => {
    const ts = Date.UTC(2030, 0, 5);
    const records = Array.from({ length: 512 }, (_, i) => usageRecord(`edge-${i}`, { project: 'cygnus', ts, input_tokens: 2 ** 53 - 1 }));
    await svc.store.insertBatch([...records, usageRecord('edge-last', { project: 'cygnus', ts, input_tokens: 522 })]);
    const { totals } = await svc.store.aggregate({
      source: 'rollup', groupBy: [], filters: { project: ['cygnus'] }, from: ts, to: ts + 86_400_000, order: null, limit: null,
    });
    expect(totals.input_tokens).toBe(Number(2n ** 62n + 10n));
    expect(totals.exact).toEqual({ input_tokens: 2n ** 62n + 10n });
    expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('every JSON answer and the CSV carry sums past 2^53 − 1 as their exact digits', async () => {
    const MAX = 2n ** 53n - 1n;
    // This month, so the month-to-date answers hold them too: 3 × MAX and 3 × (MAX − 2) input
    // tokens, neither a double, and orion costlier, so a limit of 1 folds pegasus into "(other)".
    const ts = Date.now();
    const records = ['orion', 'pegasus'].flatMap((project, p) => Array.from({ length: 3 }, (_, i) => usageRecord(`${project}-${i}`, {
      project, ts, input_tokens: Number(MAX - 2n * BigInt(p)), output_tokens: Number(MAX), cost_nanos: 1000 - p, cost_source: 'reported',
    })));
    await svc.store.insertBatch(records);
    const orion = { input: 3n * MAX, output: 3n * MAX };
    const pegasus = { input: 3n * (MAX - 2n), output: 3n * MAX };
    const both = { input: orion.input + pegasus.input, output: orion.output + pegasus.output };
    // The metrics a report gives for these sums, read from the JSON text (see exactJson).
    const metrics = (m: { input: bigint; output: bigint }) => ({
      events: 3 * (m === both ? 2 : 1), input_tokens: String(m.input), output_tokens: String(m.output), total_tokens: String(m.input + m.output),
    });
    const text = async (path: string, init?: RequestInit) => {
      const res = await fetch(svc.reportingUrl + path, init);
      const body = await res.text();
      expect(res.status, body).toBe(200);
      return body;
    };
    const json = async (path: string, init?: RequestInit) => exactParse(await text(path, init));
    const filter = 'project=orion&project=pegasus';

    for (const group of ['project', 'run']) {
      const report = await json(`/v1/reports/usage?group_by=${group}&${filter}&limit=1`);
      expect(report, group).toMatchObject({ source: group === 'run' ? 'raw' : 'rollup', totals: metrics(both) });
      if (group === 'project') {
        expect(report.groups).toMatchObject([{ key: { project: 'orion' }, ...metrics(orion) }, { key: { project: '(other)' }, other: true, ...metrics(pegasus) }]);
      }
    }
    const csv = await text(`/v1/reports/usage?group_by=project&${filter}&format=csv`);
    expect(csv.split('\n')[1]).toMatch(new RegExp(`^orion,3,${orion.input},${orion.output},0,0,0,${orion.input + orion.output},`));

    const series = await json(`/v1/reports/timeseries?interval=month&group_by=project&${filter}&limit=1`);
    expect(series.totals).toMatchObject(metrics(both));
    expect(series.series.map((s: any) => s.points[0])).toMatchObject([metrics(orion), metrics(pegasus)]);

    const day = new Date(ts).toISOString().slice(0, 10);
    const original = await json(`/api/usage?from_date=${day}&to_date=${day}&group_by=agent&${filter}`);
    expect(original).toMatchObject({ totalInputTokens: String(both.input), totalOutputTokens: String(both.output), recordCount: 6 });

    const stats = await json('/v1/stats/current-month');
    expect(stats.global).toEqual((await json('/v1/reports/usage')).totals);
    expect(stats.projects.filter((p: any) => ['orion', 'pegasus'].includes(p.project))).toMatchObject([
      { project: 'orion', ...metrics(orion) }, { project: 'pegasus', ...metrics(pegasus) },
    ]);
    const projects = await json('/v1/projects');
    expect(projects.projects.find((p: any) => p.id === 'orion').current_month).toMatchObject(metrics(orion));
    expect(await json('/v1/projects/pegasus')).toMatchObject({ current_month: metrics(pegasus) });

    const month = { from: new Date(ts - 86_400_000).toISOString(), to: new Date(ts + 86_400_000).toISOString() };
    const grafana = await json('/grafana/query', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ range: month, targets: [
        { refId: 'A', target: 'input_tokens', payload: { format: 'table', group_by: ['project'], project: 'orion' } },
        { refId: 'B', target: 'total_tokens', payload: { project: 'pegasus' } },
      ] }),
    });
    expect(grafana[0].rows).toEqual([['orion', String(orion.input)]]);
    expect(grafana[1].datapoints.map((d: any[]) => d[0])).toEqual([String(pegasus.input + pegasus.output)]);
  });
});

/** JSON.parse with the integers past 2^53 − 1 kept exact, as decimal strings. */
function exactParse(text: string): any {
  return JSON.parse(text.replace(/([:,[])(\d{16,})(?=[,\]}])/g, '$1"$2"'));
}
