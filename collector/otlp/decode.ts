import { join } from 'node:path';
import protobuf from 'protobufjs';
import { excerpt } from '../../src/excerpt.js';
import { describeIssue } from '../../src/event/validate.js';
import { ApiError, badRequest } from '../../src/http/errors.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { parseJson } from '../json.js';
import type { Rejection, Signal } from './receive.js';
import { ExportTraceRequest, type TraceSpan } from './request.js';
import { protobufScanner, type ProtobufLimits } from './scan.js';
import { grpcCode } from './status.js';

/**
 * The two OTLP/HTTP codecs: bytes in either encoding → the spans of `request.ts`, and answers back
 * in the encoding the request came in. Nothing after this module knows which encoding was used.
 */

export type OtlpEncoding = 'json' | 'protobuf';

const PROTO_DIR = join(PACKAGE_ROOT, 'collector', 'otlp', 'proto');

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync(['opentelemetry/proto/collector/trace/v1/trace_service.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto']);
/** The message types of the vendored schema; tests and the benchmark encode with them as a client would. */
export const otlpTypes = {
  request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
  response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
  status: root.lookupType('google.rpc.Status'),
  retryInfo: root.lookupType('google.rpc.RetryInfo'),
};

const scanRequest = protobufScanner(otlpTypes.request, root.lookupType('opentelemetry.proto.trace.v1.Span'));

/** The counts a request is held to, in either encoding. */
export type OtlpLimits = ProtobufLimits;

/** `resourceSpans[].scopeSpans[].spans`: the spans array sits in five objects and arrays. */
const SPANS_DEPTH = 5;

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

export function decodeTraceRequest(body: Buffer, encoding: OtlpEncoding, limits: OtlpLimits): TraceSpan[] {
  // An empty body is an empty request, which OTLP answers with success.
  if (body.length === 0) return [];
  const message = encoding === 'json' ? parseOtlpJson(body, limits) : parseProtobuf(body, limits);
  const result = ExportTraceRequest.safeParse(message);
  if (!result.success) throw badRequest(describeIssue(result.error.issues));
  return result.data;
}

function parseProtobuf(body: Buffer, limits: OtlpLimits): unknown {
  scanRequest(body, limits);
  try {
    return otlpTypes.request.toObject(otlpTypes.request.decode(body), { longs: String });
  } catch (error) {
    throw badRequest(`body is not a protobuf ExportTraceServiceRequest: ${(error as Error).message}`);
  }
}

/** JSON with every integer kept exact: one beyond 2^53 (a time in nanoseconds) is read from its digits. */
function parseOtlpJson(body: Buffer, limits: OtlpLimits): unknown {
  return camelCaseKeys(parseJson(body, { values: limits.values, counted: { key: 'spans', depth: SPANS_DEPTH, count: limits.spans }, exactIntegers: true }));
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

/** Each signal's `Export…ServiceResponse` and what its partialSuccess calls the rejected records. */
const RESPONSES: Record<Signal, { type: protobuf.Type; rejectedField: string }> = {
  traces: { type: otlpTypes.response, rejectedField: 'rejectedSpans' },
};

/** The signal's `Export…ServiceResponse`; `partialSuccess` only when records were rejected. */
export function encodeExportResponse(signal: Signal, encoding: OtlpEncoding, rejection?: Rejection): Encoded {
  const { type, rejectedField } = RESPONSES[signal];
  const partialSuccess = rejection && { [rejectedField]: rejection.rejected, errorMessage: rejection.errorMessage };
  return encode(type, partialSuccess ? { partialSuccess } : {}, encoding);
}

/** The `google.rpc.Status` of an error answer; OTLP/HTTP clients go by the HTTP status, not its code. */
export function encodeStatus(encoding: OtlpEncoding, httpStatus: number, message: string): Encoded {
  return encode(otlpTypes.status, { code: grpcCode(httpStatus), message }, encoding);
}
