import { z } from 'zod';
import type { ReportingApi, ReportingDeps } from '../app.js';
import { ApiMetrics, apiMetrics } from '../metrics.js';
import { startOfMonth, tzParam } from '../params.js';
import { plan } from '../planner.js';

const Query = z.strictObject({ tz: tzParam });

export const CurrentMonthStats = z.object({
  month: z.string().describe('YYYY-MM'),
  tz: z.string(),
  global: ApiMetrics,
  projects: z.array(ApiMetrics.extend({ project: z.string() })).describe('costliest first'),
});

/**
 * GET /v1/stats/current-month — month-to-date figures, global and per project. The month is the
 * UTC one (from the rollup) unless `tz` names another zone (its month boundaries, from raw events).
 */
export function registerCurrentMonthStats(api: ReportingApi, deps: ReportingDeps): void {
  api.route({
    method: 'get', path: '/v1/stats/current-month', tag: 'reports', role: 'read', query: Query,
    summary: 'Month-to-date figures, global and per project',
    responses: { 200: { description: 'The current month', schema: CurrentMonthStats } },
  }, async (c, { tz: zone }) => {
    const now = deps.now();
    const from = startOfMonth(now, zone);
    const result = await c.var.store.aggregate(
      plan({ groupBy: ['project'], filters: {}, from, to: startOfMonth(now, zone, 1), order: { by: 'cost_nanos', dir: 'desc' }, limit: null }),
    );
    const local = new Date(from + (startOfMonth(now, zone, 1) - from) / 2);
    return c.json({
      month: local.toISOString().slice(0, 7),
      tz: zone,
      global: apiMetrics(result.totals),
      projects: result.groups.map((g) => ({ project: g.key.project!, ...apiMetrics(g.metrics) })),
    } satisfies z.infer<typeof CurrentMonthStats>);
  });
}
