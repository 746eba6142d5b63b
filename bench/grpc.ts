import { connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { LoadResult } from './load.js';
import { percentile } from './reports.js';

/**
 * A lean gRPC client for the load, as autocannon is for HTTP: unary calls written straight onto
 * node:http2, with none of grpc-js's channel, filter and interceptor layers. The load measures the
 * service, and the grpc-js clients it used before spent 9-18 µs of CPU a record on the same two
 * cores (docs/benchmarks.md, "gRPC load and front, session 14"); an exporter's own CPU is spent on
 * the agent's machine, not the collector's.
 */

export const LOGS_EXPORT = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

/** A call's answer: its HTTP status, its grpc-status and grpc-message, and the response message's bytes (empty when there is none). */
export interface GrpcReply {
  httpStatus: number;
  /** From the trailers, or from the headers of a trailers-only answer. */
  grpcStatus: number;
  grpcMessage: string;
  message: Buffer;
}

/** An HTTP/2 connection to a gRPC server's `http://host:port`, once connected. */
export function openSession(url: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(url);
    session.once('error', reject);
    session.once('connect', () => {
      session.off('error', reject);
      // An error later ends the session's calls, which fail each on its own.
      session.on('error', () => {});
      resolve(session);
    });
  });
}

/**
 * One unary call: `message` in a length-prefixed frame (uncompressed) and `metadata` as headers;
 * rejects if the session takes no more calls or the stream ends without a status. The message is
 * written before the call's listeners are made, so none of them holds it while it waits.
 */
export function callGrpc(session: ClientHttp2Session, path: string, message: Buffer, metadata: Record<string, string> = {}): Promise<GrpcReply> {
  let stream: ClientHttp2Stream;
  try {
    stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...metadata });
  } catch (error) {
    // A session closed meanwhile: the call fails as any other, not the caller.
    return Promise.reject(error);
  }
  // The message's prefix: not compressed, its length. Written apart from the message, which is not copied.
  const prefix = Buffer.allocUnsafe(5);
  prefix[0] = 0;
  prefix.writeUInt32BE(message.length, 1);
  stream.cork();
  stream.write(prefix);
  stream.end(message);
  stream.uncork();
  return replyOf(stream);
}

function replyOf(stream: ClientHttp2Stream): Promise<GrpcReply> {
  return new Promise((resolve, reject) => {
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    // Decided at 'close': a reset after the status (a server that answered before reading all of the
    // message) leaves the answer standing, whatever its code.
    let failure: Error | undefined;
    stream.on('error', (error) => (failure = error));
    stream.on('close', () => {
      const fields = trailers['grpc-status'] === undefined ? headers : trailers;
      if (fields['grpc-status'] === undefined) return reject(failure ?? new Error(`stream closed without a grpc-status (reset code ${stream.rstCode})`));
      const body = Buffer.concat(chunks);
      resolve({
        httpStatus: Number(headers[':status']),
        grpcStatus: Number(fields['grpc-status']),
        grpcMessage: percentDecoded(String(fields['grpc-message'] ?? '')),
        message: body.subarray(5, 5 + (body.length >= 5 ? body.readUInt32BE(1) : 0)),
      });
    });
  });
}

/** grpc-message is percent-encoded; one that is not validly so is kept as sent. */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export interface GrpcDriveOptions {
  /** The collector's OTLP/gRPC URL as it prints it. */
  url: string;
  /** The unary method: `/opentelemetry.proto.collector.logs.v1.LogsService/Export`. */
  path: string;
  connections: number;
  seconds: number;
  eventsPerRequest: number;
  /**
   * The message bytes of the n-th call, made on connection `slot`: every one must carry new records.
   * The connection's call before has ended, so its bytes may be written over.
   */
  body(n: number, slot: number): Buffer;
}

/**
 * The gRPC counterpart of `drive`: `connections` HTTP/2 connections, each with one call in flight,
 * calling for a fixed time (a connection that closes is opened again). A call counts if it is
 * answered HTTP 200 with grpc-status 0; latency is from the send to its end (the trailers), which the
 * collector sends after the durable commit.
 */
export async function driveGrpc(options: GrpcDriveOptions): Promise<LoadResult> {
  const sessions = await Promise.all(Array.from({ length: options.connections }, () => openSession(options.url)));
  const latencies: number[] = [];
  let failures = 0;
  let sent = 0;
  const started = performance.now();
  const end = started + options.seconds * 1000;
  // Takes the body as an argument, where the loop below would hold it in a variable while the call waits.
  const call = (session: ClientHttp2Session, body: Buffer) => {
    const due = performance.now();
    return callGrpc(session, options.path, body).then((reply) => {
      if (reply.httpStatus === 200 && reply.grpcStatus === 0) latencies.push(performance.now() - due);
      else failures++;
    }, () => failures++);
  };
  await Promise.all(sessions.map(async (_, i) => {
    while (performance.now() < end) {
      if (sessions[i]!.closed || sessions[i]!.destroyed) sessions[i] = await openSession(options.url);
      await call(sessions[i]!, options.body(sent++, i));
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  for (const session of sessions) session.close();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    eventsPerSecond: (latencies.length * options.eventsPerRequest) / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failures,
  };
}
