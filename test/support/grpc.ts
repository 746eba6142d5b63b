import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { otlpTypes } from '../../collector/otlp/decode.js';
import type { Signal } from '../../collector/otlp/receive.js';

/** Each signal's Export method. */
export const EXPORTS: Record<Signal, string> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
};
export const TRACE_EXPORT = EXPORTS.traces;

/** The stock OpenTelemetry gRPC trace exporter, pointed at a tokentally's `grpcUrl`. */
export function grpcExporter(grpcUrl: string, options: { gzip?: boolean; metadata?: Record<string, string> } = {}) {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  const config = { url: grpcUrl, compression: options.gzip ? 'gzip' : 'none', metadata, timeoutMillis: 10_000 } as const;
  return new OTLPTraceExporter(config);
}

/** A valid ExportTraceServiceRequest of about `bytes`: one field that no version of it has (15), which readers skip. */
export function padded(bytes: number): Buffer {
  const length = bytes - 5;
  const varint = [];
  for (let v = length; ; v >>>= 7) {
    if (v < 0x80) { varint.push(v); break; }
    varint.push((v & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([(15 << 3) | 2, ...varint]), Buffer.alloc(length, 0x20)]);
}

/** grpc-js's numbers for the compressions a client can send (compression-algorithms.ts). */
const COMPRESSION_ALGORITHMS = { deflate: 1, gzip: 2 } as const;

/** A plain grpc-js client (bytes in, bytes out), for what the stock exporter does not send; messages compressed as `compression` says. */
export function grpcClient(grpcUrl: string, options: { compression?: keyof typeof COMPRESSION_ALGORITHMS } = {}): Client {
  const { compression } = options;
  return new Client(new URL(grpcUrl).host, credentials.createInsecure(), compression ? { 'grpc.default_compression_algorithm': COMPRESSION_ALGORITHMS[compression] } : {});
}

export interface GrpcAnswer {
  code: status;
  details: string;
  /** The Export…ServiceResponse of an OK answer, as an object. */
  response?: Record<string, any>;
  /** The RetryInfo delay in the error's `grpc-status-details-bin`, if any. */
  retryDelaySeconds?: number;
}

const identity = (bytes: Buffer) => bytes;

/** One unary call to `path` with raw message bytes; resolves with its status whatever it is. */
export function callExport(client: Client, body: Uint8Array, metadata: Record<string, string> = {}, path = TRACE_EXPORT): Promise<GrpcAnswer> {
  const { response: type } = otlpTypes[(Object.keys(EXPORTS) as Signal[]).find((s) => EXPORTS[s] === path) ?? 'traces'];
  const md = new Metadata();
  for (const [key, value] of Object.entries(metadata)) md.set(key, value);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, Buffer.from(body), md, { deadline: Date.now() + 30_000 }, (error: ServiceError | null, response?: Buffer) => {
      if (!error) {
        resolve({ code: status.OK, details: '', response: type.toObject(type.decode(response!), { longs: Number }) });
        return;
      }
      resolve({ code: error.code, details: error.details, retryDelaySeconds: retryDelayOf(error.metadata) });
    });
  });
}

function retryDelayOf(metadata: Metadata): number | undefined {
  const bytes = metadata.get('grpc-status-details-bin')[0];
  if (!(bytes instanceof Buffer)) return undefined;
  const { details } = otlpTypes.status.toObject(otlpTypes.status.decode(bytes)) as { details?: { type_url: string; value: Uint8Array }[] };
  const retry = details?.find((d) => d.type_url === 'type.googleapis.com/google.rpc.RetryInfo');
  if (!retry) return undefined;
  return Number((otlpTypes.retryInfo.toObject(otlpTypes.retryInfo.decode(retry.value), { longs: Number }) as { retryDelay: { seconds: number } }).retryDelay.seconds);
}
