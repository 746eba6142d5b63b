import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { z } from 'zod';
import { excerpt } from '../../src/excerpt.js';
import { describeIssue } from '../../src/event/validate.js';
import { ApiError, badRequest } from '../../src/http/errors.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { cutJson } from '../json.js';
import type { JsonRecords, Read } from './common.js';
import { logRecordSteps } from './logs-protobuf.js';
import { LONG_STRING, LongStrings, MAX_OTLP_STRING_BYTES } from './long-strings.js';
import { ExportLogsRequest, logsJsonRecords, type LogRecord } from './logs-request.js';
import { ExportMetricsRequest, metricsJsonRecords, type MetricPoint } from './metrics-request.js';
import type { Rejection, Signal } from './receive.js';
import { ExportTraceRequest, traceJsonRecords, type TraceSpan } from './request.js';
import { protobufScanner, recordRules, type ProtobufLimits, type RecordRules } from './scan.js';
import { runNow, type Steps } from './steps.js';
import { traceSpanSteps } from './traces-protobuf.js';
import { grpcCode } from './status.js';

/**
 * The two OTLP/HTTP codecs, per signal: bytes in either encoding → the signal's records, and
 * answers back in the encoding the request came in. Nothing after this module knows which encoding
 * was used.
 */

export type OtlpEncoding = 'json' | 'protobuf';

const PROTO_DIR = join(PACKAGE_ROOT, 'collector', 'otlp', 'proto');

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync([
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
]);
const exportTypes = (name: string) => ({
  request: root.lookupType(`opentelemetry.proto.collector.${name}ServiceRequest`),
  response: root.lookupType(`opentelemetry.proto.collector.${name}ServiceResponse`),
});
/** The message types of the vendored schema; tests and the benchmark encode with them as a client would. */
export const otlpTypes = {
  traces: exportTypes('trace.v1.ExportTrace'),
  logs: exportTypes('logs.v1.ExportLogs'),
  metrics: exportTypes('metrics.v1.ExportMetrics'),
  status: root.lookupType('google.rpc.Status'),
  retryInfo: root.lookupType('google.rpc.RetryInfo'),
};

/**
 * The OTLP/JSON members that are protobuf `string` fields, in both spellings: the strings held to
 * MAX_OTLP_STRING_BYTES, as the protobuf scan holds them (bytes in base64, ids in hex and unknown
 * fields are not).
 */
const STRING_FIELDS: ReadonlySet<string> = new Set(stringFields(root).flatMap((name) => [name, name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]));

function stringFields(namespace: protobuf.NamespaceBase): string[] {
  return namespace.nestedArray.flatMap((nested) => [
    ...(nested instanceof protobuf.Type ? nested.fieldsArray.filter((field) => field.type === 'string').map((field) => field.name) : []),
    ...(nested instanceof protobuf.Namespace ? stringFields(nested) : []),
  ]);
}

/** What each signal's request decodes to. */
export interface SignalRecords {
  traces: TraceSpan[];
  logs: LogRecord[];
  metrics: MetricPoint[];
}

interface Codec<S extends Signal> {
  schema: z.ZodType<SignalRecords[S]>;
  /** Its records in words: `spans`. */
  noun: string;
  /** The records as OTLP/JSON members (both spellings), and how many objects and arrays enclose them. */
  json: { keys: string[]; depth: number };
  /** The schema a record at a time, for a JSON body. */
  jsonRecords: JsonRecords<SignalRecords[S][number]>;
  scan: (body: Buffer, limits: ProtobufLimits, long: LongStrings) => void;
  /** Reads a scanned protobuf body straight to the records; without one, protobufjs decodes it and the schema reads that. */
  fromWire?: (body: Buffer) => Steps<SignalRecords[S]>;
  /** What the response's partialSuccess calls the rejected records. */
  rejectedField: string;
}

const logRecordType = root.lookupType('opentelemetry.proto.logs.v1.LogRecord');
const spanType = root.lookupType('opentelemetry.proto.trace.v1.Span');
const metricType = (name: string) => root.lookupType(`opentelemetry.proto.metrics.v1.${name}`);

const CODECS: { [S in Signal]: Codec<S> } = {
  traces: {
    schema: ExportTraceRequest, noun: 'spans', rejectedField: 'rejectedSpans',
    // resourceSpans[].scopeSpans[].spans
    json: { keys: ['spans'], depth: 5 }, jsonRecords: traceJsonRecords,
    scan: protobufScanner(otlpTypes.traces.request, [spanType]),
    fromWire: traceSpanSteps,
  },
  logs: {
    schema: ExportLogsRequest, noun: 'log records', rejectedField: 'rejectedLogRecords',
    // resourceLogs[].scopeLogs[].logRecords
    json: { keys: ['logRecords', 'log_records'], depth: 5 }, jsonRecords: logsJsonRecords,
    scan: protobufScanner(otlpTypes.logs.request, [logRecordType]),
    fromWire: logRecordSteps,
  },
  metrics: {
    schema: ExportMetricsRequest, noun: 'data points', rejectedField: 'rejectedDataPoints',
    // resourceMetrics[].scopeMetrics[].metrics[].<gauge, sum, histogram, …>.dataPoints
    json: { keys: ['dataPoints', 'data_points'], depth: 8 }, jsonRecords: metricsJsonRecords,
    scan: protobufScanner(
      otlpTypes.metrics.request,
      ['NumberDataPoint', 'HistogramDataPoint', 'ExponentialHistogramDataPoint', 'SummaryDataPoint'].map(metricType),
    ),
  },
};

/** The counts a request is held to, in either encoding; each codec names its records in the message. */
export type OtlpLimits = ProtobufLimits;

const MEDIA_TYPES: ReadonlyMap<string, OtlpEncoding> = new Map([
  ['application/json', 'json'],
  ['application/x-protobuf', 'protobuf'],
  ['application/protobuf', 'protobuf'],
]);

/** The encoding a Content-Type names (parameters such as charset are fine), or undefined. */
export function encodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  return MEDIA_TYPES.get((contentType ?? '').split(';')[0]!.trim().toLowerCase());
}

export function requireEncoding(contentType: string | undefined): OtlpEncoding {
  const encoding = encodingOf(contentType);
  if (encoding) return encoding;
  throw new ApiError(415, 'unsupported_media_type', `Content-Type "${excerpt(contentType ?? '')}" is not supported; send application/json or application/x-protobuf`);
}

/** One export's bytes → the signal's records, within the limits (400/413 naming the field otherwise). */
export function decodeExport<S extends Signal>(signal: S, body: Buffer, encoding: OtlpEncoding, limits: OtlpLimits): SignalRecords[S] {
  return runNow(decodeSteps(signal, body, encoding, limits));
}

/**
 * `decodeExport` in steps: records are read a few at a time; the scan of the body is one step. The
 * strings over MAX_OTLP_STRING_BYTES are read as LONG_STRING, and noted in `long`.
 */
export function* decodeSteps<S extends Signal>(
  signal: S, body: Buffer, encoding: OtlpEncoding, limits: OtlpLimits, long = new LongStrings(),
): Steps<SignalRecords[S]> {
  const codec: Codec<S> = CODECS[signal];
  const scanLimits: OtlpLimits = { values: limits.values, records: { ...limits.records, noun: codec.noun } };
  if (encoding === 'protobuf' && codec.fromWire) {
    scanProtobuf(signal, body, limits, long);
    yield;
    return yield* codec.fromWire(body);
  }
  if (encoding === 'json' && body.length > 0) return yield* jsonSteps(body, codec, scanLimits, long);
  // An empty body is an empty request, which OTLP answers with success.
  const message = body.length === 0 ? {} : parseProtobuf(signal, body, codec, scanLimits, long);
  const result = codec.schema.safeParse(message);
  if (!result.success) throw badRequest(describeIssue(result.error.issues));
  return result.data;
}

/** Checks a protobuf body of the signal against the limits and the schema's wire types (scan.ts); only a scanned body is read. */
export function scanProtobuf(signal: Signal, body: Buffer, limits: OtlpLimits, long: LongStrings): void {
  CODECS[signal].scan(body, signalLimits(signal, limits), long);
}

const scansAround = {
  logs: protobufScanner(otlpTypes.logs.request, [logRecordType], 'counted'),
  traces: protobufScanner(otlpTypes.traces.request, [spanType], 'counted'),
};

/**
 * `scanProtobuf` of a logs or traces body that walks none of the records' bytes, only counts them:
 * what the one-pass read checks itself (checked-wire.ts). Returns the values counted.
 */
export function scanAround(signal: keyof typeof scansAround, body: Buffer, limits: OtlpLimits, long: LongStrings): number {
  return scansAround[signal](body, signalLimits(signal, limits), long);
}

/** The scan's rules of a Span and the messages within it, for the one-pass read of spans (traces-one-pass.ts). */
export const SPAN_RULES: RecordRules = recordRules(spanType);

/** The limits with the records named as the signal calls them. */
function signalLimits(signal: Signal, limits: OtlpLimits): OtlpLimits {
  return { values: limits.values, records: { ...limits.records, noun: CODECS[signal].noun } };
}

/** protobufjs's reader, but a string over MAX_OTLP_STRING_BYTES (which the scan noted) is skipped, read as LONG_STRING. */
class LongStringReader extends protobuf.BufferReader {
  override string(): string {
    return this.skipLong() ?? super.string();
  }

  /** What proto3 strings are read with (UTF-8 checked, in JavaScript). */
  override stringVerify(): string {
    return this.skipLong() ?? super.stringVerify();
  }

  /** LONG_STRING, past the string, when the next one is over the maximum; else undefined, nothing read. */
  private skipLong(): string | undefined {
    const start = this.pos;
    const length = this.uint32();
    if (length > MAX_OTLP_STRING_BYTES) {
      this.pos += length;
      return LONG_STRING;
    }
    this.pos = start;
    return undefined;
  }
}

function parseProtobuf(signal: Signal, body: Buffer, codec: Codec<Signal>, limits: OtlpLimits, long: LongStrings): unknown {
  codec.scan(body, limits, long);
  const { request } = otlpTypes[signal];
  try {
    return request.toObject(request.decode(new LongStringReader(body)), { longs: String });
  } catch (error) {
    throw badRequest(`body is not a protobuf ${request.name}: ${(error as Error).message}`);
  }
}

/**
 * A JSON body with every integer kept exact (one beyond 2^53, a time in nanoseconds, is read from
 * its digits), read a record at a time after its outline: JSON.parse and the schema of a whole
 * 10,000-span body held the event loop for seconds.
 */
function* jsonSteps<S extends Signal>(body: Buffer, codec: Codec<S>, limits: OtlpLimits, long: LongStrings): Steps<SignalRecords[S]> {
  const cut = cutJson(body, {
    values: limits.values, counted: { ...codec.json, count: limits.records }, exactIntegers: true,
    long: { bytes: MAX_OTLP_STRING_BYTES, fields: STRING_FIELDS, placeholder: LONG_STRING, found: long.paths },
  });
  yield;
  const places = read(codec.jsonRecords(camelCaseKeys(cut.outline)), '');
  const records: SignalRecords[S][number][] = [];
  for (const place of places) {
    yield;
    records.push(read(place.read(camelCaseKeys(cut.element(place.n, place.path))), place.path));
  }
  return records as SignalRecords[S];
}

/** `at`: where the value read sits, which the issues' paths start from. */
function read<T>(result: Read<T>, at: string): T {
  if ('issues' in result) throw badRequest(describeIssue(result.issues, 'body', at));
  return result.data;
}

/**
 * OTLP/JSON keys are lowerCamelCase; the proto's snake_case names are accepted too. A null field
 * means the field's default (proto3 JSON mapping), so it is dropped. The recursion is as deep as
 * the JSON, which the scan has held to MAX_NESTING.
 */
function camelCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCaseKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    // __proto__ is no OTLP field, and assigning it would replace the object's prototype.
    if (v !== null && key !== '__proto__') out[key.includes('_') ? key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) : key] = camelCaseKeys(v);
  }
  return out;
}

export interface Encoded {
  body: string | Uint8Array<ArrayBuffer>;
  contentType: string;
}

function encode(type: protobuf.Type, object: Record<string, unknown>, encoding: OtlpEncoding): Encoded {
  const message = type.fromObject(object);
  return encoding === 'json'
    ? { body: JSON.stringify(type.toObject(message, { longs: String })), contentType: 'application/json' }
    : { body: new Uint8Array(type.encode(message).finish()), contentType: 'application/x-protobuf' };
}

/** The signal's `Export…ServiceResponse`; `partialSuccess` only when records were rejected. */
export function encodeExportResponse(signal: Signal, encoding: OtlpEncoding, rejection?: Rejection): Encoded {
  const partialSuccess = rejection && { [CODECS[signal].rejectedField]: rejection.rejected, errorMessage: rejection.errorMessage };
  return encode(otlpTypes[signal].response, partialSuccess ? { partialSuccess } : {}, encoding);
}

/** The `google.rpc.Status` of an error answer; OTLP/HTTP clients go by the HTTP status, not its code. */
export function encodeStatus(encoding: OtlpEncoding, httpStatus: number, message: string): Encoded {
  return encode(otlpTypes.status, { code: grpcCode(httpStatus), message }, encoding);
}
