import { plan } from '../store/planner.js';
import { ROLLUP_DIMENSIONS, type Dimension, type Filters, type Store } from '../store/types.js';
import type { BudgetScope } from './schema.js';

const DAY_MS = 86_400_000;

/** A budget's scope as report filters: the same dimension names, so a report with these filters shows the same spend. */
export function scopeFilters(scope: BudgetScope): Filters {
  return Object.fromEntries(Object.entries(scope).filter(([, v]) => v && v.length > 0)) as Filters;
}

/**
 * Spend in nano-dollars over [from, to), read as the usage report reads it (`store.aggregate` of the
 * report planner's plan). A range cut inside UTC days is asked as its whole days (the rollup) and its
 * two cut ends (the raw events) when the scope allows the rollup: the same sums as one raw read
 * (the rollup equals the raw sums), without scanning a month of raw events every few seconds.
 */
export async function spendNanos(store: Store, filters: Filters, from: number, to: number): Promise<number> {
  if (from >= to) return 0;
  const firstMidnight = Math.ceil(from / DAY_MS) * DAY_MS;
  const lastMidnight = Math.floor(to / DAY_MS) * DAY_MS;
  const rollupFits = Object.keys(filters).every((d) => ROLLUP_DIMENSIONS.has(d as Dimension));
  const spans: [number, number][] = rollupFits && firstMidnight < lastMidnight
    ? [[from, firstMidnight], [firstMidnight, lastMidnight], [lastMidnight, to]]
    : [[from, to]];
  let total = 0;
  for (const [a, b] of spans) {
    if (a >= b) continue;
    const result = await store.aggregate(plan({ groupBy: [], filters, from: a, to: b, order: null, limit: null }));
    total += result.totals.cost_nanos;
  }
  return total;
}
