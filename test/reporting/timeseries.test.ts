import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomEvent, rng } from '../support/random.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';
import { plan } from '../../src/store/planner.js';
import type { Dimension } from '../../src/store/types.js';

describe.each(BACKENDS)('on %s', (backend) => {
  let svc: TestService;
  const NOW = Date.UTC(2026, 10, 20, 12);
  const ev = (id: string, iso: string, over: Record<string, unknown> = {}) => ({ id, timestamp: iso, agent_id: 'a', model: 'gpt-4o', input_tokens: 10, output_tokens: 1, cost_usd: 0.5, ...over });

  beforeAll(async () => {
    svc = await startTestService({ backend, now: () => NOW });
    await svc.ingest('/v1/usage', {
      events: [
        ev('1', '2026-11-02T10:00:00Z'),
        ev('2', '2026-11-02T03:00:00Z', { model: 'o3' }),
        ev('3', '2026-11-04T12:00:00Z', { model: 'o3', cost_usd: 2 }),
        // Around the end of DST in New York (2026-11-01 06:00Z): 01:30 EDT, then 01:30 EST.
        ev('4', '2026-11-01T05:30:00Z', { project: 'ny' }),
        ev('5', '2026-11-01T06:30:00Z', { project: 'ny' }),
        ev('6', '2026-10-31T23:30:00Z', { project: 'tokyo' }),
        // Pairs by project × model: the top two (p-a × gpt-4o, p-b × o3) and the other combinations of their values.
        ev('p1', '2026-08-03T10:00:00Z', { project: 'p-a', model: 'gpt-4o', cost_usd: 10 }),
        ev('p2', '2026-08-03T11:00:00Z', { project: 'p-b', model: 'o3', cost_usd: 9 }),
        ev('p3', '2026-08-04T10:00:00Z', { project: 'p-a', model: 'o3', cost_usd: 1 }),
        ev('p4', '2026-08-04T11:00:00Z', { project: 'p-b', model: 'gpt-4o', cost_usd: 1 }),
        ev('p5', '2026-08-04T12:00:00Z', { project: 'p-c', model: 'gpt-4o', cost_usd: 0.5 }),
      ],
    });
  });
  afterAll(() => svc.close());

  describe('GET /v1/reports/timeseries', () => {
    it('zero-fills every bucket of the range, one series per group, highest cost first', async () => {
      const { status, body } = await svc.report('/v1/reports/timeseries?interval=day&from=2026-11-02&to=2026-11-05&group_by=model');
      expect(status).toBe(200);
      expect(body.buckets).toEqual(['2026-11-02', '2026-11-03', '2026-11-04']);
      expect(body.source).toBe('rollup');
      expect(body.series.map((s: any) => [s.key.model, s.points.map((p: any) => p.events)])).toEqual([['o3', [1, 0, 1]], ['gpt-4o', [1, 0, 0]]]);
      expect(body.series[0].points[2]).toMatchObject({ bucket: '2026-11-04', cost_usd: 2, input_tokens: 10 });
    });

    it('folds series past the limit into "(other)"', async () => {
      const { body } = await svc.report('/v1/reports/timeseries?interval=month&from=2026-10-01&to=2026-12-01&group_by=project&limit=1');
      expect(body.buckets).toEqual(['2026-10', '2026-11']);
      expect(body.series.map((s: any) => [s.key.project, s.other ?? false, s.points.map((p: any) => p.events)])).toEqual([
        ['default', false, [0, 3]],
        ['(other)', true, [1, 2]],
      ]);
    });

    it.each([
      ['day', 'from=2026-08-03&to=2026-08-05', 'rollup', [['2026-08-03', 10]], [['2026-08-03', 9]], [['2026-08-04', 2.5]]],
      ['hour', 'from=2026-08-03T10:00:00Z&to=2026-08-04T13:00:00Z', 'raw', [['2026-08-03T10:00:00Z', 10]], [['2026-08-03T11:00:00Z', 9]],
        [['2026-08-04T10:00:00Z', 1], ['2026-08-04T11:00:00Z', 1], ['2026-08-04T12:00:00Z', 0.5]]],
    ])('by two dimensions, by %s, the other pairs of the top values go to "(other)", not to a top pair', async (interval, range, source, pa, pb, other) => {
      const { body } = await svc.report(`/v1/reports/timeseries?interval=${interval}&${range}&group_by=project,model&limit=2`);
      expect(body.source).toBe(source);
      const nonZero = (s: any) => s.points.filter((p: any) => p.cost_usd > 0).map((p: any) => [p.bucket, p.cost_usd]);
      expect(body.series.map((s: any) => [s.key, nonZero(s)])).toEqual([
        [{ project: 'p-a', model: 'gpt-4o' }, pa],
        [{ project: 'p-b', model: 'o3' }, pb],
        [{ project: '(other)', model: '(other)' }, other],
      ]);
      expect(body.totals.cost_usd).toBe(21.5);
    });

    it('a store read by key tuples gives exactly those groups', async () => {
      const from = Date.UTC(2026, 7, 3);
      const to = Date.UTC(2026, 7, 5);
      const filters = { project: ['p-a', 'p-b'], model: ['gpt-4o', 'o3'] };
      for (const groupBy of [['project', 'model'], ['day', 'project', 'model'], ['hour', 'project', 'model']] as const) {
        const tuples = { dimensions: ['model', 'project'] as Dimension[], values: [['gpt-4o', 'p-a'], ['o3', 'p-b'], ['o3', 'nowhere']] };
        const result = await svc.store.aggregate(plan({ groupBy: [...groupBy], filters, tuples, from, to, order: null, limit: null }));
        expect(result.groups.map((g) => [g.key.project, g.key.model, g.metrics.events]), groupBy.join()).toEqual([['p-a', 'gpt-4o', 1], ['p-b', 'o3', 1]]);
      }
      const none = await svc.store.aggregate(plan({ groupBy: ['project', 'model'], filters, tuples: { dimensions: ['project', 'model'], values: [] }, from, to, order: null, limit: null }));
      expect(none.groups).toEqual([]);
    });

    it('buckets by local days of the zone in tz, from raw events', async () => {
      const { body } = await svc.report('/v1/reports/timeseries?interval=day&from=2026-11-01&to=2026-11-03&tz=Asia/Tokyo');
      expect(body).toMatchObject({ source: 'raw', tz: 'Asia/Tokyo', from: '2026-10-31T15:00:00Z', to: '2026-11-02T15:00:00Z' });
      expect(body.series[0].points.map((p: any) => [p.bucket, p.events])).toEqual([['2026-11-01', 3], ['2026-11-02', 2]]);
    });

    it('labels hours with their offset, so the repeated hour at the end of DST stays two buckets', async () => {
      const { body } = await svc.report('/v1/reports/timeseries?interval=hour&from=2026-11-01T05:00:00Z&to=2026-11-01T07:00:00Z&tz=America/New_York');
      expect(body.series[0].points.map((p: any) => [p.bucket, p.events])).toEqual([
        ['2026-11-01T01:00:00-04:00', 1],
        ['2026-11-01T01:00:00-05:00', 1],
      ]);
    });

    it.each([
      ['interval=fortnight', /^interval: /],
      ['tz=Mars/Olympus', /^tz: "Mars\/Olympus" is not an IANA time zone/],
      ['group_by=day', /^group_by: unknown dimension "day"/],
      ['interval=hour&from=2020-01-01&to=2026-01-01', /^interval: more than 10000 hour buckets/],
    ])('%s → 400 naming the parameter', async (query, message) => {
      const { status, body } = await svc.report(`/v1/reports/timeseries?${query}`);
      expect(status).toBe(400);
      expect(body.error.message).toMatch(message);
    });
  });

  describe('current-month stats in a zone', () => {
    it('uses the month boundaries of tz', async () => {
      const utc = await svc.report('/v1/stats/current-month');
      const tokyo = await svc.report('/v1/stats/current-month?tz=Asia/Tokyo');
      expect(utc.body.global.events).toBe(5);
      expect(tokyo.body).toMatchObject({ month: '2026-11', tz: 'Asia/Tokyo' });
      expect(tokyo.body.global.events).toBe(6);
    });
  });

  describe('local buckets agree with an independent Intl oracle', () => {
    const ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham'];

    function oracleDay(zone: string, ms: number): string {
      const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(ms).map((p) => [p.type, p.value]));
      return `${parts.year}-${parts.month}-${parts.day}`;
    }

    it('counts every event in the local day Intl gives it, for random zones and events', async () => {
      const r = rng(7);
      const local = await startTestService({ backend, now: () => NOW });
      try {
        const events = Array.from({ length: 600 }, (_, i) => ({ ...randomEvent(r, 1e9), id: `z${i}`, timestamp: Date.UTC(2026, 2, 1) + r.int(0, 240 * 86_400_000) }));
        await local.ingest('/v1/usage', { events });
        for (const zone of ZONES) {
          const { body } = await local.report(`/v1/reports/timeseries?interval=day&from=2026-03-01&to=2026-11-01&tz=${zone}`);
          const expected = new Map<string, number>();
          for (const e of events) {
            const ms = e.timestamp as number;
            const day = oracleDay(zone, ms);
            if (day >= '2026-03-01' && day < '2026-11-01') expected.set(day, (expected.get(day) ?? 0) + 1);
          }
          const got = new Map(body.series[0].points.filter((p: any) => p.events > 0).map((p: any) => [p.bucket, p.events]));
          expect(got, zone).toEqual(expected);
        }
      } finally {
        await local.close();
      }
    });
  });
});
