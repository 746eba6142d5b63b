import { Client, credentials, Metadata } from '@grpc/grpc-js';
import type { LoadResult } from './load.js';
import { percentile } from './reports.js';

export const LOGS_EXPORT = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

export interface GrpcDriveOptions {
  /** The collector's OTLP/gRPC URL as it prints it. */
  url: string;
  /** The unary method: `/opentelemetry.proto.collector.logs.v1.LogsService/Export`. */
  path: string;
  connections: number;
  seconds: number;
  eventsPerRequest: number;
  /** The message bytes of the n-th call: every one must carry new records. */
  body(n: number): Buffer;
}

const identity = (bytes: Buffer) => bytes;

/**
 * The gRPC counterpart of `drive`: `connections` grpc-js clients, each on its own HTTP/2 connection
 * with one call in flight, calling for a fixed time; latency is from the call to its answer, which
 * the collector sends after the durable commit.
 */
export async function driveGrpc(options: GrpcDriveOptions): Promise<LoadResult> {
  const host = new URL(options.url).host;
  // A local subchannel pool each, or grpc-js would share one connection among the clients.
  const clients = Array.from({ length: options.connections }, () => new Client(host, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  await Promise.all(clients.map((client) => new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())))));
  const latencies: number[] = [];
  let failures = 0;
  let sent = 0;
  const started = performance.now();
  const end = started + options.seconds * 1000;
  const call = (client: Client, body: Buffer) =>
    new Promise<boolean>((resolve) => client.makeUnaryRequest(options.path, identity, identity, body, new Metadata(), (error) => resolve(!error)));
  await Promise.all(clients.map(async (client) => {
    while (performance.now() < end) {
      const body = options.body(sent++);
      const due = performance.now();
      if (await call(client, body)) latencies.push(performance.now() - due);
      else failures++;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  for (const client of clients) client.close();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    eventsPerSecond: (latencies.length * options.eventsPerRequest) / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failures,
  };
}
