import { metrics, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Self-telemetry, twice over: OpenTelemetry API instruments (no-ops costing nothing unless the host
 * registers an SDK) and a Prometheus registry served at /metrics.
 */
const tracer = trace.getTracer('tokentally');
let readQueueDepth = () => 0;
const meter = metrics.getMeter('tokentally');

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'tokentally_' });

const prom = {
  requests: new Counter({
    name: 'tokentally_http_requests_total', help: 'HTTP requests by app, route and status',
    labelNames: ['app', 'route', 'method', 'status'], registers: [registry],
  }),
  inFlight: new Gauge({
    name: 'tokentally_http_requests_in_flight', help: 'HTTP requests received and not yet answered, by app',
    labelNames: ['app'], registers: [registry],
  }),
  events: new Counter({
    name: 'tokentally_events_total', help: 'Events received, by outcome (accepted, duplicate, rejected)',
    labelNames: ['outcome'], registers: [registry],
  }),
  queueDepth: new Gauge({
    name: 'tokentally_queue_events', help: 'Events waiting for a commit', registers: [registry],
    collect() {
      this.set(readQueueDepth());
    },
  }),
  flushSize: new Histogram({
    name: 'tokentally_flush_events', help: 'Events per committed transaction',
    buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10000], registers: [registry],
  }),
  flushSeconds: new Histogram({
    name: 'tokentally_flush_seconds', help: 'Time to commit one flush',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
  }),
  storageErrors: new Counter({ name: 'tokentally_storage_errors_total', help: 'Failed database writes', registers: [registry] }),
  replicaReads: new Counter({
    name: 'tokentally_replica_reads_total',
    help: 'Reads with DATABASE_READ_URL set, by the server that answered (replica, primary) and why (fresh, lagging, unreachable, failed)',
    labelNames: ['server', 'reason'], registers: [registry],
  }),
  replicaLag: new Gauge({
    name: 'tokentally_replica_lag_ms', help: 'Upper bound of the read replica\'s lag behind the primary at its last check', registers: [registry],
  }),
};

const otel = {
  events: meter.createCounter('tokentally.events', { description: 'Events received, by outcome' }),
  flushSize: meter.createHistogram('tokentally.flush.events', { description: 'Events per committed transaction' }),
};

meter.createObservableGauge('tokentally.queue.events', { description: 'Events waiting for a commit' })
  .addCallback((result) => result.observe(readQueueDepth()));

export const telemetry = {
  async withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
    return tracer.startActiveSpan(name, { attributes }, async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        throw error;
      } finally {
        span.end();
      }
    });
  },

  recordEvents(outcome: 'accepted' | 'duplicate' | 'rejected', count: number): void {
    if (count === 0) return;
    prom.events.inc({ outcome }, count);
    otel.events.add(count, { outcome });
  },

  recordFlush(events: number, seconds: number): void {
    prom.flushSize.observe(events);
    prom.flushSeconds.observe(seconds);
    otel.flushSize.record(events);
  },

  recordStorageError(): void {
    prom.storageErrors.inc();
  },

  recordReplicaRead(server: 'replica' | 'primary', reason: string): void {
    prom.replicaReads.inc({ server, reason });
  },

  setReplicaLag(ms: number): void {
    prom.replicaLag.set(ms);
  },

  requestStarted(app: string): void {
    prom.inFlight.inc({ app });
  },

  recordRequest(app: string, route: string, method: string, status: number): void {
    prom.inFlight.dec({ app });
    prom.requests.inc({ app, route, method, status: String(status) });
  },

  /** The queue depth is read when scraped, so the hot path never updates it. */
  observeQueueDepth(read: () => number): void {
    readQueueDepth = read;
  },
};
