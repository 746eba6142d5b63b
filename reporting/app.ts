import { Hono } from 'hono';
import { registerCommon } from '../src/http/common.js';
import type { Store } from '../src/store/types.js';
import { registerGrafana } from './grafana/routes.js';
import { registerEvents } from './routes/events.js';
import { registerSeedUsageReport } from './routes/seed.js';
import { registerCurrentMonthStats } from './routes/stats.js';
import { registerTimeseries } from './routes/timeseries.js';
import { registerUsageReport } from './routes/usage-report.js';

export interface ReportingDeps {
  store: Store;
  /** The clock, so tests can ask about a month of their choosing. */
  now: () => number;
}

/** The read app: reports, raw events and stats, all computed by the store. */
export function createReportingApp(deps: ReportingDeps): Hono {
  const app = new Hono();
  registerCommon(app, 'reporting', {
    async check() {
      try {
        await deps.store.ping();
        return null;
      } catch (error) {
        return `database unavailable: ${(error as Error).message}`;
      }
    },
  });
  registerUsageReport(app, deps);
  registerTimeseries(app, deps);
  registerEvents(app, deps);
  registerSeedUsageReport(app, deps);
  registerCurrentMonthStats(app, deps);
  registerGrafana(app, deps);
  return app;
}
