import { randomBytes } from 'node:crypto';
import type protobuf from 'protobufjs';
import { otlpTypes } from '../collector/otlp/decode.js';
import { makeEvents, type BenchEvent } from './events.js';
import { drive, type LoadResult } from './load.js';

const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'o3'];

/** An OTLP KeyValue as protobufjs's `fromObject` takes it; a number is an int unless `double`. */
export const attribute = (key: string, value: string | number | boolean, double = false) => ({
  key,
  value: typeof value === 'string' ? { stringValue: value } : typeof value === 'boolean' ? { boolValue: value } : double ? { doubleValue: value } : { intValue: value },
});

/** Where the template's trace id and span end times sit in its bytes, so that each request rewrites them. */
interface GenAiTemplate {
  bytes: Buffer;
  traceOffsets: number[];
  endOffsets: number[];
  startOffsets: number[];
  endNanos: bigint;
}

/** The span's duration in the template. */
const CALL_NANOS = 1_500_000_000n;

/**
 * One protobuf ExportTraceServiceRequest of `spans` GenAI chat spans of one trace, encoded once,
 * and where its trace id and times sit in the bytes: each request writes a new trace id and later
 * times into a copy, as an exporter's next batch carries the next calls.
 */
function template(spans: number): GenAiTemplate {
  const traceId = randomBytes(16);
  // An hour back, so that the times each request moves forward stay in the past.
  const endNanos = (BigInt(Date.now()) - 3_600_000n) * 1_000_000n;
  const message = otlpTypes.traces.request.fromObject({
    resourceSpans: [{
      resource: { attributes: [attribute('service.name', 'bench-agent'), attribute('tokentally.project', 'bench')] },
      scopeSpans: [{
        scope: { name: 'bench', version: '1.0.0' },
        spans: Array.from({ length: spans }, (_, i) => ({
          traceId, spanId: Buffer.from([0xb0, 0x0b, i >> 8, i & 0xff, 0x5e, 0x1f, 0xca, 0x11]), name: 'chat', kind: 3,
          startTimeUnixNano: String(endNanos - CALL_NANOS), endTimeUnixNano: String(endNanos),
          attributes: [
            attribute('gen_ai.operation.name', 'chat'), attribute('gen_ai.provider.name', 'openai'),
            attribute('gen_ai.request.model', MODELS[i % MODELS.length]!), attribute('gen_ai.usage.input_tokens', 200 + i),
            attribute('gen_ai.usage.output_tokens', 50 + (i % 700)), attribute('gen_ai.usage.cache_read.input_tokens', i % 3 === 0 ? 100 : 0),
          ],
        })),
      }],
    }],
  });
  const bytes = Buffer.from(otlpTypes.traces.request.encode(message).finish());
  // Span.start_time_unix_nano and end_time_unix_nano are fixed64 fields 7 and 8 (tags 0x39, 0x41).
  const fixed64 = (tag: number, nanos: bigint) => {
    const field = Buffer.alloc(9, tag);
    field.writeBigUInt64LE(nanos, 1);
    return field;
  };
  const offsetsOf = (value: Buffer, within = 0) => {
    const found: number[] = [];
    for (let at = bytes.indexOf(value); at >= 0; at = bytes.indexOf(value, at + 1)) found.push(at + within);
    if (found.length !== spans) throw new Error(`found ${found.length} of ${spans} values in the encoded spans`);
    return found;
  };
  return {
    bytes, endNanos,
    traceOffsets: offsetsOf(traceId),
    startOffsets: offsetsOf(fixed64(0x39, endNanos - CALL_NANOS), 1),
    endOffsets: offsetsOf(fixed64(0x41, endNanos), 1),
  };
}

/** A trace load: the collector's HTTP URL, spans per request, and how long over how many connections. */
export interface TraceLoadOptions {
  url: string;
  spans: number;
  connections: number;
  seconds: number;
}

/**
 * OTLP protobuf ingest against a running collector: concurrent clients POST pre-encoded
 * `/v1/traces` bodies; latency is from send to the durable ack. Events = usage spans stored.
 */
export async function runOtlpLoad(options: TraceLoadOptions, body = genAiTraceBodies(options.spans)): Promise<LoadResult> {
  return drive({
    url: `${options.url}/v1/traces`, connections: options.connections, seconds: options.seconds, eventsPerRequest: options.spans,
    headers: { 'content-type': 'application/x-protobuf' }, body,
  });
}

/**
 * The n-th body of the GenAI trace load: `spans` chat spans with usage in a trace of their own (its
 * id scattered by n, as random trace ids are), ending n ms after the template's calls.
 */
export function genAiTraceBodies(spans: number): (n: number) => Buffer {
  const { bytes, traceOffsets, startOffsets, endOffsets, endNanos } = template(spans);
  return (n) => {
    const body = Buffer.from(bytes);
    // A multiplicative hash is a bijection on 32 bits: a new trace id per request, in no order.
    const scattered = Math.imul(n + 1, 0x9e3779b1) >>> 0;
    for (const offset of traceOffsets) body.writeUInt32BE(scattered, offset);
    const end = endNanos + BigInt(n) * 1_000_000n;
    for (const offset of endOffsets) body.writeBigUInt64LE(end, offset);
    for (const offset of startOffsets) body.writeBigUInt64LE(end - CALL_NANOS, offset);
    return body;
  };
}

/** Spans per trace in the mixed load, one of them with usage. */
export const MIXED_TRACE_SPANS = 20;
/** Distinct request bodies of the mixed load; each request also stamps fresh trace ids into one. */
const MIXED_TEMPLATES = 64;
const NANOS_PER_MS = 1_000_000n;

const TOOLS = ['exec_command', 'apply_patch', 'read_file', 'list_dir', 'grep'];
const HOSTS = ['api.github.com', 'registry.npmjs.org', 'pypi.org'];

/** The attributes a Rust `tracing` span carries to OTLP, as Codex's do (its captured spans). */
const codeAttributes = (file: string, line: number) => [
  attribute('code.file.path', file), attribute('code.module.name', file.replace(/\.rs$/, '').replaceAll('/', '::')),
  attribute('code.line.number', line), attribute('thread.id', 4), attribute('thread.name', 'tokio-rt-worker'),
];

/**
 * One trace of the mixed load: an agent turn whose children are one GenAI chat span with usage
 * and tool and HTTP spans without (half each), all ending around the call's time.
 */
function mixedTrace(traceId: Buffer, call: BenchEvent, t: number) {
  const end = BigInt(call.timestamp) * NANOS_PER_MS;
  const spanId = (i: number) => Buffer.from([0x5b, 0x1d, t >> 8, t & 0xff, 0, 0, 0, i]);
  const span = (i: number, name: string, kind: number, attributes: ReturnType<typeof attribute>[]) => ({
    traceId, spanId: spanId(i), parentSpanId: i === 0 ? undefined : spanId(0), name, kind, attributes,
    startTimeUnixNano: String(end - BigInt(call.duration_ms + i * 40) * NANOS_PER_MS), endTimeUnixNano: String(end - BigInt(i * 20) * NANOS_PER_MS),
  });
  const chat = span(1, `chat ${call.model}`, 3, [
    attribute('gen_ai.operation.name', 'chat'), attribute('gen_ai.provider.name', call.provider),
    attribute('gen_ai.request.model', call.model), attribute('gen_ai.response.model', call.model),
    attribute('gen_ai.usage.input_tokens', call.input_tokens), attribute('gen_ai.usage.output_tokens', call.output_tokens),
    attribute('gen_ai.usage.cache_read.input_tokens', call.cache_read_tokens), attribute('gen_ai.conversation.id', call.session_id),
  ]);
  const others = Array.from({ length: MIXED_TRACE_SPANS - 2 }, (_, k) => {
    const i = k + 2;
    if (k % 2 === 0) {
      const tool = TOOLS[(t + k) % TOOLS.length]!;
      return span(i, tool, 1, [
        ...codeAttributes('core/src/tools/parallel.rs', 294), attribute('tool_name', tool),
        attribute('call_id', `call_${t}_${k}`), attribute('busy_ns', 25_048 + k), attribute('idle_ns', 1_051 + t),
      ]);
    }
    const host = HOSTS[(t + k) % HOSTS.length]!;
    return span(i, 'GET', 3, [
      attribute('http.request.method', 'GET'), attribute('url.full', `https://${host}/v1/items/${t}-${k}`),
      attribute('server.address', host), attribute('server.port', 443), attribute('http.response.status_code', 200),
    ]);
  });
  const root = span(0, 'run_turn', 1, [...codeAttributes('core/src/tasks/regular.rs', 147), attribute('turn.id', `turn-${t}`)]);
  return [...others, chat, root];
}

/**
 * One ExportTraceServiceRequest of `spans` spans in traces of MIXED_TRACE_SPANS, and where each
 * span's trace id ends in the bytes, so a request stamps its number into all of them.
 */
function mixedTemplate(first: number, spans: number): { bytes: Buffer; traceOffsets: number[] } {
  const traces = spans / MIXED_TRACE_SPANS;
  const calls = makeEvents(first, traces, 'unused');
  const prefixes = calls.map(() => randomBytes(12));
  const message = otlpTypes.traces.request.fromObject({
    resourceSpans: [{
      resource: { attributes: [attribute('service.name', 'bench-agent'), attribute('service.version', '1.4.2'), attribute('tokentally.project', calls[0]!.project)] },
      scopeSpans: [{
        scope: { name: 'bench-agent', version: '1.4.2' },
        spans: calls.flatMap((call, t) => mixedTrace(Buffer.concat([prefixes[t]!, Buffer.alloc(4)]), call, first + t)),
      }],
    }],
  });
  const bytes = Buffer.from(otlpTypes.traces.request.encode(message).finish());
  const traceOffsets: number[] = [];
  for (const prefix of prefixes) {
    for (let at = bytes.indexOf(prefix); at >= 0; at = bytes.indexOf(prefix, at + 1)) traceOffsets.push(at + prefix.length);
  }
  if (traceOffsets.length !== spans) throw new Error(`found ${traceOffsets.length} of ${spans} trace ids in the encoded spans`);
  return { bytes, traceOffsets };
}

/**
 * A trace load in which 1 span in MIXED_TRACE_SPANS carries GenAI usage and the rest are tool and
 * HTTP spans, which the collector decodes and discards: `POST /v1/traces` with protobuf bodies of
 * `spans` spans from 64 templates, each request stamping fresh trace ids. Events = spans decoded.
 */
export async function runMixedTraceLoad(options: TraceLoadOptions, body = mixedTraceBodies(options.spans)): Promise<LoadResult> {
  return drive({
    url: `${options.url}/v1/traces`, connections: options.connections, seconds: options.seconds, eventsPerRequest: options.spans,
    headers: { 'content-type': 'application/x-protobuf' }, body,
  });
}

/** The n-th body of the mixed trace load: `spans` spans, 1 in MIXED_TRACE_SPANS with usage, every trace id new. */
export function mixedTraceBodies(spans: number): (n: number) => Buffer {
  if (spans % MIXED_TRACE_SPANS !== 0) throw new Error(`spans per request must be a multiple of ${MIXED_TRACE_SPANS}`);
  const traces = spans / MIXED_TRACE_SPANS;
  const templates = Array.from({ length: MIXED_TEMPLATES }, (_, t) => mixedTemplate(t * traces, spans));
  return (n) => {
    const { bytes, traceOffsets } = templates[n % templates.length]!;
    const body = Buffer.from(bytes);
    for (const offset of traceOffsets) body.writeUInt32BE(n, offset);
    return body;
  };
}

/**
 * A protobuf request of `type` as an OTLP/JSON exporter sends it: ids as hex, other bytes as base64,
 * 64-bit integers as decimal strings (OTLP/HTTP, "JSON Protobuf Encoding").
 */
export function asOtlpJson(type: protobuf.Type, bytes: Uint8Array): Buffer {
  const object = type.toObject(type.decode(bytes), { longs: String });
  return Buffer.from(JSON.stringify(object, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    if (!(raw instanceof Uint8Array)) return value;
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString(key.endsWith('Id') ? 'hex' : 'base64');
  }));
}
