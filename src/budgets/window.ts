import { localToUtc, utcMs, utcToLocal } from '../zone.js';
import { ROLLING_WINDOWS, type BudgetWindowKind } from './schema.js';

export interface BudgetWindow {
  /** Epoch ms, inclusive / exclusive. */
  start: number;
  end: number;
  /**
   * What identifies this window among the budget's windows, for the crossings recorded in it: the
   * start of a calendar window; 0 for a rolling window, whose crossings last while spend stays above.
   */
  key: number;
  rolling: boolean;
}

export function isRolling(kind: BudgetWindowKind): kind is keyof typeof ROLLING_WINDOWS {
  return kind in ROLLING_WINDOWS;
}

/**
 * The window holding `at`: a calendar day, week (Monday first, as report weeks) or month in `zone`,
 * whose length follows the zone's DST changes (a 23- or 25-hour day); or the rolling span ending at `at`.
 */
export function windowAt(kind: BudgetWindowKind, zone: string, at: number): BudgetWindow {
  if (isRolling(kind)) return { start: at - ROLLING_WINDOWS[kind], end: at, key: 0, rolling: true };
  const { year, month, day } = utcToLocal(zone, at);
  const local = (y: number, m: number, d: number) => localToUtc(zone, y, m, d);
  if (kind === 'month') return calendar(local(year, month, 1), local(year, month + 1, 1));
  if (kind === 'day') return calendar(local(year, month, day), local(year, month, day + 1));
  const weekday = new Date(utcMs(year, month, day)).getUTCDay();
  const monday = day - ((weekday + 6) % 7);
  return calendar(local(year, month, monday), local(year, month, monday + 7));
}

function calendar(start: number, end: number): BudgetWindow {
  return { start, end, key: start, rolling: false };
}
