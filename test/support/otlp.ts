import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { otlpTypes } from '../../collector/otlp/decode.js';
import type { Signal } from '../../collector/otlp/receive.js';

export type Wire = 'json' | 'protobuf';

/** Spans made by the real OpenTelemetry SDK, kept in memory so a test can export them as it likes. */
export function recordSpans(resource: Record<string, string>, build: (tracer: Tracer) => void): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes(resource), spanProcessors: [new SimpleSpanProcessor(memory)] });
  build(provider.getTracer('tokentally-test', '1.0.0'));
  return memory.getFinishedSpans();
}

/** The stock OTLP/HTTP exporter for a wire format: exporter-trace-otlp-http (JSON) or -proto. */
export function exporterFor(collectorUrl: string, wire: Wire, options: { gzip?: boolean; headers?: Record<string, string> } = {}) {
  const config = { url: `${collectorUrl}/v1/traces`, compression: options.gzip ? 'gzip' : 'none', headers: options.headers, timeoutMillis: 10_000 } as const;
  return wire === 'json' ? new JsonTraceExporter(config) : new ProtoTraceExporter(config);
}

/** Exports once; resolves with the exporter's own verdict (code 0 = success). */
export function exportSpans(exporter: ReturnType<typeof exporterFor>, spans: ReadableSpan[]): Promise<{ code: number; error?: Error }> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

type Value = string | number | boolean | { [anyValueField: string]: unknown };

export interface SpanSpec {
  traceId?: string;
  spanId: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  attributes?: Record<string, Value>;
  start?: string;
  end?: string;
  status?: number;
}

/** OTLP/JSON attributes: integers as intValue strings, other numbers as doubleValue; objects pass as AnyValue. */
export function otlpAttributes(attributes: Record<string, Value>) {
  return Object.entries(attributes).map(([key, v]) => ({
    key,
    value:
      typeof v === 'string' ? { stringValue: v }
      : typeof v === 'boolean' ? { boolValue: v }
      : typeof v === 'number' ? (Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v })
      : v,
  }));
}

export const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
/** 2026-11-03T10:00:00.123456789Z and one 1.5 s later, in nanoseconds. */
export const START_NANOS = '1793700000123456789';
export const END_NANOS = '1793700001623456789';

/** An OTLP/JSON ExportTraceServiceRequest, written the way the spec shows it. */
export function otlpRequest(spans: SpanSpec[], options: { resource?: Record<string, Value>; scope?: { name: string; version?: string } } = {}) {
  return {
    resourceSpans: [{
      resource: { attributes: otlpAttributes(options.resource ?? { 'service.name': 'svc' }) },
      scopeSpans: [{
        scope: options.scope ?? { name: 'test-scope', version: '1.0.0' },
        spans: spans.map((s) => ({
          traceId: s.traceId ?? TRACE_ID,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name ?? 'chat',
          kind: s.kind ?? 3,
          startTimeUnixNano: s.start ?? START_NANOS,
          endTimeUnixNano: s.end ?? END_NANOS,
          attributes: otlpAttributes(s.attributes ?? {}),
          status: { code: s.status ?? 0 },
        })),
      }],
    }],
  };
}

export interface LogSpec {
  attributes?: Record<string, Value>;
  body?: Value;
  eventName?: string;
  time?: string;
  observed?: string;
  traceId?: string;
  spanId?: string;
}

/** An OTLP/JSON ExportLogsServiceRequest of one resource and scope. */
export function otlpLogsRequest(records: LogSpec[], options: { resource?: Record<string, Value>; scope?: { name: string; version?: string } } = {}) {
  return {
    resourceLogs: [{
      resource: { attributes: otlpAttributes(options.resource ?? { 'service.name': 'svc' }) },
      scopeLogs: [{
        scope: options.scope ?? { name: 'test-scope', version: '1.0.0' },
        logRecords: records.map((r) => ({
          timeUnixNano: r.time ?? END_NANOS,
          observedTimeUnixNano: r.observed ?? r.time ?? END_NANOS,
          ...(r.body === undefined ? {} : { body: otlpAttributes({ body: r.body })[0]!.value }),
          ...(r.eventName === undefined ? {} : { eventName: r.eventName }),
          attributes: otlpAttributes(r.attributes ?? {}),
          traceId: r.traceId ?? '',
          spanId: r.spanId ?? '',
        })),
      }],
    }],
  };
}

/** An OTLP/JSON trace request as protobuf bytes. */
export function toProtobuf(request: ReturnType<typeof otlpRequest>): Uint8Array {
  return encodeProtobuf('traces', request);
}

const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** An OTLP/JSON export of any signal as a protobuf client sends it: hex ids as bytes, encoded with the vendored schema. */
export function encodeProtobuf(signal: Signal, json: unknown): Uint8Array {
  const withBytes = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(withBytes);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, ID_KEYS.has(k) && typeof v === 'string' ? Buffer.from(v, 'hex') : withBytes(v)]));
  };
  const type = otlpTypes[signal].request;
  return type.encode(type.fromObject(withBytes(json) as Record<string, unknown>)).finish();
}
