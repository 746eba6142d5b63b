import { z } from 'zod';
import { isoUtc } from '../../src/time.js';
import type { Metrics, Store } from '../../src/store/types.js';
import type { ReportingApi, ReportingDeps } from '../app.js';
import { ApiMetrics, apiMetrics } from '../metrics.js';
import { startOfMonth, tzParam } from '../params.js';
import { plan } from '../planner.js';

const Query = z.strictObject({ tz: tzParam });

const CurrentMonthStats = z.object({
  month: z.string().describe('YYYY-MM'),
  tz: z.string(),
  from: z.string().describe('start of the month in the zone, RFC 3339 UTC'),
  to: z.string().describe('start of the next month in the zone, RFC 3339 UTC'),
  as_of: z.string().describe('when the figures were taken, RFC 3339 UTC'),
  global: ApiMetrics,
  projects: z.array(ApiMetrics.extend({ project: z.string() })).describe('costliest first'),
});

interface MonthToDate {
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
export function registerCurrentMonthStats(api: ReportingApi, deps: ReportingDeps): void {
  api.route({
    method: 'get', path: '/v1/stats/current-month', tag: 'reports', role: 'read', query: Query,
    summary: 'Month-to-date figures, global and per project',
    responses: { 200: { description: 'The current month', schema: CurrentMonthStats } },
  }, async (c, { tz: zone }) => {
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
    } satisfies z.infer<typeof CurrentMonthStats>);
  });
}
