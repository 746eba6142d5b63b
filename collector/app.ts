import { Hono } from 'hono';
import type { ApiKey, Principal } from '../src/auth/keys.js';
import { Api } from '../src/http/api.js';
import { requireRole } from '../src/http/auth.js';
import { limitBody, registerCommon } from '../src/http/common.js';
import { registerDocs } from '../src/http/docs.js';
import type { Pricer } from '../src/pricing/pricer.js';
import type { Store } from '../src/store/types.js';
import { registerSeedUsage } from './routes/seed.js';
import { otlpErrorBodies, registerTraces } from './routes/traces.js';
import { registerUsageBatch } from './routes/usage.js';
import type { BatchWriter } from './writer.js';

export interface CollectorDeps {
  store: Store;
  writer: BatchWriter;
  pricer: Pricer;
  keys: readonly ApiKey[];
  limits: { maxBodyBytes: number; maxDecodedBytes: number; maxEventsPerRequest: number };
}

export type CollectorEnv = { Variables: { principal: Principal } };
export type CollectorApp = Hono<CollectorEnv>;
export type CollectorApi = Api<CollectorEnv>;

/** The ingestion app (native JSON and OTLP traces): parse → validate → normalise → price → queue → durable ack. */
export function createCollectorApp(deps: CollectorDeps): CollectorApp {
  const app = new Hono<CollectorEnv>();
  const api = new Api(app);
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
  });
  // Before auth and the body limit, so their refusals reach OTLP clients as a google.rpc.Status too.
  app.use('/v1/traces', otlpErrorBodies);
  app.use('/v1/*', requireRole(deps.keys, 'ingest'));
  app.use('/api/*', requireRole(deps.keys, 'ingest'));
  app.use(limitBody(deps.limits.maxBodyBytes));
  registerUsageBatch(api, deps);
  registerSeedUsage(api, deps);
  registerTraces(api, deps);
  registerDocs(api, {
    title: 'tokentally collector API',
    description: 'Ingestion of LLM token usage. A 2xx answer means the events are committed to the database.',
  });
  return app;
}
