import type { BudgetWindow } from './window.js';

/** How far back the run rate looks: a day, so a forecast made at night does not read the quiet hours as the trend. */
export const RUN_RATE_MS = 86_400_000;
/** A rolling window's forecast looks this far ahead. */
export const ROLLING_HORIZON_MS = 86_400_000;

/** The spans whose spend a forecast needs besides the window's own, epoch ms [from, to); null when none is needed. */
export function forecastSpans(window: BudgetWindow, at: number): { recent: [number, number] | null; leaving: [number, number] | null } {
  const width = window.end - window.start;
  if (window.rolling) {
    // A 24-hour window's next day at the last day's rate is its last day again: no reads.
    if (width <= RUN_RATE_MS) return { recent: null, leaving: null };
    return { recent: [at - RUN_RATE_MS, at], leaving: [window.start, window.start + ROLLING_HORIZON_MS] };
  }
  const from = Math.max(window.start, at - RUN_RATE_MS);
  return { recent: from < at ? [from, at] : null, leaving: null };
}

/**
 * The spend expected at the window's end (docs/budgets.md, "Forecast"), in nano-dollars.
 * Calendar window: spent so far + the run rate of the last day (or of the window so far, when
 * younger) × the time left. Rolling window: the window 24 hours from now, i.e. spent − what leaves
 * the window in the next 24 hours + the last day's rate × 24 hours.
 */
export function forecast(window: BudgetWindow, at: number, spent: number, recent: number | null, leaving: number | null): number {
  const width = window.end - window.start;
  if (window.rolling) {
    if (width <= RUN_RATE_MS) return spent;
    return Math.max(0, spent - (leaving ?? 0) + (recent ?? 0));
  }
  const span = forecastSpans(window, at).recent;
  if (span === null || at >= window.end) return spent;
  const rate = (recent ?? 0) / (span[1] - span[0]);
  return Math.round(spent + rate * (window.end - at));
}
