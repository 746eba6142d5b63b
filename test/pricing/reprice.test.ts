import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../bench/server.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

describe.each(BACKENDS)('on %s', (backend) => {
  let svc: TestService;
  const ev = (id: string, day: number, over: Record<string, unknown>) => ({
    id, timestamp: Date.UTC(2026, 10, day, 12), agent_id: 'a', input_tokens: 1_000_000, output_tokens: 100_000, ...over,
  });

  beforeAll(async () => {
    svc = await startTestService({ backend, now: () => Date.UTC(2026, 10, 20) });
    const res = await svc.ingest('/v1/usage', {
      events: [
        ev('u1', 5, { model: 'acme-large' }),
        ev('u2', 15, { model: 'acme-large' }),
        ev('r1', 15, { model: 'acme-large', cost_usd: 7 }),
        ev('c1', 15, { model: 'gpt-4o' }),
      ],
    });
    expect(await res.json()).toMatchObject({ accepted: 4 });
  });
  afterAll(() => svc.close());

  async function costs() {
    const { body } = await svc.report('/v1/events?limit=10');
    return Object.fromEntries(body.events.map((e: any) => [e.id, [e.cost_source, e.cost_usd]]));
  }

  describe('tokentally reprice', () => {
    it('prices the unpriced events from the new price date on, leaves reported costs, and the rollup follows', async () => {
      expect(await costs()).toEqual({
        u1: ['unpriced', 0], u2: ['unpriced', 0], r1: ['reported', 7], c1: ['computed', 2.5 + 1],
      });
      const prices = join(svc.dir, 'prices.json');
      writeFileSync(prices, JSON.stringify({ prices: [{ provider: 'acme', model: 'acme-large', input: 1.5, output: 4.5, effective_from: '2026-11-10' }] }));
      const run = runCli(['reprice', '--from', '2026-11-01', '--to', '2026-12-01'], { DATABASE_URL: svc.databaseUrl, PRICES_FILE: prices });
      expect(await run.exited).toBe(0);
      expect(run.output()).toMatch(/repriced 1 of 3 events/);
      // u2: 1 M input × $1.5 + 0.1 M output × $4.5 = $1.95; u1 predates the price and stays unpriced.
      expect(await costs()).toEqual({
        u1: ['unpriced', 0], u2: ['computed', 1.95], r1: ['reported', 7], c1: ['computed', 3.5],
      });
      const { body } = await svc.report('/v1/reports/usage?from=2026-11-01&to=2026-12-01');
      expect(body.source).toBe('rollup');
      expect(body.totals).toMatchObject({ cost_usd: 12.45, cost_reported_usd: 7, cost_computed_usd: 5.45, unpriced_events: 1 });
      expect(await svc.store.verify()).toMatchObject({ ok: true });
    });

    it('names a bad argument', async () => {
      const run = runCli(['reprice', '--from', 'soon'], { DATABASE_URL: svc.databaseUrl });
      expect(await run.exited).toBe(1);
      expect(run.output()).toMatch(/--from: give a date/);
    });
  });
});
