import type { ReportingApp, ReportingDeps } from '../app.js';
import { apiMetrics } from '../metrics.js';
import { parseZone, rejectUnknownParams, startOfMonth } from '../params.js';
import { plan } from '../planner.js';

/**
 * GET /v1/stats/current-month — month-to-date figures, global and per project. The month is the
 * UTC one (from the rollup) unless `tz` names another zone (its month boundaries, from raw events).
 */
export function registerCurrentMonthStats(app: ReportingApp, deps: ReportingDeps): void {
  app.get('/v1/stats/current-month', async (c) => {
    rejectUnknownParams(c, ['tz']);
    const zone = parseZone(c);
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
    });
  });
}
