import { join } from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import { parse as parseLossless } from 'lossless-json';
import protobuf from 'protobufjs';
import type { CapturedRequest, Signal } from './otlp-capture.js';
import { REPO_ROOT } from './paths.js';

/**
 * A captured export request → its OTLP/JSON form (the encoding the OTLP spec defines for JSON:
 * lowerCamelCase keys, 64-bit integers as strings, trace and span ids as hex). A JSON body is kept
 * as sent, numbers exact (lossless-json), so whether an emitter writes counts as strings or numbers
 * stays visible; a protobuf body is decoded with the OTLP schema of opentelemetry-proto v1.11.0.
 */

/** The project's vendored schema, which the collector decodes with too. */
const PROTO_DIR = join(REPO_ROOT, 'collector', 'otlp', 'proto');

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync([
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
]);

export const exportRequestTypes: Record<Signal, protobuf.Type> = {
  traces: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
  logs: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
  metrics: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
};

export type Encoding = 'json' | 'protobuf';

/** The body bytes after undoing HTTP content-encoding (gRPC bodies arrive already decompressed). */
export function plainBody(request: CapturedRequest): Buffer {
  if (request.transport === 'grpc') return request.body;
  const encoding = (request.contentEncoding ?? '').toLowerCase();
  return encoding === 'gzip' ? gunzipSync(request.body) : encoding === 'deflate' ? inflateSync(request.body) : request.body;
}

export function encodingOf(request: CapturedRequest): Encoding {
  return request.transport === 'grpc' || String(request.contentType).includes('protobuf') ? 'protobuf' : 'json';
}

/** The OTLP/JSON value of a request body; JSON numbers come back as lossless-json `LosslessNumber`s. */
export function decodeRequest(request: CapturedRequest): unknown {
  const body = plainBody(request);
  if (encodingOf(request) === 'json') return body.length === 0 ? {} : parseLossless(body.toString('utf8'));
  if (!request.signal) throw new Error(`cannot decode a protobuf body for ${request.path}`);
  const type = exportRequestTypes[request.signal];
  const object = type.toObject(type.decode(body), { longs: String, enums: Number, bytes: String });
  return hexIds(object);
}

const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** protobufjs renders bytes as base64; OTLP/JSON writes trace and span ids as lowercase hex. */
function hexIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(hexIds);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, ID_KEYS.has(k) && typeof v === 'string' ? Buffer.from(v, 'base64').toString('hex') : hexIds(v)]),
    );
  }
  return value;
}
