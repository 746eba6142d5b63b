import { DERIVED_ORDER, isDerivedOrder, METRIC_NAMES, type ExactMetrics, type Metrics, type OrderBy, type Source } from './types.js';

/**
 * The report metrics as SQL sums that never overflow or lose precision (docs/operations.md, "Sums").
 *
 * A metric is read in parts: aggregates whose values, each shifted left by its `shift` bits, add up
 * to it. PostgreSQL needs one part per metric: SUM over bigint and numeric is exact at any size,
 * but keeps a numeric state per group; read narrow there, a metric is `narrow_sum` (migration 0012)
 * of the values as BIGINT, which raises "bigint out of range" where a sum passes 2^63 − 1, and read
 * wide it is that SUM.
 * SQLite's SUM raises "integer overflow" past 2^63 − 1, so there a metric is read
 * - narrow: one SUM per column, as fast as a sum gets; right whenever no SUM overflows;
 * - wide: each value cut into three 21-bit pieces (bits 42-62, 21-41, 0-20) summed apart. A piece is
 *   below 2^21, so its sum stays below 2^63 over fewer than 2^42 rows, more than a SQLite file can
 *   hold (at most 2^32 pages of 4 KiB); JavaScript adds the pieces up in BigInt. About 2.5 times the
 *   work of narrow, so only taken when needed.
 * The SQLite rollup keeps each sum as `<metric>` below 2^62 plus `<metric>_hi` 2^62s (migration 0009).
 * Read wide, `_hi` is a part of its own, shifted by 62 and summed plainly (it grows by at most one an
 * event); read narrow it is left out, which is right only where every `_hi` is 0: the store reads
 * wide at once when the range holds a row that carried (`CARRIED_ROWS`).
 */

/** One aggregate of a metric: `sql` reads the table (or, for a regrouping, the inner query's `alias`). */
export interface SumPart {
  metric: keyof Metrics;
  alias: string;
  sql: string;
  shift: number;
}

const PIECE_BITS = 21;
const PIECE_MASK = 2 ** PIECE_BITS - 1;
/** Where the rollup's high column starts (migration 0009). */
const HIGH_SHIFT = 62;

const COUNTS = new Set<keyof Metrics>(['events', 'unpriced_events']);
const VALUES = METRIC_NAMES.filter((m) => !COUNTS.has(m));

/**
 * The SQLite rollup rows whose sums went past 2^62: the condition of the partial index
 * usage_daily_carried (migration 0009), word for word, so that SQLite can use it.
 */
export const CARRIED_ROWS = VALUES.map((m) => `${m}_hi <> 0`).join(' OR ');

/** What each metric sums over raw events: a column (null: the events counted) under a filter. */
const RAW: Record<keyof Metrics, { column: string | null; filter: string }> = {
  events: { column: null, filter: '' },
  input_tokens: { column: 'input_tokens', filter: '' },
  output_tokens: { column: 'output_tokens', filter: '' },
  cache_read_tokens: { column: 'cache_read_tokens', filter: '' },
  cache_write_tokens: { column: 'cache_write_tokens', filter: '' },
  reasoning_tokens: { column: 'reasoning_tokens', filter: '' },
  cost_nanos: { column: 'cost_nanos', filter: '' },
  // FILTER rather than a CASE per row: the aggregate skips the rows it does not count (a raw
  // report by run over 5 M events, in-process: 1.36-1.41 s with CASE, 1.25-1.26 s with FILTER).
  reported_cost_nanos: { column: 'cost_nanos', filter: ` FILTER (WHERE cost_source = 'reported')` },
  unpriced_events: { column: null, filter: ` FILTER (WHERE cost_source = 'unpriced')` },
};

const aliasOf = (metric: keyof Metrics, shift: number) => (shift === 0 ? metric : `${metric}_${shift}`);

/**
 * `SUM(value)`, or with `wide` its three pieces' SUMs. With `narrowSum` (PostgreSQL) one part
 * either way: narrow that aggregate of the value as BIGINT, wide `SUM(value)`.
 */
function sums(metric: keyof Metrics, value: string, filter: string, wide: boolean, narrowSum?: string): SumPart[] {
  if (narrowSum) return [{ metric, alias: metric, sql: wide ? `SUM(${value})${filter}` : `${narrowSum}(CAST(${value} AS BIGINT))${filter}`, shift: 0 }];
  if (!wide) return [{ metric, alias: metric, sql: `SUM(${value})${filter}`, shift: 0 }];
  return [2 * PIECE_BITS, PIECE_BITS, 0].map((shift) => {
    const piece = shift === 2 * PIECE_BITS ? `${value} >> ${shift}` : shift === 0 ? `${value} & ${PIECE_MASK}` : `(${value} >> ${shift}) & ${PIECE_MASK}`;
    return { metric, alias: aliasOf(metric, shift), sql: `SUM(${piece})${filter}`, shift };
  });
}

/**
 * The parts of every metric over the raw events or the rollup rows. `high`: the rollup has the
 * `_hi` columns (SQLite), which only a wide reading includes. `narrowSum`: the dialect's narrow
 * aggregate (see `sums`).
 */
export function metricParts(source: Source, high: boolean, wide: boolean, narrowSum?: string): SumPart[] {
  return METRIC_NAMES.flatMap((m): SumPart[] => {
    if (source === 'raw') {
      const { column, filter } = RAW[m];
      return column === null ? [{ metric: m, alias: m, sql: `COUNT(*)${filter}`, shift: 0 }] : sums(m, column, filter, wide, narrowSum);
    }
    if (COUNTS.has(m)) return narrowSum ? sums(m, m, '', wide, narrowSum) : [{ metric: m, alias: m, sql: `SUM(${m})`, shift: 0 }];
    return [
      ...(high && wide ? [{ metric: m, alias: aliasOf(m, HIGH_SHIFT), sql: `SUM(${m}_hi)`, shift: HIGH_SHIFT }] : []),
      ...sums(m, m, '', wide, narrowSum),
    ];
  });
}

/** The same parts summed again (by `sum`) over an inner query that produced them (groups of groups). */
export function regrouped(parts: readonly SumPart[], sum = 'SUM'): SumPart[] {
  return parts.map((p) => ({ ...p, sql: `${sum}(${p.alias})` }));
}

export function selectList(parts: readonly SumPart[]): string {
  return parts.map((p) => `COALESCE(${p.sql}, 0) AS ${p.alias}`).join(', ');
}

export type SqlValue = number | bigint | string | null;

/**
 * The metrics of one result row. Parts read as BigInt (SQLite wide, PostgreSQL past 2^53) are
 * exact; a number past 2^53 arrived rounded, so the row gives null and the caller reads wide.
 * A metric above 2^53 − 1 is kept in `exact` too, its number being the nearest double.
 */
export function metricsFromRow(row: Record<string, SqlValue>, parts: readonly SumPart[]): ExactMetrics | null {
  let wide: Partial<Record<keyof Metrics, bigint>> | undefined;
  const metrics = zeroMetrics();
  for (const p of parts) {
    const value = row[p.alias] ?? 0;
    if (typeof value === 'bigint') {
      wide ??= {};
      wide[p.metric] = (wide[p.metric] ?? 0n) + (value << BigInt(p.shift));
    } else {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || p.shift !== 0) return null;
      metrics[p.metric] += n;
    }
  }
  for (const [m, value] of Object.entries(wide ?? {}) as [keyof Metrics, bigint][]) {
    metrics[m] = Number(value);
    if (!Number.isSafeInteger(metrics[m])) (metrics.exact ??= {})[m] = value;
  }
  return metrics;
}

/** Metrics of zero as one object literal, so that every group's metrics share one shape (a dictionary each reads slower). */
function zeroMetrics(): ExactMetrics {
  return { events: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, cost_nanos: 0, reported_cost_nanos: 0, unpriced_events: 0 } satisfies Record<(typeof METRIC_NAMES)[number], number>;
}

/**
 * A sum A·2^42 + B·2^21 + C (each below 2^63) as `high`·2^62 + `low`, `low` below 2^62, carrying
 * in SQL from piece to piece.
 */
function carried(a: string, b: string, c: string): { low: string; high: string } {
  const b1 = `(${b} + (${c} >> ${PIECE_BITS}))`;
  const a1 = `(${a} + (${b1} >> ${PIECE_BITS}))`;
  const highBits = HIGH_SHIFT - 2 * PIECE_BITS;
  return {
    high: `(${a1} >> ${highBits})`,
    low: `(((${a1} & ${2 ** highBits - 1}) << ${2 * PIECE_BITS}) | ((${b1} & ${PIECE_MASK}) << ${PIECE_BITS}) | (${c} & ${PIECE_MASK}))`,
  };
}

/** The canonical rollup columns (`<metric>` below 2^62, `<metric>_hi`) from a row's wide parts. */
function carriedColumns(metric: keyof Metrics): { low: string; high: string } {
  return carried(aliasOf(metric, 2 * PIECE_BITS), aliasOf(metric, PIECE_BITS), metric);
}

/**
 * One metric as terms that order its groups exactly when compared in turn: its one part (the result
 * column, or its aggregate where a bare name would mean a table column), or, read wide, its parts
 * carried into a count of 2^62s and the rest (each below 2^63, where the parts added as floating
 * point would round). A filtered raw sum (reported cost) is NULL in a group without a matching row.
 */
function exactTerms(parts: readonly SumPart[], metric: keyof Metrics, as: 'column' | 'aggregate'): string[] {
  const terms = parts.filter((p) => p.metric === metric);
  if (terms.length === 1) return [as === 'column' ? terms[0]!.alias : `COALESCE(${terms[0]!.sql}, 0)`];
  const at = (shift: number) => {
    const part = terms.find((p) => p.shift === shift);
    return part ? `COALESCE(${part.sql}, 0)` : '0';
  };
  const { high, low } = carried(at(2 * PIECE_BITS), at(PIECE_BITS), at(0));
  return [`(${high} + ${at(HIGH_SHIFT)})`, low];
}

/**
 * What orders groups by `by` exactly, compared in turn, and what a value from `exactSplit` compares
 * with: a metric's `exactTerms`; a derived one (DERIVED_ORDER) the two metrics' terms added or
 * taken away, read wide with the low terms' carry or borrow moved into the high one.
 */
export function orderTerms(parts: readonly SumPart[], by: OrderBy, as: 'column' | 'aggregate'): string[] {
  if (!isDerivedOrder(by)) return exactTerms(parts, by, as);
  const [first, second, sign] = DERIVED_ORDER[by];
  const [a, b] = [first, second].map((m) => exactTerms(parts, m, 'aggregate')) as [string[], string[]];
  const op = sign === 1 ? '+' : '-';
  if (a.length === 1 && b.length === 1) return [`(${a[0]} ${op} ${b[0]})`];
  const [highA, lowA] = a as [string, string];
  const [highB, lowB] = b as [string, string];
  // Written from BigInt: a double prints 2^62 rounded and cannot hold 2^62 − 1.
  const whole = 1n << BigInt(HIGH_SHIFT);
  if (sign === 1) {
    const low = `(${lowA} + ${lowB})`;
    return [`(${highA} + ${highB} + (${low} >> ${HIGH_SHIFT}))`, `(${low} & ${whole - 1n})`];
  }
  const borrow = `(CASE WHEN ${lowA} < ${lowB} THEN 1 ELSE 0 END)`;
  return [`(${highA} - ${highB} - ${borrow})`, `(${lowA} - ${lowB} + ${borrow} * ${whole})`];
}

/** A metric's exact value as `orderTerms` splits it (`terms`: how many it has). */
export function exactSplit(value: bigint, terms: number): bigint[] {
  return terms === 1 ? [value] : [value >> BigInt(HIGH_SHIFT), value & ((1n << BigInt(HIGH_SHIFT)) - 1n)];
}

/** The rollup's metric columns in table order, with the `_hi` ones where the rollup has them. */
export function rollupMetricColumns(high: boolean): string[] {
  return METRIC_NAMES.flatMap((m) => (high && !COUNTS.has(m) ? [m, `${m}_hi`] : [m]));
}

/**
 * The rollup's metrics as raw events give them, for the query that rebuilds or checks it: `parts`
 * sums the events of each rollup key, `columns` turns those sums into the rollup's metric columns
 * (in `rollupMetricColumns` order). With `high` (SQLite) the sums are read wide and carried.
 */
export function rollupFromRaw(high: boolean): { parts: SumPart[]; columns: string[] } {
  const parts = metricParts('raw', false, high);
  const columns = METRIC_NAMES.flatMap((m) => {
    if (!high || COUNTS.has(m)) return [m];
    const carried = carriedColumns(m);
    return [`${carried.low} AS ${m}`, `${carried.high} AS ${m}_hi`];
  });
  return { parts, columns };
}
