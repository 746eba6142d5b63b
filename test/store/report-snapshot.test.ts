import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

/**
 * A report cut by `limit` reads its totals apart from its groups, and folds the rest into "(other)"
 * = totals less the groups shown. Both must come from one snapshot: here events keep arriving for
 * the top model only, so "(other)" must stay exactly the other models' fixed sums, report after
 * report, from the rollup and from raw events alike.
 */
const DAY = Date.UTC(2026, 10, 3, 12);
const COLD = ['cold-a', 'cold-b', 'cold-c'];
const event = (id: string, model: string, input_tokens: number, cost_usd: number) => ({ id, timestamp: DAY, agent_id: 'a', model, input_tokens, cost_usd });

describe.each(BACKENDS)('on %s, a report during heavy ingest', (backend) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ backend });
    const cold = COLD.flatMap((model, m) => Array.from({ length: 10 }, (_, i) => event(`${model}-${i}`, model, m + 1, 0.001)));
    expect(await (await svc.ingest('/v1/usage', { events: [...cold, event('hot-seed', 'hot', 1, 1)] })).json()).toMatchObject({ accepted: 31 });
  });
  afterAll(() => svc.close());

  it('"(other)" is exactly the groups past the limit, and the groups add up to the totals', async () => {
    let stop = false;
    let committed = 0;
    const sender = async (lane: number) => {
      for (let batch = 0; !stop; batch++) {
        // Small batches: commits as often, while the raw reports' events grow slowly enough for 80 reports.
        const events = Array.from({ length: 100 }, (_, i) => event(`hot-${lane}-${batch}-${i}`, 'hot', 1, 1));
        const res = await svc.ingest('/v1/usage', { events });
        expect(res.status).toBe(200);
        committed++;
      }
    };
    const senders = [sender(1), sender(2)];
    let during = 0;
    try {
      for (let i = 0; i < 40; i++) {
        // Whole days: the rollup answers; a range off midnight: raw events do.
        for (const range of ['from=2026-11-01&to=2026-12-01', 'from=2026-11-01T00:00:01Z&to=2026-12-01']) {
          const before = committed;
          const { status, body } = await svc.report(`/v1/reports/usage?${range}&group_by=model&limit=1`);
          expect(status).toBe(200);
          const [hot, other] = body.groups;
          expect(hot.key.model).toBe('hot');
          expect(other).toMatchObject({ other: true, events: 30, input_tokens: 60 });
          expect(hot.events + other.events).toBe(body.totals.events);
          expect(hot.input_tokens + other.input_tokens).toBe(body.totals.input_tokens);
          if (committed > before) during++;
        }
      }
    } finally {
      stop = true;
      await Promise.all(senders);
    }
    // The commits really fell between the reports' reads.
    expect(during).toBeGreaterThan(20);
  });
});
