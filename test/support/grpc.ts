import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { otlpTypes } from '../../collector/otlp/decode.js';

export const TRACE_EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** The stock OpenTelemetry gRPC trace exporter, pointed at a tokentally's `grpcUrl`. */
export function grpcExporter(grpcUrl: string, options: { gzip?: boolean; metadata?: Record<string, string> } = {}) {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  const config = { url: grpcUrl, compression: options.gzip ? 'gzip' : 'none', metadata, timeoutMillis: 10_000 } as const;
  return new OTLPTraceExporter(config);
}

/** A plain grpc-js client (bytes in, bytes out), for what the stock exporter does not send. */
export function grpcClient(grpcUrl: string, options: { gzip?: boolean } = {}): Client {
  return new Client(new URL(grpcUrl).host, credentials.createInsecure(), options.gzip ? { 'grpc.default_compression_algorithm': 2 } : {});
}

export interface GrpcAnswer {
  code: status;
  details: string;
  /** The ExportTraceServiceResponse of an OK answer, as an object. */
  response?: Record<string, any>;
  /** The RetryInfo delay in the error's `grpc-status-details-bin`, if any. */
  retryDelaySeconds?: number;
}

const identity = (bytes: Buffer) => bytes;

/** One unary call to `path` with raw message bytes; resolves with its status whatever it is. */
export function callExport(client: Client, body: Uint8Array, metadata: Record<string, string> = {}, path = TRACE_EXPORT): Promise<GrpcAnswer> {
  const md = new Metadata();
  for (const [key, value] of Object.entries(metadata)) md.set(key, value);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, Buffer.from(body), md, { deadline: Date.now() + 30_000 }, (error: ServiceError | null, response?: Buffer) => {
      if (!error) {
        resolve({ code: status.OK, details: '', response: otlpTypes.traces.response.toObject(otlpTypes.traces.response.decode(response!), { longs: Number }) });
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
