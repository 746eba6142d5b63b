import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

describe.each(BACKENDS)('on %s', (backend) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ backend });
  });
  afterAll(() => svc.close());

  describe('bad report parameters are a 400 naming the parameter', () => {
    it.each([
      ['/v1/reports/usage?group_by=colour', /^group_by: unknown dimension "colour"/],
      ['/v1/reports/usage?from=yesterday', /^from: /],
      ['/v1/reports/usage?to=2026-13-45', /^to: /],
      ['/v1/reports/usage?from=2026-11-10&to=2026-11-01', /^from: .* is after to/],
      ['/v1/reports/usage?limit=0', /^limit: /],
      ['/v1/reports/usage?limit=abc', /^limit: /],
      ...['0x10', '1e3', '12.0'].map((limit) => [`/v1/reports/usage?limit=${limit}`, /^limit: must be a whole number from 1 to 10000/] as const),
      ['/v1/reports/usage?order=price', /^order: /],
      ['/v1/reports/usage?format=xml', /^format: /],
      ['/v1/reports/usage?modle=gpt-4o', /^modle: unknown parameter/],
      ['/v1/reports/usage?from=2026-11-01&from=2026-11-02', /^from: give it once/],
      ['/v1/events?cursor=bm9wZQ', /^cursor: /],
      ['/v1/events?limit=5000', /^limit: /],
      ['/api/usage?group_by=run', /^group_by: /],
      ['/api/usage?from_date=nope', /^from_date: /],
      ['/api/usage?modle=x', /^modle: unknown parameter/],
      ['/v1/events?cursor=a&cursor=b', /^cursor: give it once/],
      ['/v1/reports/timeseries?limit=2&limit=3', /^limit: give it once/],
      ['/v1/stats/current-month?colour=red', /^colour: unknown parameter; known: tz, limit, cursor$/],
      ['/v1/stats/current-month?tz=Mars/Olympus', /^tz: "Mars\/Olympus" is not an IANA time zone/],
    ])('%s', async (path, message) => {
      const { status, body } = await svc.report(path);
      expect(status).toBe(400);
      expect(body.error.message).toMatch(message);
    });

    it('treats values as data, never as SQL', async () => {
      const { status, body } = await svc.report(`/v1/reports/usage?model=${encodeURIComponent("x' OR 1=1 --")}&group_by=model`);
      expect(status).toBe(200);
      expect(body.totals.events).toBe(0);
    });
  });
});
