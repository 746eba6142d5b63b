import { z } from 'zod';
import { nanosToUsd } from '../event/normalise.js';
import type { Store } from '../store/types.js';
import { isoUtc } from '../time.js';
import { forecast, forecastSpans } from './forecast.js';
import { WINDOWS, type Budget } from './schema.js';
import { scopeFilters, spendNanos } from './spend.js';
import type { Crossing } from './store.js';
import { windowAt, type BudgetWindow } from './window.js';

export type BudgetState = 'ok' | 'near' | 'over';

/** A budget's figures in one window, as an evaluation saw them. */
export interface BudgetStatus {
  budget: Budget;
  window: BudgetWindow;
  /** Epoch ms the figures were taken at. */
  at: number;
  spent_nanos: number;
  forecast_nanos: number;
  /** Every scoped project is archived: the budget is shown but does not alert. */
  archived: boolean;
  /** The crossings recorded in this window. */
  crossings: Crossing[];
}

export function isCrossed(spentNanos: number, limitNanos: number, threshold: number): boolean {
  return spentNanos * 100 >= threshold * limitNanos;
}

/** over: at or past the limit; near: past a threshold below it; else ok. */
export function stateOf(s: Pick<BudgetStatus, 'budget' | 'spent_nanos'>): BudgetState {
  if (s.spent_nanos >= s.budget.limit_nanos) return 'over';
  return s.budget.thresholds.some((t) => isCrossed(s.spent_nanos, s.budget.limit_nanos, t)) ? 'near' : 'ok';
}

/** True when the budget names projects and every one of them is archived. */
export async function isArchived(store: Store, budget: Budget): Promise<boolean> {
  const projects = budget.scope.project ?? [];
  if (projects.length === 0) return false;
  for (const id of projects) if (!(await store.getProject(id))?.archived) return false;
  return true;
}

/** Spend and forecast of the window holding `at`, read as the usage report reads them (spend.ts). */
export async function evaluate(store: Store, budget: Budget, at: number): Promise<BudgetStatus> {
  const window = windowAt(budget.window, budget.tz, at);
  const filters = scopeFilters(budget.scope);
  const spent = await spendNanos(store, filters, window.start, window.end);
  const spans = forecastSpans(window, at);
  const recent = spans.recent && (await spendNanos(store, filters, ...spans.recent));
  const leaving = spans.leaving && (await spendNanos(store, filters, ...spans.leaving));
  return {
    budget, window, at, spent_nanos: spent,
    forecast_nanos: forecast(window, at, spent, recent, leaving),
    archived: await isArchived(store, budget),
    crossings: await store.budgets.crossings(budget.id, window.key),
  };
}

export const ApiBudgetStatus = z.object({
  budget_id: z.string(),
  name: z.string(),
  window: z.object({
    kind: z.enum(WINDOWS), tz: z.string(),
    start: z.iso.datetime().describe('inclusive, RFC 3339 UTC'), end: z.iso.datetime().describe('exclusive; for a rolling window, now'),
  }),
  as_of: z.iso.datetime(),
  spent_usd: z.number().describe('cost of the events in the window and scope: the usage report over the same filters and range says the same'),
  limit_usd: z.number(),
  ratio: z.number().describe('spent / limit'),
  forecast_usd: z.number().describe('expected spend at the window end (rolling windows: 24 hours from now); docs/budgets.md, "Forecast"'),
  forecast_ratio: z.number(),
  state: z.enum(['ok', 'near', 'over']).describe('over: at or past the limit; near: past a lower threshold'),
  archived: z.boolean().describe('every project of the scope is archived: no alerts are sent'),
  thresholds: z.array(z.object({
    percent: z.number(),
    crossed: z.boolean().describe('spend is at or past it now'),
    crossed_at: z.iso.datetime().nullable().describe('when the alert for it was raised in this window; null if none was'),
  })),
});
export type ApiBudgetStatus = z.infer<typeof ApiBudgetStatus>;

export function apiStatus(s: BudgetStatus): ApiBudgetStatus {
  const { budget } = s;
  const raised = new Map(s.crossings.map((c) => [c.threshold, c.crossed_at]));
  const limit = budget.limit_nanos;
  return {
    budget_id: budget.id,
    name: budget.name,
    window: { kind: budget.window, tz: budget.tz, start: isoUtc(s.window.start), end: isoUtc(s.window.end) },
    as_of: isoUtc(s.at),
    spent_usd: nanosToUsd(s.spent_nanos),
    limit_usd: nanosToUsd(limit),
    ratio: s.spent_nanos / limit,
    forecast_usd: nanosToUsd(s.forecast_nanos),
    forecast_ratio: s.forecast_nanos / limit,
    state: stateOf(s),
    archived: s.archived,
    thresholds: budget.thresholds.map((percent) => {
      const at = raised.get(percent);
      return { percent, crossed: isCrossed(s.spent_nanos, limit, percent), crossed_at: at === undefined ? null : isoUtc(at) };
    }),
  };
}
