import { metrics, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UsageRecord } from './event/schema.js';
import { PACKAGE_VERSION } from './paths.js';

/**
 * Self-telemetry, twice over: OpenTelemetry API instruments (no-ops costing nothing unless the host
 * registers an SDK) and Prometheus registries served at /metrics.
 *
 * Each app's port serves only its own registry, and the process's metrics are served by one port of
 * the process, so a Prometheus scraping both ports of `tokentally serve` counts nothing twice.
 */
export type AppName = 'collector' | 'reporting';

const tracer = trace.getTracer('tokentally');
let readQueueDepth = () => 0;
const meter = metrics.getMeter('tokentally');

/** The standard Node.js process metrics, unprefixed as dashboards for them expect, and the build. */
const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry });
// prom-client also names three gauges `*_total`, a suffix reserved for counters (promtool rejects
// them); the same numbers remain as the gauges without it, by type (nodejs_active_handles, ...).
for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
  processRegistry.removeSingleMetric(name);
}
new Gauge({
  name: 'tokentally_build_info', help: 'Always 1; the labels say which tokentally and Node.js run',
  labelNames: ['version', 'nodejs_version'], registers: [processRegistry],
}).set({ version: PACKAGE_VERSION, nodejs_version: process.version }, 1);

const registries: Record<AppName, Registry> = { collector: new Registry(), reporting: new Registry() };
/** The registry an app's /metrics serves, for metrics kept beside their own code. */
export function registryOf(app: AppName): Registry {
  return registries[app];
}
let processMetricsOn: AppName | 'both' = 'both';

function httpMetrics(app: AppName) {
  const registers = [registries[app]];
  return {
    requests: new Counter({
      name: 'tokentally_http_requests_total', help: 'HTTP requests by app, route and status',
      labelNames: ['app', 'route', 'method', 'status'], registers,
    }),
    duration: new Histogram({
      name: 'tokentally_http_request_duration_seconds', help: 'Time from receiving a request to its answer, by app, route and method',
      labelNames: ['app', 'route', 'method'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers,
    }),
    inFlight: new Gauge({
      name: 'tokentally_http_requests_in_flight', help: 'HTTP requests received and not yet answered, by app',
      labelNames: ['app'], registers,
    }),
  };
}
const http = { collector: httpMetrics('collector'), reporting: httpMetrics('reporting') };

const collectorRegisters = [registries.collector];
const prom = {
  events: new Counter({
    name: 'tokentally_events_total', help: 'Events received, by outcome (accepted, duplicate, rejected)',
    labelNames: ['outcome'], registers: collectorRegisters,
  }),
  queueDepth: new Gauge({
    name: 'tokentally_queue_events', help: 'Events waiting for a commit', registers: collectorRegisters,
    collect() {
      this.set(readQueueDepth());
    },
  }),
  flushSize: new Histogram({
    name: 'tokentally_flush_events', help: 'Events per flush handed to the store (SQLite\'s insert thread commits the flushes waiting for it together)',
    buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10000], registers: collectorRegisters,
  }),
  flushSeconds: new Histogram({
    name: 'tokentally_flush_seconds', help: 'Time to commit one flush',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: collectorRegisters,
  }),
  storageErrors: new Counter({ name: 'tokentally_storage_errors_total', help: 'Failed database writes', registers: collectorRegisters }),
  tokens: new Counter({
    name: 'tokentally_tokens_total',
    help: 'Tokens of committed events by type, project and model; cache_read and cache_write are part of input, reasoning part of output',
    labelNames: ['type', 'project', 'model'], registers: collectorRegisters,
    collect() {
      fromSpendTotals(this, (labels, total) => TOKEN_TYPES.forEach((type, v) => this.inc({ type, ...labels }, total[v]!)));
    },
  }),
  cost: new Counter({
    name: 'tokentally_cost_usd_total', help: 'Cost in US dollars of committed events, by project and model',
    labelNames: ['project', 'model'], registers: collectorRegisters,
    collect() {
      fromSpendTotals(this, (labels, total) => this.inc(labels, total[TOKEN_TYPES.length]!));
    },
  }),
  folded: new Counter({
    name: 'tokentally_metrics_folded_events_total',
    help: 'Committed events counted under project="other", model="other" because METRICS_MAX_SERIES project and model pairs were already tracked',
    registers: collectorRegisters,
  }),
  budgetSpend: new Gauge({
    name: 'tokentally_budget_spend_usd', help: "Spend in the budget's current window, as the collector's last evaluation saw it",
    labelNames: ['budget_id'], registers: collectorRegisters,
  }),
  budgetLimit: new Gauge({ name: 'tokentally_budget_limit_usd', help: "The budget's limit", labelNames: ['budget_id'], registers: collectorRegisters }),
  budgetNotifications: new Counter({
    name: 'tokentally_budget_notifications_total', help: 'Budget notification attempts, by outcome (delivered, retried, failed: out of attempts)',
    labelNames: ['outcome'], registers: collectorRegisters,
  }),
  budgetEvaluations: new Counter({
    name: 'tokentally_budget_evaluations_total', help: 'Evaluations of every budget completed by this collector', registers: collectorRegisters,
  }),
  budgetFailingTargets: new Gauge({
    name: 'tokentally_budget_failing_targets', help: 'Notification targets whose latest delivery failed for good', registers: collectorRegisters,
  }),
  replicaReads: new Counter({
    name: 'tokentally_replica_reads_total',
    help: 'Reads with DATABASE_READ_URL set, by the server that answered (replica, primary) and why (fresh, lagging, unreachable, failed)',
    labelNames: ['server', 'reason'], registers: [registries.reporting],
  }),
  replicaLag: new Gauge({
    name: 'tokentally_replica_lag_seconds', help: 'Upper bound of the read replica\'s lag behind the primary at its last check', registers: [registries.reporting],
  }),
};

const otel = {
  events: meter.createCounter('tokentally.events', { description: 'Events received, by outcome' }),
  flushSize: meter.createHistogram('tokentally.flush.events', { description: 'Events per flush handed to the store (SQLite\'s insert thread commits the flushes waiting for it together)' }),
};

meter.createObservableGauge('tokentally.queue.events', { description: 'Events waiting for a commit' })
  .addCallback((result) => result.observe(readQueueDepth()));

const TOKEN_TYPES = ['input', 'output', 'cache_read', 'cache_write', 'reasoning'] as const;
/** Per event: the five token counts, then the cost in nano-dollars. */
const VALUES_PER_EVENT = TOKEN_TYPES.length + 1;
const OTHER = 'other';

/**
 * The spend counters' label pairs: one slot per project and model pair, up to the limit; every
 * later pair shares the `other` slot, so a client inventing names cannot grow the scrape without end.
 */
const spend = {
  limit: 500,
  slots: new Map<string, Map<string, number>>(),
  used: 0,
  /** Slot 0 is `other`, made on first use. */
  labels: [{ project: OTHER, model: OTHER }] as { project: string; model: string }[],

  slotOf(project: string, model: string): number {
    let models = this.slots.get(project);
    const known = models?.get(model);
    if (known !== undefined) return known;
    if (this.used >= this.limit) return 0;
    if (models === undefined) this.slots.set(project, (models = new Map()));
    this.used++;
    models.set(model, this.labels.length);
    this.labels.push({ project, model });
    return this.labels.length - 1;
  },

  /**
   * Per slot, in the order first counted: the five token totals and the cost in US dollars. Kept
   * here and given to the counters only when they are read: an `inc` with labels builds and looks
   * up a string of them (~0.6 µs), and six a pair of every committed batch cost the main thread
   * 0.2–0.4 µs an event (docs/benchmarks.md, "Main thread after decoding, session 15").
   */
  totals: new Map<number, Float64Array>(),
  /** Batches added to `totals`, so that a counter is built again only when they moved. */
  added: 0,

  /** A batch's sums of one slot, added as each counter's `inc` added them, so the totals are the same to the bit. */
  add(slot: number, sum: Float64Array): void {
    let total = this.totals.get(slot);
    if (total === undefined) this.totals.set(slot, (total = new Float64Array(VALUES_PER_EVENT)));
    for (let v = 0; v < TOKEN_TYPES.length; v++) total[v]! += sum[v]!;
    total[TOKEN_TYPES.length]! += sum[TOKEN_TYPES.length]! / 1e9;
    this.added++;
  },
};

const builtAt = new WeakMap<Counter, number>();

/** Makes a spend counter's series anew from `spend.totals`, in the order they were first counted, when those moved since it was last read. */
function fromSpendTotals(counter: Counter, write: (labels: { project: string; model: string }, total: Float64Array) => void): void {
  if (builtAt.get(counter) === spend.added) return;
  builtAt.set(counter, spend.added);
  counter.reset();
  for (const [slot, total] of spend.totals) write(spend.labels[slot]!, total);
}

/**
 * What the spend counters need of a batch while it commits, in typed arrays: the writer lets go of
 * the records themselves during the commit (collector/writer.ts, startCommit).
 */
export interface BatchUsage {
  slots: Uint32Array;
  values: Float64Array;
}

/** The usage of batches handed over in parts, as one batch's. */
export function joinUsage(parts: readonly BatchUsage[]): BatchUsage {
  if (parts.length === 1) return parts[0]!;
  const joined: BatchUsage = {
    slots: new Uint32Array(parts.reduce((n, p) => n + p.slots.length, 0)),
    values: new Float64Array(parts.reduce((n, p) => n + p.values.length, 0)),
  };
  let slots = 0;
  let values = 0;
  for (const part of parts) {
    joined.slots.set(part.slots, slots);
    joined.values.set(part.values, values);
    slots += part.slots.length;
    values += part.values.length;
  }
  return joined;
}

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

  usageOf(records: readonly UsageRecord[]): BatchUsage {
    const slots = new Uint32Array(records.length);
    const values = new Float64Array(records.length * VALUES_PER_EVENT);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const at = i * VALUES_PER_EVENT;
      slots[i] = spend.slotOf(r.project, r.model);
      values[at] = r.input_tokens;
      values[at + 1] = r.output_tokens;
      values[at + 2] = r.cache_read_tokens;
      values[at + 3] = r.cache_write_tokens;
      values[at + 4] = r.reasoning_tokens;
      values[at + 5] = r.cost_nanos;
    }
    return { slots, values };
  },

  recordReplicaRead(server: 'replica' | 'primary', reason: string): void {
    prom.replicaReads.inc({ server, reason });
  },

  setReplicaLag(ms: number): void {
    prom.replicaLag.set(ms / 1000);
  },

  /** Adds the events of a committed batch that were new (`inserted`), not the duplicates, to the spend counters. */
  recordCommitted(usage: BatchUsage, inserted: readonly boolean[]): void {
    const sums = new Map<number, Float64Array>();
    let folded = 0;
    for (let i = 0; i < inserted.length; i++) {
      if (!inserted[i]) continue;
      const slot = usage.slots[i]!;
      if (slot === 0) folded++;
      let sum = sums.get(slot);
      if (sum === undefined) sums.set(slot, (sum = new Float64Array(VALUES_PER_EVENT)));
      for (let v = 0; v < VALUES_PER_EVENT; v++) sum[v]! += usage.values[i * VALUES_PER_EVENT + v]!;
    }
    for (const [slot, sum] of sums) spend.add(slot, sum);
    if (folded > 0) prom.folded.inc(folded);
  },

  /** How many project and model pairs the spend counters track before folding the rest into `other`. */
  limitSpendSeries(limit: number): void {
    spend.limit = limit;
  },

  /** Returns the start time, for recordRequest. */
  requestStarted(app: AppName): number {
    http[app].inFlight.inc({ app });
    return performance.now();
  },

  recordRequest(app: AppName, route: string, method: string, status: number, started: number): void {
    const m = http[app];
    m.inFlight.dec({ app });
    m.requests.inc({ app, route, method, status: String(status) });
    m.duration.observe({ app, route, method }, (performance.now() - started) / 1000);
  },

  /** Every budget's spend and limit, replacing the last evaluation's (a deleted budget's series goes). */
  recordBudgets(budgets: readonly { id: string; spentUsd: number; limitUsd: number }[]): void {
    prom.budgetSpend.reset();
    prom.budgetLimit.reset();
    for (const b of budgets) {
      prom.budgetSpend.set({ budget_id: b.id }, b.spentUsd);
      prom.budgetLimit.set({ budget_id: b.id }, b.limitUsd);
    }
  },

  recordBudgetEvaluation(): void {
    prom.budgetEvaluations.inc();
  },

  recordNotification(outcome: 'delivered' | 'retried' | 'failed'): void {
    prom.budgetNotifications.inc({ outcome });
  },

  recordFailingTargets(count: number): void {
    prom.budgetFailingTargets.set(count);
  },

  /** The queue depth is read when scraped, so the hot path never updates it. */
  observeQueueDepth(read: () => number): void {
    readQueueDepth = read;
  },

  /** Which app's port serves the process metrics; in `serve` the collector's, so they are scraped once. */
  serveProcessMetricsOn(app: AppName): void {
    processMetricsOn = app;
  },

  /** The Prometheus text one app's /metrics answers. */
  async scrape(app: AppName): Promise<{ text: string; contentType: string }> {
    const served = processMetricsOn === 'both' || processMetricsOn === app ? [registries[app], processRegistry] : [registries[app]];
    const texts = await Promise.all(served.map((r) => r.metrics()));
    return { text: texts.join('\n'), contentType: processRegistry.contentType };
  },
};
