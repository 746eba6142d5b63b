import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { otlpTypes } from '../../collector/otlp/decode.js';
import type { Signal } from '../../collector/otlp/receive.js';
import { EXPORTS } from './grpc.js';
import { encodeProtobuf } from './otlp.js';

/**
 * A minimal OTLP upstream (no OpenTelemetry Collector build ships on npm or Debian): OTLP/HTTP
 * (JSON and protobuf, gzip or not) on node:http and OTLP/gRPC on grpc-js, decoding every request
 * with the vendored protos. `answer` decides each reply, so a test can make it fail or hang.
 */

export type Reply = 'ok' | 'hang' | { status: number; retryAfter?: string } | { grpc: status };

export interface Received {
  signal: Signal;
  via: 'http/json' | 'http/protobuf' | 'grpc';
  headers: Record<string, string>;
  /** The request's resources (resourceSpans, resourceLogs or resourceMetrics) in one canonical form. */
  resources: unknown[];
}

export interface Receiver {
  httpUrl: string;
  grpcUrl: string;
  received: Received[];
  /** Every reply from now on; `ok` by default. */
  answer: (signal: Signal) => Reply;
  /** How many requests came in, answered or not. */
  attempts: number;
  close(): Promise<void>;
}

const RESOURCES: Record<Signal, string> = { traces: 'resourceSpans', logs: 'resourceLogs', metrics: 'resourceMetrics' };

/** A request's resources as the decoded protobuf message, whatever encoding it came in. */
export function canonicalResources(signal: Signal, protobuf: Uint8Array): unknown[] {
  const type = otlpTypes[signal].request;
  const object = type.toObject(type.decode(protobuf), { longs: String, enums: Number, bytes: String }) as Record<string, unknown[]>;
  return object[RESOURCES[signal]] ?? [];
}

export async function startReceiver(): Promise<Receiver> {
  const hanging = new Set<() => void>();
  const receiver: Receiver = { httpUrl: '', grpcUrl: '', received: [], answer: () => 'ok', attempts: 0, close: async () => {} };
  const http: HttpServer = createServer(async (req, res) => {
    const body = await readAll(req);
    receiver.attempts++;
    const signal = (Object.keys(RESOURCES) as Signal[]).find((s) => req.url === `/v1/${s}`);
    if (!signal) return res.writeHead(404).end();
    const reply = receiver.answer(signal);
    if (reply === 'hang') return hanging.add(() => res.destroy());
    if (typeof reply === 'object' && 'status' in reply) {
      return res.writeHead(reply.status, reply.retryAfter ? { 'retry-after': reply.retryAfter } : {}).end('no');
    }
    const bytes = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
    const json = (req.headers['content-type'] ?? '').startsWith('application/json');
    const protobuf = json ? encodeProtobuf(signal, JSON.parse(bytes.toString('utf8'))) : bytes;
    receiver.received.push({ signal, via: json ? 'http/json' : 'http/protobuf', headers: req.headers as Record<string, string>, resources: canonicalResources(signal, protobuf) });
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  receiver.httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

  const grpc = new Server();
  const identity = (bytes: Buffer) => bytes;
  for (const signal of Object.keys(EXPORTS) as Signal[]) {
    grpc.addService({
      Export: { path: EXPORTS[signal], requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
    }, {
      Export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        receiver.attempts++;
        const reply = receiver.answer(signal);
        if (reply === 'hang') return void hanging.add(() => callback({ code: status.UNAVAILABLE, details: 'closing' }));
        if (typeof reply === 'object') return callback({ code: 'grpc' in reply ? reply.grpc : status.UNAVAILABLE, details: 'no' });
        const headers = Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)]));
        receiver.received.push({ signal, via: 'grpc', headers, resources: canonicalResources(signal, call.request) });
        callback(null, Buffer.alloc(0));
      },
    });
  }
  const port = await new Promise<number>((resolve, reject) => grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  receiver.grpcUrl = `http://127.0.0.1:${port}`;
  receiver.close = async () => {
    for (const end of hanging) end();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    grpc.forceShutdown();
  };
  return receiver;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
