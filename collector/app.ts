import { Hono } from 'hono';
import type { ApiKey, Principal } from '../src/auth/keys.js';
import type { ServiceSelection } from '../src/config.js';
import { Api } from '../src/http/api.js';
import { requireRole } from '../src/http/auth.js';
import { limitBody, registerCommon } from '../src/http/common.js';
import { refuseCrossSite } from '../src/http/cross-site.js';
import { registerDocs } from '../src/http/docs.js';
import type { Pricer } from '../src/pricing/pricer.js';
import type { Store } from '../src/store/types.js';
import type { BodyReader } from '../src/http/body.js';
import type { Forwarder } from './forward/forwarder.js';
import { countLimits, type RequestLimits } from './decode-limits.js';
import type { BudgetStatus } from '../src/budgets/status.js';
import { registerApiUsage } from './routes/api-usage.js';
import { registerBudgetsCheck } from './routes/budgets-check.js';
import { OTLP_PATHS, otlpErrorBodies, registerOtlp } from './routes/otlp.js';
import { registerUsageBatch } from './routes/usage.js';
import type { BatchWriter } from './writer.js';

export interface CollectorDeps {
  store: Store;
  writer: BatchWriter;
  pricer: Pricer;
  keys: readonly ApiKey[];
  limits: RequestLimits;
  /** The process's body reader, its limits and decoding budget shared with the reporting app. */
  bodies: BodyReader;
  /** When set, each accepted OTLP request of its signals is committed with a copy in the forward outbox (docs/forwarding.md). */
  forward?: Pick<Forwarder, 'signals' | 'status'>;
  /** The services whose token metrics count (COUNT_METRICS); none when absent. */
  countMetrics?: ServiceSelection;
  /** The budget evaluator's last statuses (src/budgets/evaluator.ts). */
  budgetStatuses: () => Promise<readonly BudgetStatus[] | null>;
}

/** What the ingestion routes use: the deps and the counts a request is held to. */
export type IngestDeps = CollectorDeps & { counts: ReturnType<typeof countLimits> };

export type CollectorEnv = { Variables: { principal: Principal } };
export type CollectorApp = Hono<CollectorEnv>;
export type CollectorApi = Api<CollectorEnv>;

/** The deps of both fronts (HTTP and gRPC). */
export function ingestDeps(deps: CollectorDeps): IngestDeps {
  return { ...deps, counts: countLimits(deps.limits) };
}

/** The ingestion app (native JSON and OTLP traces, logs and metrics): parse → validate → normalise → price → queue → durable ack. */
export function createCollectorApp(deps: IngestDeps): CollectorApp {
  const app = new Hono<CollectorEnv>();
  // 503 behind every key: draining, or a database that cannot be used.
  const api = new Api(app, (role) => [requireRole(deps.keys, role)], [503]);
  registerCommon(api, 'collector', {
    async check() {
      if (deps.writer.isDraining) return 'shutting down';
      const failure = await deps.writer.writeFailure();
      if (failure) return `database writes failing: ${failure}`;
      try {
        await deps.store.ping();
        return null;
      } catch (error) {
        return `database unavailable: ${(error as Error).message}`;
      }
    },
    // A notification target that keeps failing, or an upstream that is down, is for an operator to
    // fix and not our outage: ready, and saying so.
    async details() {
      // With the database down, check() has said so; the targets' state waits for it to be back.
      const failing = await deps.store.budgets.failingTargets().catch(() => []);
      const found = {
        ...(deps.forward ? { forward: deps.forward.status() } : {}),
        ...(failing.length > 0 ? { budget_targets_failing: failing.map((f) => ({ target: f.target_key, since: new Date(f.failed_at).toISOString(), error: f.error })) } : {}),
      };
      return Object.keys(found).length === 0 ? null : found;
    },
  });
  // Before auth and the body limit, so their refusals reach OTLP clients as a google.rpc.Status too.
  for (const path of OTLP_PATHS) app.use(path, otlpErrorBodies);
  app.use(refuseCrossSite());
  app.use(limitBody(deps.bodies.limits.maxBodyBytes));
  registerUsageBatch(api, deps);
  registerApiUsage(api, deps);
  registerOtlp(api, deps);
  registerBudgetsCheck(api, deps.budgetStatuses);
  registerDocs(api, {
    title: 'tokentally collector API',
    description: 'Ingestion of LLM token usage. A 2xx answer means the events are committed to the database.',
  });
  return app;
}
