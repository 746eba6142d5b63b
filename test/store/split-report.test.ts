import { describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { compareBinary, splitHalves } from '../../src/store/split-report.js';
import { METRIC_NAMES, type AggregateQuery, type Filters, type GroupKey } from '../../src/store/types.js';
import { usageRecord } from '../support/records.js';
import { rng } from '../support/random.js';
import { readStores, readsInHand } from '../support/read-stores.js';

/**
 * A rollup report read as two halves of its days on the two read threads, merged on the main
 * thread, must be the answer one read gives: the same file read by a store with read threads and
 * by one without, over random events (keys above U+FFFF and in U+E000-U+FFFF, whose order UTF-8 and
 * UTF-16 disagree on; sums past 2^53 and rollup rows carried past 2^62) and random questions.
 */
const DAY = 86_400_000;
const FIRST = Date.UTC(2026, 9, 1);
const DAYS = 60;
const MAX = 2 ** 53 - 1;
const r = rng(20261207);
const VALUES: Record<'project' | 'agent' | 'model' | 'provider' | 'task', string[]> = {
  project: ['atlas', 'borealis', 'cygnus', 'huge', 'edge'],
  agent: ['planner', 'coder', 'reviewer'],
  model: ['gpt-4o', 'claude-sonnet-4-5', 'm-\u{1F600}', 'm-\uFF21', 'm-\uE000', 'M'],
  provider: ['openai', 'anthropic', ''],
  task: ['triage', 'refactor', ''],
};
type RollupDimension = keyof typeof VALUES;
const DIMENSIONS = Object.keys(VALUES) as RollupDimension[];

function randomRecord(i: number): UsageRecord {
  const input = r.int(0, 50_000);
  const output = r.int(0, 5_000);
  return usageRecord(`e-${i}`, {
    ts: FIRST + r.int(0, DAYS * DAY - 1), project: r.pick(VALUES.project.slice(0, 3)), agent_id: r.pick(VALUES.agent),
    model: r.pick(VALUES.model), provider: r.pick(VALUES.provider), task_label: r.pick(VALUES.task),
    input_tokens: input, output_tokens: output, cache_read_tokens: r.int(0, input), reasoning_tokens: r.int(0, output),
    cost_nanos: r.int(0, 10_000_000), cost_source: r.pick(['computed', 'reported', 'unpriced'] as const),
  });
}

/**
 * Project "huge": 600 events of 2^53 − 1 on one rollup key (its row carries past 2^62) and others
 * spread over days and models, so halves add sums past 2^53 and some reports read wide. Project
 * "edge": one such event in each half of the range, each half's sum a safe integer, their sum not.
 */
function hugeRecords(): UsageRecord[] {
  const huge = (id: string, ts: number, model: string, n: number) => usageRecord(id, {
    project: 'huge', ts, model, input_tokens: n, output_tokens: MAX, cost_nanos: n, cost_source: 'reported',
  });
  return [
    ...Array.from({ length: 600 }, (_, i) => huge(`carried-${i}`, FIRST + 10 * DAY, 'gpt-4o', MAX)),
    ...Array.from({ length: 300 }, (_, i) => huge(`spread-${i}`, FIRST + r.int(0, DAYS * DAY - 1), r.pick(VALUES.model), MAX - r.int(0, 1_000_000))),
    { ...huge('edge-0', FIRST + 5 * DAY, 'M', MAX), project: 'edge' },
    { ...huge('edge-1', FIRST + 50 * DAY, 'M', MAX - 2), project: 'edge' },
  ];
}

function randomFilters(): Filters {
  const filters: Filters = {};
  for (const d of r.subset(DIMENSIONS)) filters[d] = r.subset(VALUES[d]).slice(0, 3);
  return filters;
}

/** Tuples of two dimensions, their values also in `filters` as AggregateQuery asks. */
function randomTuples(filters: Filters): AggregateQuery['tuples'] {
  const dimensions = [r.pick(DIMENSIONS.slice(0, 2)), r.pick(DIMENSIONS.slice(2))];
  const values = Array.from({ length: r.int(1, 6) }, () => dimensions.map((d) => r.pick(VALUES[d])));
  for (const [i, d] of dimensions.entries()) filters[d] = [...new Set(values.map((v) => v[i]!))];
  return { dimensions, values };
}

function randomQuery(): AggregateQuery {
  const a = FIRST + r.int(-3, DAYS + 3) * DAY;
  const b = a + r.int(0, 40) * DAY;
  const groupBy = r.subset<GroupKey>([...DIMENSIONS, 'day', 'week', 'month']).slice(0, 3);
  const filters = randomFilters();
  const tuples = r.next() < 0.15 ? randomTuples(filters) : undefined;
  return {
    source: 'rollup', totalsSource: 'rollup', groupBy, filters, from: a, to: b,
    order: r.next() < 0.25 ? null : { by: r.pick([...METRIC_NAMES, 'total_tokens', 'computed_cost_nanos'] as const), dir: r.pick(['asc', 'desc'] as const) },
    limit: r.pick([1, 3, null]),
    ...(tuples && { tuples }),
  };
}

describe('rollup reports split across the two read threads', () => {
  const stores = readStores('split', () => [...Array.from({ length: 8_000 }, (_, i) => randomRecord(i)), ...hugeRecords()]);

  it('400 random rollup reports: the same answer read in halves as in one read', async () => {
    let split = 0;
    let wide = 0;
    for (let i = 0; i < 400; i++) {
      const query = randomQuery();
      if (splitHalves(query)) split++;
      const [halves, whole] = await Promise.all([stores.threaded.aggregate(query), stores.direct.aggregate(query)]);
      if (whole.totals.exact) wide++;
      expect(halves, JSON.stringify(query, (_, v) => (typeof v === 'bigint' ? String(v) : v))).toEqual(whole);
    }
    // The questions really went both ways, and sums past 2^53 were among them.
    expect(split).toBeGreaterThan(200);
    expect(wide).toBeGreaterThan(40);
  });

  it('each grouping by every metric, over the whole range', async () => {
    for (const groupBy of [...DIMENSIONS.map((d) => [d]), ['day'], ['week'], ['month'], ['project', 'day'], ['model', 'week']] as GroupKey[][]) {
      for (const by of [...METRIC_NAMES, 'total_tokens', 'computed_cost_nanos'] as const) {
        const query: AggregateQuery = {
          source: 'rollup', groupBy, filters: {}, from: FIRST, to: FIRST + DAYS * DAY, order: { by, dir: r.pick(['asc', 'desc']) }, limit: r.pick([1, 3, null]),
        };
        expect(await stores.threaded.aggregate(query), JSON.stringify(query)).toEqual(await stores.direct.aggregate(query));
      }
    }
  });

  it("more groups than are merged or sorted in one turn of the event loop, or than a limited report's half sends", async () => {
    const everyKey: AggregateQuery = { source: 'rollup', groupBy: [...DIMENSIONS, 'day'], filters: {}, from: FIRST, to: FIRST + DAYS * DAY, order: null, limit: null };
    expect((await stores.direct.aggregate(everyKey)).groups.length).toBeGreaterThan(4096);
    const orders = [null, { by: 'cost_nanos', dir: 'desc' }, { by: 'total_tokens', dir: 'asc' }] as const;
    for (const [order, limit] of [[orders[0], null], [orders[1], null], [orders[2], 3], [orders[1], 2000]] as const) {
      const query = { ...everyKey, order, limit };
      expect(await stores.threaded.aggregate(query), JSON.stringify(query)).toEqual(await stores.direct.aggregate(query));
    }
  });

  it('one report reads on both threads; a page after a group, or one day, reads on one', async () => {
    const query: AggregateQuery = { source: 'rollup', groupBy: ['model'], filters: {}, from: FIRST, to: FIRST + 30 * DAY, order: { by: 'events', dir: 'desc' }, limit: 3 };
    // Every thread started and idle first, so what follows shows where each read went.
    await Promise.all([stores.threaded.aggregate(query), stores.threaded.aggregate(query)]);
    const readsOf = async (q: AggregateQuery) => {
      const answer = stores.threaded.aggregate(q);
      const reads = readsInHand(stores.threaded);
      await answer;
      return reads;
    };
    expect(await readsOf(query)).toEqual([true, true]);
    expect(await readsOf({ ...query, from: FIRST + 29 * DAY })).toEqual([true, false]);
    const first = await stores.direct.aggregate({ ...query, limit: 1 });
    const after = { value: BigInt(first.groups[0]!.metrics.events), key: first.groups[0]!.key.model! };
    expect(await readsOf({ ...query, after })).toEqual([true, false]);
    expect(await readsOf({ ...query, groupBy: [] })).toEqual([true, false]);
  });

  it('cuts at the middle UTC midnight, and only a rollup report grouped over two days or more', () => {
    const query: AggregateQuery = { source: 'rollup', groupBy: ['model'], filters: {}, from: FIRST, to: FIRST + 5 * DAY, order: null, limit: 10 };
    // A limited report's halves stop past 1,024 groups (or its limit), and say so with `more`.
    expect(splitHalves(query)).toEqual([
      { ...query, to: FIRST + 2 * DAY, limit: 1024 },
      { ...query, from: FIRST + 2 * DAY, limit: 1024 },
    ]);
    expect(splitHalves({ ...query, limit: 5000 })?.map((h) => h.limit)).toEqual([5000, 5000]);
    expect(splitHalves({ ...query, limit: null })?.map((h) => h.limit)).toEqual([null, null]);
    expect(splitHalves({ ...query, to: FIRST + 2 * DAY })?.map((h) => [h.from, h.to])).toEqual([[FIRST, FIRST + DAY], [FIRST + DAY, FIRST + 2 * DAY]]);
    expect(splitHalves({ ...query, to: FIRST + DAY })).toBeNull();
    expect(splitHalves({ ...query, source: 'raw' })).toBeNull();
    expect(splitHalves({ ...query, totalsSource: 'raw' })).toBeNull();
    expect(splitHalves({ ...query, zone: [{ from: 0, offsetMinutes: 60 }] })).toBeNull();
    expect(splitHalves({ ...query, to: Date.UTC(10_000, 0, 1) })).toBeNull();
  });

  it('orders text as SQLite does: by UTF-8 bytes', () => {
    const texts = ['', 'a', 'ab', 'b', 'B', '\u00E9', '\uD7FF', '\uE000', '\uFFFD', '\u{10000}', '\u{1F600}', '\u{1F600}a', 'm-\u{1F600}', 'm-\uFF21'];
    const sorted = [...texts].sort(compareBinary);
    expect(sorted).toEqual([...texts].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    // Which UTF-16's order would get wrong.
    expect(compareBinary('\u{1F600}', '\uFFFD')).toBeGreaterThan(0);
  });
});
