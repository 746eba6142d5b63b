import { isoUtc } from '../../src/time.js';
import type { Metrics, Store } from '../../src/store/types.js';
import type { ReportingApp, ReportingDeps } from '../app.js';
import { apiMetrics } from '../metrics.js';
import { parseZone, rejectUnknownParams, startOfMonth } from '../params.js';
import { plan } from '../planner.js';

export interface MonthToDate {
  /** `YYYY-MM` in the zone. */
  month: string;
  from: number;
  to: number;
  totals: Metrics;
  /** Costliest first. */
  projects: { project: string; metrics: Metrics }[];
}

/**
 * The month holding `now` in `zone`, global and per project. The UTC month is answered from the
 * rollup; another zone's month boundaries need the raw events (the planner decides).
 */
export async function monthToDate(store: Store, now: number, zone: string): Promise<MonthToDate> {
  const from = startOfMonth(now, zone);
  const to = startOfMonth(now, zone, 1);
  const result = await store.aggregate(
    plan({ groupBy: ['project'], filters: {}, from, to, order: { by: 'cost_nanos', dir: 'desc' }, limit: null }),
  );
  return {
    // The middle of the month is inside it in every zone.
    month: new Date(from + (to - from) / 2).toISOString().slice(0, 7),
    from,
    to,
    totals: result.totals,
    projects: result.groups.map((g) => ({ project: g.key.project!, metrics: g.metrics })),
  };
}

/** GET /v1/stats/current-month — month-to-date figures, global and per project (`tz`: another zone's month). */
export function registerCurrentMonthStats(app: ReportingApp, deps: ReportingDeps): void {
  app.get('/v1/stats/current-month', async (c) => {
    rejectUnknownParams(c, ['tz']);
    const zone = parseZone(c);
    const now = deps.now();
    const mtd = await monthToDate(c.var.store, now, zone);
    return c.json({
      month: mtd.month,
      tz: zone,
      from: isoUtc(mtd.from),
      to: isoUtc(mtd.to),
      as_of: isoUtc(now),
      global: apiMetrics(mtd.totals),
      projects: mtd.projects.map((p) => ({ project: p.project, ...apiMetrics(p.metrics) })),
    });
  });
}
