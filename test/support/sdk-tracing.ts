import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll } from 'vitest';
import { startFakeModels, type FakeModels } from './fake-models.js';
import { exporterFor, type Wire } from './otlp.js';
import { startTestService, type TestService } from './service.js';

/**
 * Tracing as a Node app sets it up (`NodeTracerProvider.register()`), one tracer provider per test
 * case under its own project, exporting with the stock exporter to a real collector.
 */

/**
 * What a test file's cases share: a collector and the fake model server, started before them and
 * stopped after; and the async context, so a span started inside an instrumented call becomes its child.
 */
export function useSdkTestBed(): { svc: TestService; fake: FakeModels } {
  const bed = {} as { svc: TestService; fake: FakeModels };
  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    [bed.svc, bed.fake] = await Promise.all([startTestService(), startFakeModels()]);
  });
  afterAll(async () => {
    await bed.svc?.close();
    await bed.fake?.close();
  });
  return bed;
}

/**
 * `each span`: a SimpleSpanProcessor, one export per span as it ends, so a parent reaches the
 * collector in a later request than its children. `batched`: a BatchSpanProcessor flushed once at
 * the end, one request for everything.
 */
export type ExportMode = 'each span' | 'batched';
export const EXPORT_MODES: ExportMode[] = ['each span', 'batched'];

export interface Tracing {
  provider: BasicTracerProvider;
  project: string;
  /** Exports what is left and waits for the collector's answers (a 2xx means committed). */
  flush(): Promise<void>;
}

let projects = 0;

/** A provider for one test case, also registered as the global one (what SDKs that trace themselves use by default). */
export function startTracing(collectorUrl: string, mode: ExportMode, wire: Wire = 'protobuf'): Tracing {
  const project = `sdk-case-${++projects}`;
  const exporter = exporterFor(collectorUrl, wire);
  const processor = mode === 'each span' ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter, { scheduledDelayMillis: 600_000, maxExportBatchSize: 512 });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'sdk-under-test', 'tokentally.project': project }),
    spanProcessors: [processor],
  });
  trace.disable();
  trace.setGlobalTracerProvider(provider);
  return { provider, project, flush: () => provider.forceFlush() };
}

const ALL_TIME = 'from=2000-01-01&to=2100-01-01';

/** The report totals of one test case's project. */
export async function totalsOf(svc: TestService, project: string) {
  const { body } = await svc.report(`/v1/reports/usage?project=${project}&${ALL_TIME}`);
  return body.totals as { events: number; input_tokens: number; output_tokens: number; cache_read_tokens: number; cache_write_tokens: number; reasoning_tokens: number };
}

/** The stored events of one test case's project. */
export async function eventsOf(svc: TestService, project: string) {
  const { body } = await svc.report(`/v1/events?project=${project}&${ALL_TIME}&limit=100`);
  return body.events as { id: string; model: string; input_tokens: number; output_tokens: number; cache_read_tokens: number; cache_write_tokens: number; reasoning_tokens: number; attributes: Record<string, string | number | boolean> }[];
}

/** n calls' worth of counts, as the report totals them. */
export function times(n: number, counts: Record<string, number>) {
  return { events: n, ...Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, n * v])) };
}
