import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageRecord } from '../support/records.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

/** Each event's time and the UTC day its rollup row must have: both sides of midnight, leap days, the storable range's ends. */
const CASES: [iso: string, day: string][] = [
  ['2000-01-01T00:00:00.000Z', '2000-01-01'],
  ['2024-02-28T23:59:59.999Z', '2024-02-28'],
  ['2024-02-29T00:00:00.000Z', '2024-02-29'],
  ['2024-02-29T23:59:59.999Z', '2024-02-29'],
  ['2026-11-30T23:59:59.999Z', '2026-11-30'],
  ['2026-12-01T00:00:00.000Z', '2026-12-01'],
  ['2099-12-31T23:59:59.999Z', '2099-12-31'],
];

describe.each(BACKENDS)('on %s, the rollup trigger', (backend) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ backend });
    await svc.store.insertBatch(CASES.map(([iso], i) => usageRecord(`day-${i}`, { ts: Date.parse(iso), input_tokens: i + 1 })));
  });
  afterAll(() => svc.close());

  it('files every event under its UTC day', async () => {
    const { groups } = await svc.store.aggregate({
      groupBy: ['day'], filters: {}, from: Date.UTC(2000, 0, 1), to: Date.UTC(2100, 0, 1), order: null, limit: null, source: 'rollup',
    });
    const byDay = Object.fromEntries(groups.map((g) => [g.key.day, g.metrics.input_tokens]));
    const expected: Record<string, number> = {};
    CASES.forEach(([, day], i) => (expected[day] = (expected[day] ?? 0) + i + 1));
    expect(byDay).toEqual(expected);
    expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });
});
