import { setImmediate as turn } from 'node:timers/promises';
import { utcDay } from './query-builder.js';
import { DERIVED_ORDER, isDerivedOrder, METRIC_NAMES, type AggregateGroup, type AggregateQuery, type AggregateResult, type ExactMetrics, type Metrics, type OrderBy } from './types.js';

/**
 * A report read as two halves, one on each SQLite read thread, and merged here: a rollup report as
 * two halves of its days, a raw report by run as two halves of its runs. Their statements are nearly
 * all of their time (docs/benchmarks.md, "Rollup reports on two read threads, session 20"), and with
 * one client asking in turn the second core is idle.
 */

const DAY_MS = 86_400_000;

/**
 * Groups merged or sorted between two turns of the event loop: a few ms. A year of rollup rows can
 * make 340,000 groups; one sort of that many held the loop 385 ms.
 */
const GROUPS_PER_TURN = 4096;

/**
 * Groups a half of a limited report may have: past them the report is read whole (see splitHalves).
 * Every group of a half crosses from its thread, where a report cut to its limit sends only those:
 * 30 days by every key but provider (27,456 groups, limit 1,000) took 82-126 ms whole and 428-458
 * split with every group sent.
 */
const HALF_GROUPS = 1024;

/**
 * The report's two halves, cut at the UTC midnight halfway (of an odd count of days the first half
 * has one day less), or null where a split would not give the same answer or gain nothing: a raw
 * source or raw totals, no grouping (one statement of sums), a page after a group, a zone, fewer
 * than two days. Each half is read unordered, the order and the limit applying to the merged sums;
 * a limited report's halves stop past HALF_GROUPS (or its limit), and one that says `more` sends
 * the report to be read whole.
 */
export function splitHalves(query: AggregateQuery): [AggregateQuery, AggregateQuery] | null {
  if (query.source !== 'rollup' || (query.totalsSource ?? query.source) !== 'rollup') return null;
  if (query.groupBy.length === 0 || query.after || query.zone) return null;
  const [first, last] = [utcDay(query.from), utcDay(query.to)];
  // Years outside 0-9999 are written with a sign, and compare with the rollup's days as text otherwise than as dates.
  if (!/^\d/.test(first) || !/^\d/.test(last)) return null;
  const days = (Date.parse(last) - Date.parse(first)) / DAY_MS;
  if (days < 2) return null;
  const cut = Date.parse(first) + Math.floor(days / 2) * DAY_MS;
  const half = { ...query, order: null, limit: query.limit === null ? null : Math.max(query.limit, HALF_GROUPS) };
  return [{ ...half, to: cut }, { ...half, from: cut }];
}

/**
 * The answer the whole range gives, from its halves' answers (each with all its groups, `more`
 * false): groups of the same key added, ordered as the SQL orders them, cut to the limit. The
 * totals are the halves' totals added, which are the sums of all their groups, shown or cut off.
 */
export async function mergeHalves(query: AggregateQuery, first: AggregateResult, second: AggregateResult): Promise<AggregateResult> {
  const byKey = keyOrder(query);
  // Each half comes ordered by its keys (the SQL orders a report without `order` so).
  const groups = await merged(first.groups, second.groups, byKey, (a, b) => {
    addInto(a.metrics, b.metrics);
    return a;
  });
  const ordered = query.order ? await sortInTurns(groups, metricOrder(query.order, byKey)) : groups;
  const more = query.limit !== null && ordered.length > query.limit;
  return { totals: addInto(first.totals, second.totals), groups: more ? ordered.slice(0, query.limit!) : ordered, more };
}

/**
 * A raw report by run read as two halves of its runs, cut at `middle()` (a run_id near the middle of
 * the range's, sampled by the store), each half ordered and limited as the whole: their groups are
 * apart, so the whole's first groups are among each half's first. The report reads the whole run
 * index whatever its range (5 M events: 2.5 s on a 2-core machine, docs/benchmarks.md, "Reports by
 * run on two read threads, session 20"). Null for a page after a group, or totals read from raw events
 * (each half would read them again; from the rollup they cost a few ms), or no middle.
 */
export function splitRuns(query: AggregateQuery, middle: () => string | undefined): [AggregateQuery, AggregateQuery] | null {
  if (query.source !== 'raw' || query.totalsSource !== 'rollup' || !query.groupBy.includes('run') || query.after || query.runs) return null;
  const cut = middle();
  return cut === undefined ? null : [{ ...query, runs: { below: cut } }, { ...query, runs: { from: cut } }];
}

/** The answer the whole report gives, from the answers of its halves of runs. */
export async function mergeRunHalves(query: AggregateQuery, first: AggregateResult, second: AggregateResult): Promise<AggregateResult> {
  const byKey = keyOrder(query);
  const groups = await merged(first.groups, second.groups, query.order ? metricOrder(query.order, byKey) : byKey);
  const cut = query.limit !== null && groups.length > query.limit;
  // Each half's totals are the whole report's: the first's.
  return { totals: first.totals, groups: cut ? groups.slice(0, query.limit!) : groups, more: cut || first.more || second.more };
}

type Compare = (a: AggregateGroup, b: AggregateGroup) => number;

/** Two lists ordered by `compare` as one, those that compare equal made one by `same`. */
async function merged(a: AggregateGroup[], b: AggregateGroup[], compare: Compare, same?: (a: AggregateGroup, b: AggregateGroup) => AggregateGroup): Promise<AggregateGroup[]> {
  const out: AggregateGroup[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const c = i === a.length ? 1 : j === b.length ? -1 : compare(a[i]!, b[j]!);
    out.push(c === 0 && same ? same(a[i++]!, b[j++]!) : c <= 0 ? a[i++]! : b[j++]!);
    if (out.length % GROUPS_PER_TURN === 0) await turn();
  }
  return out;
}

/** A merge sort whose runs are sorted, and then merged, a turn of the event loop apart. */
async function sortInTurns(groups: AggregateGroup[], compare: Compare): Promise<AggregateGroup[]> {
  if (groups.length <= GROUPS_PER_TURN) return groups.sort(compare);
  let runs: AggregateGroup[][] = [];
  for (let i = 0; i < groups.length; i += GROUPS_PER_TURN) {
    runs.push(groups.slice(i, i + GROUPS_PER_TURN).sort(compare));
    await turn();
  }
  while (runs.length > 1) {
    const pairs: AggregateGroup[][] = [];
    for (let r = 0; r < runs.length; r += 2) pairs.push(r + 1 < runs.length ? await merged(runs[r]!, runs[r + 1]!, compare) : runs[r]!);
    runs = pairs;
  }
  return runs[0]!;
}

/** Every group key ascending, as SQLite's BINARY collation orders text. */
function keyOrder(query: AggregateQuery): Compare {
  return (a, b) => {
    for (const g of query.groupBy) {
      const c = compareBinary(a.key[g]!, b.key[g]!);
      if (c !== 0) return c;
    }
    return 0;
  };
}

/**
 * SQLite's BINARY collation: UTF-8 byte order, which is code point order. JavaScript's `<` compares
 * UTF-16 units, which puts the characters above U+FFFF (surrogate pairs) before U+E000-U+FFFF.
 */
export function compareBinary(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** A UTF-16 unit's rank in code point order: surrogates after U+E000-U+FFFF, the rest as they are. */
const codePointRank = (unit: number) => (unit < 0xd800 ? unit : unit < 0xe000 ? unit + 0x2000 : unit - 0x800);

/** The order metric compared exactly, in the query's direction, then the keys. */
function metricOrder({ by, dir }: NonNullable<AggregateQuery['order']>, byKey: Compare): Compare {
  const sign = dir === 'desc' ? -1 : 1;
  return (a, b) => {
    const x = orderValue(a.metrics, by);
    const y = orderValue(b.metrics, by);
    return (x < y ? -sign : x > y ? sign : 0) || byKey(a, b);
  };
}

/** A metric, or a derived one (DERIVED_ORDER), exactly: a number while it is a safe integer. */
function orderValue(metrics: ExactMetrics, by: OrderBy): number | bigint {
  if (!isDerivedOrder(by)) return metrics.exact?.[by] ?? metrics[by];
  const [first, second, sign] = DERIVED_ORDER[by];
  const value = metrics[first] + sign * metrics[second];
  if (metrics.exact?.[first] === undefined && metrics.exact?.[second] === undefined && Number.isSafeInteger(value)) return value;
  return exactValue(metrics, first) + BigInt(sign) * exactValue(metrics, second);
}

const exactValue = (metrics: ExactMetrics, m: keyof Metrics) => metrics.exact?.[m] ?? BigInt(metrics[m]);

/**
 * `sum` plus `add`, in place: in BigInt where a sum would pass 2^53 − 1, then kept in `exact` as
 * metricsFromRow (sums.ts) keeps it.
 */
function addInto(sum: ExactMetrics, add: ExactMetrics): ExactMetrics {
  for (const m of METRIC_NAMES) {
    const n = sum[m] + add[m];
    if (sum.exact?.[m] === undefined && add.exact?.[m] === undefined && Number.isSafeInteger(n)) {
      sum[m] = n;
      continue;
    }
    const exact = exactValue(sum, m) + exactValue(add, m);
    sum[m] = Number(exact);
    // Metrics never fall (none is negative), so an exact sum stays past 2^53 − 1.
    (sum.exact ??= {})[m] = exact;
  }
  return sum;
}
