import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventKey, type AggregateQuery, type Dimension, type Filters, type GroupKey } from '../../src/store/types.js';
import { randomEvent, rng, VALUES } from '../support/random.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

describe.each(BACKENDS)('on %s', (backend) => {
  let svc: TestService;
  const r = rng(20261124);
  const sent: Record<string, any>[] = [];

  beforeAll(async () => {
    svc = await startTestService({ backend });
    // Concurrent batches with duplicate ids, so group commit and idempotency are both exercised. A
    // duplicate is a copy of the event first made with its id: which concurrent batch commits first
    // is the server's to decide, and must not change the totals expected.
    const made = new Map<string, Record<string, any>>();
    const event = () => {
      const e = randomEvent(r, 3000);
      const key = eventKey(e.project, e.id);
      if (!made.has(key)) made.set(key, e);
      return made.get(key)!;
    };
    const batches = Array.from({ length: 40 }, () => Array.from({ length: r.int(1, 150) }, event));
    const answers = await Promise.all(batches.map((events) => svc.ingest('/v1/usage', { events }).then((res) => res.json())));
    batches.forEach((b) => sent.push(...b));
    expect(answers.every((a) => a.rejected === 0)).toBe(true);
  });
  afterAll(() => svc.close());

  const ROLLUP_GROUPS: GroupKey[] = ['project', 'agent', 'model', 'provider', 'task', 'day', 'week', 'month'];
  const ROLLUP_FILTERS: [Dimension, readonly (string | undefined)[]][] = [
    ['project', VALUES.project], ['agent', VALUES.agent], ['model', VALUES.model], ['provider', VALUES.provider], ['task', VALUES.task],
  ];

  function randomRollupQuery(): Omit<AggregateQuery, 'source'> {
    const filters: Filters = {};
    for (const [d, values] of r.subset(ROLLUP_FILTERS)) filters[d] = r.subset(values.map((v) => v ?? '')).slice(0, 2);
    const fromDay = r.int(0, 29);
    return {
      groupBy: r.subset(ROLLUP_GROUPS),
      filters,
      from: Date.UTC(2026, 10, 1 + fromDay),
      to: Date.UTC(2026, 10, 1 + r.int(fromDay, 30)),
      order: r.next() < 0.5 ? null : { by: r.pick(['cost_nanos', 'events', 'total_tokens', 'computed_cost_nanos'] as const), dir: r.pick(['asc', 'desc'] as const) },
      limit: null,
    };
  }

  describe('the rollup always equals the raw sums', () => {
    it('verify finds no differing rollup row after concurrent batches with duplicates', async () => {
      expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    });

    it('the stored totals equal the sums over the distinct events sent (an id is unique per project)', async () => {
      const distinct = [...new Set(sent)];
      const result = await svc.store.aggregate({ ...randomRollupQuery(), groupBy: [], filters: {}, from: Date.UTC(2026, 10, 1), to: Date.UTC(2026, 11, 1), source: 'rollup' });
      expect(result.totals.events).toBe(distinct.length);
      expect(result.totals.input_tokens).toBe(distinct.reduce((s, e) => s + e.input_tokens, 0));
      expect(result.totals.reasoning_tokens).toBe(distinct.reduce((s, e) => s + e.reasoning_tokens, 0));
      expect(result.totals.reported_cost_nanos).toBe(distinct.reduce((s, e) => s + Math.round((e.cost_usd ?? 0) * 1e9), 0));
    });

    it('200 random queries give identical answers from the rollup and from raw events', async () => {
      for (let i = 0; i < 200; i++) {
        const q = randomRollupQuery();
        const rollup = await svc.store.aggregate({ ...q, source: 'rollup' });
        const raw = await svc.store.aggregate({ ...q, source: 'raw' });
        expect(rollup, JSON.stringify(q)).toEqual(raw);
      }
    });
  });
});
