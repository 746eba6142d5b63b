import { Hono } from 'hono';
import type { ApiKey, Principal } from '../src/auth/keys.js';
import { scopedStore } from '../src/auth/scope.js';
import { Api } from '../src/http/api.js';
import { requireRole } from '../src/http/auth.js';
import { limitBody, registerCommon } from '../src/http/common.js';
import { refuseCrossSite } from '../src/http/cross-site.js';
import { registerDocs } from '../src/http/docs.js';
import type { BodyReader } from '../src/http/body.js';
import type { Store } from '../src/store/types.js';
import { requireJsonBody } from './body.js';
import { registerDashboard } from './dashboard/route.js';
import { registerGrafana } from './grafana/routes.js';
import { withRawHorizon } from '../src/store/planner.js';
import { registerEvents } from './routes/events.js';
import { registerProjects } from './routes/projects.js';
import { registerApiUsageReport } from './routes/api-usage.js';
import { registerBudgets } from './routes/budgets.js';
import { registerCurrentMonthStats } from './routes/stats.js';
import { registerTimeseries } from './routes/timeseries.js';
import { registerUsageReport } from './routes/usage-report.js';

export interface ReportingDeps {
  store: Store;
  keys: readonly ApiKey[];
  /** Reads the JSON bodies (Grafana queries, budgets, project edits), within the process's body limits and decoding budget. */
  bodies: BodyReader;
  /** The clock, so tests can ask about a month of their choosing. */
  now: () => number;
  /** Per attempt of a test notification (BUDGET_NOTIFY_TIMEOUT_MS). */
  notifyTimeoutMs: number;
  /** Budgets that may exist at once (MAX_BUDGETS): the collector evaluates every one of them every few seconds. */
  maxBudgets: number;
}

/** Per request: who asked, and the store limited to what that key may read. */
export type ReportingEnv = { Variables: { principal: Principal; store: Store } };
export type ReportingApp = Hono<ReportingEnv>;
export type ReportingApi = Api<ReportingEnv>;

/** The read app: reports, raw events, stats, projects, the Grafana datasource and the dashboard page. */
export function createReportingApp(deps: ReportingDeps): ReportingApp {
  const app = new Hono<ReportingEnv>();
  const store = withRawHorizon(deps.store);
  // Each route's declared role, then the store limited to what the caller's key may read.
  const api = new Api(app, (role) => [requireRole(deps.keys, role), async (c, next) => {
    c.set('store', scopedStore(store, c.var.principal));
    await next();
  }], [503]);
  registerCommon(api, 'reporting', {
    async check() {
      try {
        await deps.store.ping();
        return null;
      } catch (error) {
        return `database unavailable: ${(error as Error).message}`;
      }
    },
  });
  // Before auth, so a cross-site write is refused in open mode too, and before anything reads a body.
  app.use(refuseCrossSite(), requireJsonBody());
  app.use(limitBody(deps.bodies.limits.maxBodyBytes));
  registerUsageReport(api, deps);
  registerTimeseries(api, deps);
  registerEvents(api);
  registerApiUsageReport(api);
  registerCurrentMonthStats(api, deps);
  registerProjects(api, deps);
  registerBudgets(api, deps);
  registerGrafana(api, deps);
  registerDashboard(api);
  registerDocs(api, {
    title: 'tokentally reporting API',
    description: 'Reports on LLM token usage and cost: totals and groups, time series, raw events, month-to-date stats, projects and pins, budgets, the Grafana JSON datasource, and the dashboard page.',
  });
  return app;
}
