import { isoUtc } from '../../src/time.js';
import type { Hono } from 'hono';
import type { ReportingDeps } from '../app.js';
import { apiMetrics } from '../metrics.js';
import { rejectUnknownParams, startOfUtcMonth } from '../params.js';
import { plan } from '../planner.js';

/** GET /v1/stats/current-month — month-to-date figures, global and per project (UTC month). */
export function registerCurrentMonthStats(app: Hono, deps: ReportingDeps): void {
  app.get('/v1/stats/current-month', async (c) => {
    rejectUnknownParams(c, []);
    const now = deps.now();
    const from = startOfUtcMonth(now);
    const result = await deps.store.aggregate(
      plan({ groupBy: ['project'], filters: {}, from, to: startOfUtcMonth(now, 1), order: { by: 'cost_nanos', dir: 'desc' }, limit: null }),
    );
    return c.json({
      month: isoUtc(from).slice(0, 7),
      global: apiMetrics(result.totals),
      projects: result.groups.map((g) => ({ project: g.key.project!, ...apiMetrics(g.metrics) })),
    });
  });
}
