import type { AggregateQuery, AggregateResult, Metrics } from './types.js';
import { METRIC_NAMES } from './types.js';
import type { SqlRow } from './query-builder.js';
import { metricsFromRow, type SumPart } from './sums.js';

/** A report's rows, as its query (query-builder.ts) reads them, made into its groups and, where they tell it, its totals. */

/**
 * The groups of a report from its rows; null when a narrow reading cannot be trusted (see
 * `metricsFromRow`), and the report is to be read wide.
 */
export function groupsFromRows(query: AggregateQuery, rows: SqlRow[], parts: readonly SumPart[]): Omit<AggregateResult, 'totals'> | null {
  const steps = groupSteps(query, rows, parts);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * groupsFromRows with a turn of the event loop every ROWS_PER_TURN rows, for rows read on the main
 * thread (PostgreSQL): 64,000 hourly points took 170-240 ms in one piece (issue 17).
 */
export async function groupsFromRowsInTurns(query: AggregateQuery, rows: SqlRow[], parts: readonly SumPart[]): Promise<Omit<AggregateResult, 'totals'> | null> {
  const steps = groupSteps(query, rows, parts);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise(setImmediate);
  }
}

/** Rows made into groups between two pauses of groupSteps: a few ms. */
const ROWS_PER_TURN = 1_000;

function* groupSteps(query: AggregateQuery, rows: SqlRow[], parts: readonly SumPart[]): Generator<void, Omit<AggregateResult, 'totals'> | null> {
  const more = query.limit !== null && rows.length > query.limit;
  if (more) rows.pop();
  const groups: AggregateResult['groups'] = [];
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % ROWS_PER_TURN === 0) yield;
    const row = rows[i]!;
    const metrics = metricsFromRow(row, parts);
    if (!metrics) return null;
    groups.push({ key: Object.fromEntries(query.groupBy.map((g) => [g, String(row[`k_${g}`] ?? '')])), metrics });
  }
  return { groups, more };
}

/**
 * With every group in hand (none cut off by the limit or a page), their sums are the totals: no
 * second pass over the data. Null when some total would pass 2^53, where JavaScript's sum is no
 * longer exact.
 */
export function totalsFromGroups(query: AggregateQuery, result: Omit<AggregateResult, 'totals'>): Metrics | null {
  if (query.groupBy.length === 0 || query.after || query.runs || result.more) return null;
  const sums = Object.fromEntries(METRIC_NAMES.map((m) => [m, 0])) as unknown as Metrics;
  for (const { metrics } of result.groups) for (const m of METRIC_NAMES) sums[m] += metrics[m];
  return METRIC_NAMES.every((m) => Number.isSafeInteger(sums[m])) ? sums : null;
}
