import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomEvent, rng } from '../support/random.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

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
