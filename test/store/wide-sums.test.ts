import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { MAX_LISTED_ERRORS } from '../../src/event/validate.js';
import type { AggregateQuery, Metrics } from '../../src/store/types.js';
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
const big = (n: bigint) => Number(n);

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
    const sums = (n: bigint, computedCost: bigint): Metrics => ({
      events: Number(n), input_tokens: big(n * BigInt(MAX)), output_tokens: big(n * BigInt(MAX)), cache_read_tokens: big(n * BigInt(MAX)),
      cache_write_tokens: big(n * BigInt(MAX)), reasoning_tokens: big(n * BigInt(MAX)),
      cost_nanos: big((n / 2n) * BigInt(MAX) + (n / 2n) * computedCost), reported_cost_nanos: big((n / 2n) * BigInt(MAX)), unpriced_events: 0,
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
    expect(totals.input_tokens).toBe(big(2n ** 62n + 10n));
    expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });
});
