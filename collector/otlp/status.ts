import { status } from '@grpc/grpc-js';

/**
 * The gRPC code of each HTTP status our errors carry: the answer of an OTLP/gRPC call, and the code
 * in the `google.rpc.Status` body of an OTLP/HTTP error. OTLP (opentelemetry-proto
 * docs/specification.md, "OTLP/gRPC Response") has clients retry UNAVAILABLE, and
 * RESOURCE_EXHAUSTED only when the status carries a RetryInfo: so a full queue or decoding budget
 * (429, which has a retry delay) is RESOURCE_EXHAUSTED with one, and a request over a limit (413) is
 * RESOURCE_EXHAUSTED without, as gRPC servers answer an over-size message and OTLP says clients must
 * not retry. Only our own bugs are INTERNAL.
 */
const CODES: Readonly<Record<number, status>> = {
  400: status.INVALID_ARGUMENT,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  404: status.NOT_FOUND,
  // A body that stopped coming: the collector's own deadline for it passed (OTLP clients retry it).
  408: status.DEADLINE_EXCEEDED,
  413: status.RESOURCE_EXHAUSTED,
  415: status.INVALID_ARGUMENT,
  429: status.RESOURCE_EXHAUSTED,
  503: status.UNAVAILABLE,
};

export function grpcCode(httpStatus: number): status {
  return CODES[httpStatus] ?? status.INTERNAL;
}
