import { describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { plan } from '../../src/store/planner.js';
import { splitRuns } from '../../src/store/split-report.js';
import { METRIC_NAMES, type AggregateQuery, type GroupKey } from '../../src/store/types.js';
import { usageRecord } from '../support/records.js';
import { rng } from '../support/random.js';
import { readStores, readsInHand } from '../support/read-stores.js';

/**
 * A raw report by run read as two halves of its runs on the two read threads must be the answer
 * one read gives: the same file read by a store with read threads and by one without, over random
 * events (runs whose ids UTF-8 and UTF-16 order differently, events without a run, sums past 2^53)
 * and random questions.
 */
const DAY = 86_400_000;
const FIRST = Date.UTC(2026, 9, 1);
const DAYS = 20;
const MAX = 2 ** 53 - 1;
const r = rng(20261208);
const RUN_IDS = [...Array.from({ length: 300 }, (_, i) => `run-${i}`), 'r-\u{1F600}', 'r-\uFF21', 'r-\uE000', 'R'];

function randomRecord(i: number): UsageRecord {
  const input = r.int(0, 50_000);
  return usageRecord(`e-${i}`, {
    ts: FIRST + r.int(0, DAYS * DAY - 1), project: r.pick(['atlas', 'borealis']), agent_id: r.pick(['planner', 'coder']),
    model: r.pick(['gpt-4o', 'o3']), run_id: r.next() < 0.1 ? '' : r.pick(RUN_IDS), operation: r.pick(['chat', 'embeddings']),
    input_tokens: input, output_tokens: r.int(0, 5_000), cost_nanos: r.int(0, 10_000_000), cost_source: r.pick(['computed', 'reported', 'unpriced'] as const),
  });
}

function randomQuery(): AggregateQuery {
  const from = FIRST + r.int(-2, DAYS) * DAY + (r.next() < 0.2 ? r.int(1, DAY - 1) : 0);
  const to = from + r.int(1, DAYS) * DAY;
  const groupBy: GroupKey[] = r.next() < 0.7 ? ['run'] : r.pick([['run', 'model'], ['agent', 'run'], ['run', 'operation']] as GroupKey[][]);
  return plan({
    groupBy, filters: r.next() < 0.2 ? { project: ['atlas'] } : {}, from, to,
    order: r.next() < 0.2 ? null : { by: r.pick([...METRIC_NAMES, 'total_tokens'] as const), dir: r.pick(['asc', 'desc'] as const) },
    limit: r.pick([1, 5, 100, null]),
  });
}

describe('reports by run split across the two read threads', () => {
  const stores = readStores('split-runs', () => {
    const records = Array.from({ length: 6_000 }, (_, i) => randomRecord(i));
    // Sums past 2^53 in one run, and in two runs on either side of any middle.
    for (const [i, run] of ['run-7', 'run-7', 'R', 'r-\u{1F600}'].entries()) {
      records.push(usageRecord(`huge-${i}`, { ts: FIRST + DAY + i, run_id: run, input_tokens: MAX, cost_nanos: MAX, cost_source: 'reported' }));
    }
    records.push(...['run-1', 'run-1', 'run-10'].map((run, i) => usageRecord(`solo-${i}`, { ts: FIRST + 2 * DAY + i, project: 'solo', run_id: run })));
    return records;
  });

  it('300 random reports by run: the same answer read in halves of runs as in one read', async () => {
    let split = 0;
    for (let i = 0; i < 300; i++) {
      const query = randomQuery();
      if (splitRuns(query, () => 'run-5')) split++;
      const [halves, whole] = await Promise.all([stores.threaded.aggregate(query), stores.direct.aggregate(query)]);
      expect(halves, JSON.stringify(query)).toEqual(whole);
    }
    // Whole days take the totals from the rollup, the rest from raw events: both were asked.
    expect(split).toBeGreaterThan(150);
    expect(split).toBeLessThan(300);
  });

  it('cut at the middle asked for, and only a report grouped by run with its totals from the rollup', () => {
    const query = plan({ groupBy: ['run'], filters: {}, from: FIRST, to: FIRST + 5 * DAY, order: { by: 'cost_nanos', dir: 'desc' }, limit: 10 });
    expect(splitRuns(query, () => 'run-5')).toEqual([{ ...query, runs: { below: 'run-5' } }, { ...query, runs: { from: 'run-5' } }]);
    expect(splitRuns(query, () => undefined)).toBeNull();
    expect(splitRuns({ ...query, totalsSource: 'raw' }, () => 'run-5')).toBeNull();
    expect(splitRuns({ ...query, groupBy: ['model'] }, () => 'run-5')).toBeNull();
    expect(splitRuns({ ...query, after: { value: 1n, key: 'run-1' } }, () => 'run-5')).toBeNull();
  });

  it('read a report by run on both threads', async () => {
    const query = plan({ groupBy: ['run'], filters: {}, from: FIRST, to: FIRST + DAYS * DAY, order: { by: 'cost_nanos', dir: 'desc' }, limit: 5 });
    // Every thread started and idle first, so what follows shows where the report's reads went.
    await Promise.all([stores.threaded.aggregate(query), stores.threaded.aggregate(query)]);
    const answer = stores.threaded.aggregate(query);
    expect(readsInHand(stores.threaded)).toEqual([true, true]);
    expect(await answer).toEqual(await stores.direct.aggregate(query));
  });

  it('say there are more groups when one half has more than the limit and the other none', async () => {
    // The range's middle run is near 'run-3', and both runs of project "solo" are below it.
    const query = plan({ groupBy: ['run'], filters: { project: ['solo'] }, from: FIRST, to: FIRST + DAYS * DAY, order: { by: 'events', dir: 'desc' }, limit: 1 });
    expect(query.totalsSource).toBe('rollup');
    const whole = await stores.direct.aggregate(query);
    expect(whole.more).toBe(true);
    expect(await stores.threaded.aggregate(query)).toEqual(whole);
  });
});
