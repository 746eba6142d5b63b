import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, createServer as createHttp2Server, type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { gunzipSync, inflateSync } from 'node:zlib';

/**
 * An OTLP receiver that only records: each export request's raw body, path and encodings, over
 * OTLP/HTTP (JSON or protobuf, as sent, compressed or not) and OTLP/gRPC (the three `Export`
 * services). It answers success, or the retryable failure an exporter must retry (`failFirst`), so
 * a run shows what a retry looks like. The gRPC side reads the HTTP/2 stream itself rather than
 * through @grpc/grpc-js, because grpc-js drops `grpc-encoding` and the compressed flag before a
 * handler sees the message, and which compression each CLI uses is part of what is recorded.
 *
 * With `forward` it records on the way to a real receiver: each request goes on, byte for byte, to
 * that receiver, and the exporter gets the receiver's answer (or, with `loseFirstAnswers`, a
 * retryable failure the first time a body arrives, though the receiver has it).
 */

export type Signal = 'traces' | 'logs' | 'metrics';

export interface CapturedRequest {
  seq: number;
  /** Milliseconds since the receiver started. */
  atMs: number;
  transport: 'http' | 'grpc';
  /** `/v1/logs`, or the gRPC method path `/opentelemetry.proto.collector.logs.v1.LogsService/Export`. */
  path: string;
  signal: Signal | undefined;
  contentType: string | undefined;
  /** HTTP `content-encoding`, or gRPC `grpc-encoding` (the message compression). */
  contentEncoding: string | undefined;
  /** Every request header (HTTP/2 pseudo-headers included for gRPC); no credentials are in play here. */
  headers: Record<string, string>;
  /** HTTP only: whether the body came chunked (no Content-Length). */
  chunked?: boolean;
  /** gRPC only: whether the message's compressed flag was set. */
  compressed?: boolean;
  /** HTTP: the body exactly as it arrived. gRPC: the message, decompressed (always protobuf). */
  body: Buffer;
  /** Bytes on the wire: the HTTP body as sent, or the gRPC message before decompression. */
  wireBytes: number;
  /** What the receiver answered: an HTTP status, or a gRPC status code. */
  answered: number;
  /** With `forward`: what the real receiver answered, and its response (the HTTP body, or the gRPC message). */
  upstream?: { answered: number; body: Buffer };
}

export interface OtlpCapture {
  /** Base URL for OTLP/HTTP; exporters append `/v1/<signal>`. */
  httpUrl: string;
  /** `http://127.0.0.1:<port>` for OTLP/gRPC. */
  grpcUrl: string;
  requests: CapturedRequest[];
  close(): Promise<void>;
}

export interface CaptureOptions {
  /** Answer this many first requests per path with 503 / UNAVAILABLE before accepting. */
  failFirst?: number;
  /** Listen on these ports instead of ephemeral ones (4318 and 4317 to see where a CLI sends by default). */
  ports?: { http: number; grpc: number };
  /** Pass every export on to this OTLP receiver (e.g. a real tokentally) and answer what it answered. */
  forward?: { httpUrl: string; grpcUrl: string };
  /**
   * With `forward`: answer the first arrival of each distinct body 503 / UNAVAILABLE after passing it
   * on, as when a receiver commits a batch and its answer is lost. An exporter that retries sends
   * the same bytes again, so the receiver gets them twice.
   */
  loseFirstAnswers?: boolean;
}

const SERVICES: Record<Signal, string> = {
  traces: 'opentelemetry.proto.collector.trace.v1.TraceService',
  logs: 'opentelemetry.proto.collector.logs.v1.LogsService',
  metrics: 'opentelemetry.proto.collector.metrics.v1.MetricsService',
};

export async function startCapture(options: CaptureOptions = {}): Promise<OtlpCapture> {
  const started = Date.now();
  const requests: CapturedRequest[] = [];
  const seen = new Map<string, number>();
  const shouldFail = (path: string) => {
    const n = (seen.get(path) ?? 0) + 1;
    seen.set(path, n);
    return n <= (options.failFirst ?? 0);
  };
  const answered = new Set<string>();
  const loseAnswer = (path: string, body: Buffer) => {
    if (!options.loseFirstAnswers) return false;
    const key = `${path} ${createHash('sha256').update(body).digest('hex')}`;
    if (answered.has(key)) return false;
    answered.add(key);
    return true;
  };
  let upstreamGrpc: ClientHttp2Session | undefined;
  const record = (request: Omit<CapturedRequest, 'seq' | 'atMs'>) => requests.push({ seq: requests.length + 1, atMs: Date.now() - started, ...request });

  const http = createServer((req, res) => {
    void readRaw(req).then(async (body) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      const signal = (['traces', 'logs', 'metrics'] as const).find((s) => path === `/v1/${s}`);
      const contentType = req.headers['content-type'];
      const chunked = req.headers['content-length'] === undefined;
      const status = req.method !== 'POST' || !signal ? 404 : shouldFail(path) ? 503 : 200;
      const upstream = status === 200 && options.forward
        ? await forwardHttp(options.forward.httpUrl + path, req, body, chunked).catch((error: Error) => ({ status: 502, headers: {}, body: Buffer.from(`capture receiver: forwarding failed: ${error.message}`) }))
        : undefined;
      const lost = upstream !== undefined && loseAnswer(path, body);
      record({
        transport: 'http',
        path,
        signal,
        contentType,
        contentEncoding: req.headers['content-encoding'],
        headers: flatHeaders(req.headers),
        chunked,
        body,
        wireBytes: body.length,
        answered: lost ? 503 : upstream?.status ?? status,
        upstream: upstream && { answered: upstream.status, body: upstream.body },
      });
      if (lost) return res.writeHead(503).end();
      if (upstream) return res.writeHead(upstream.status, upstream.headers).end(upstream.body);
      // An empty Export*ServiceResponse: `{}` in JSON, zero bytes in protobuf.
      const json = !String(contentType).includes('protobuf');
      res.writeHead(status, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(status === 200 && json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => http.listen(options.ports?.http ?? 0, '127.0.0.1', resolve));

  const grpcServer = createHttp2Server();
  grpcServer.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', async () => {
      const path = String(headers[':path']);
      const signal = (Object.entries(SERVICES) as [Signal, string][]).find(([, service]) => path === `/${service}/Export`)?.[0];
      const encoding = stringOf(headers['grpc-encoding']);
      const frame = Buffer.concat(chunks);
      let body: Buffer;
      let compressed = false;
      try {
        ({ body, compressed } = grpcMessage(frame, encoding));
      } catch (error) {
        return answerGrpc(stream, 13, `capture receiver: ${(error as Error).message}`);
      }
      const code = !signal ? 12 : shouldFail(path) ? 14 : 0;
      if (code === 0 && options.forward) upstreamGrpc ??= connect(options.forward.grpcUrl).on('error', () => {});
      const upstream = code === 0 && upstreamGrpc
        ? await forwardGrpc(upstreamGrpc, headers, frame).catch((error: Error): GrpcUpstreamAnswer => ({
          code: 14, headers: { 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': encodeURIComponent(`capture receiver: forwarding failed: ${error.message}`) },
          frames: Buffer.alloc(0), message: Buffer.alloc(0), trailers: undefined,
        }))
        : undefined;
      const lost = upstream !== undefined && loseAnswer(path, body);
      record({
        transport: 'grpc',
        path,
        signal,
        contentType: stringOf(headers['content-type']),
        contentEncoding: encoding,
        compressed,
        headers: flatHeaders(headers),
        body,
        wireBytes: Math.max(frame.length - 5, 0),
        answered: lost ? 14 : upstream?.code ?? code,
        upstream: upstream && { answered: upstream.code, body: upstream.message },
      });
      if (lost) return answerGrpc(stream, 14, 'capture receiver: answer lost on purpose');
      if (upstream) return relayGrpc(stream, upstream);
      answerGrpc(stream, code, code === 0 ? undefined : code === 12 ? 'unknown method' : 'capture receiver: failing on purpose');
    });
  });
  await new Promise<void>((resolve) => grpcServer.listen(options.ports?.grpc ?? 0, '127.0.0.1', resolve));

  return {
    httpUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    grpcUrl: `http://127.0.0.1:${(grpcServer.address() as AddressInfo).port}`,
    requests,
    async close() {
      upstreamGrpc?.close();
      http.closeAllConnections();
      await Promise.all([new Promise<void>((resolve) => http.close(() => resolve())), new Promise<void>((resolve) => grpcServer.close(() => resolve()))]);
    },
  };
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
}

function stringOf(value: string | string[] | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}

/** The one length-prefixed message of a unary gRPC request, decompressed when its flag says so. */
function grpcMessage(frame: Buffer, encoding: string | undefined): { body: Buffer; compressed: boolean } {
  if (frame.length < 5) throw new Error(`gRPC frame of ${frame.length} bytes`);
  const compressed = frame.readUInt8(0) === 1;
  const message = frame.subarray(5, 5 + frame.readUInt32BE(1));
  if (!compressed) return { body: message, compressed };
  if (encoding === 'gzip') return { body: gunzipSync(message), compressed };
  if (encoding === 'deflate') return { body: inflateSync(message), compressed };
  throw new Error(`message compressed with unsupported grpc-encoding "${encoding}"`);
}

/** An empty Export*ServiceResponse and the status in trailers; a failure is a trailers-only answer. */
function answerGrpc(stream: ServerHttp2Stream, code: number, message?: string) {
  // A client that gave up (a CLI exiting mid-export) leaves nothing to answer.
  if (stream.destroyed || stream.closed) return;
  if (code !== 0) {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message ?? '') }, { endStream: true });
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.alloc(5));
}

function readRaw(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The answer of the real receiver to one OTLP/HTTP export sent on as it came (chunked if it came chunked). */
async function forwardHttp(url: string, req: IncomingMessage, body: Buffer, chunked: boolean) {
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'content-encoding']) if (req.headers[name] !== undefined) headers[name] = String(req.headers[name]);
  const stream = () => new ReadableStream<Uint8Array>({ start: (controller) => { controller.enqueue(body); controller.close(); } });
  const res = await fetch(url, { method: 'POST', headers, body: chunked ? stream() : body, duplex: 'half' } as RequestInit);
  const answer: Record<string, string> = {};
  for (const name of ['content-type', 'retry-after']) if (res.headers.has(name)) answer[name] = res.headers.get(name)!;
  return { status: res.status, headers: answer, body: Buffer.from(await res.arrayBuffer()) };
}

interface GrpcUpstreamAnswer {
  code: number;
  /** Response headers without pseudo-headers; a trailers-only answer carries its status here. */
  headers: Record<string, string>;
  /** The response's length-prefixed frames, as they came. */
  frames: Buffer;
  /** The response message (uncompressed: no `grpc-accept-encoding` is sent on). */
  message: Buffer;
  trailers: Record<string, string> | undefined;
}

/** The answer of the real receiver to one unary gRPC export, its frame sent on as it came (compression flag included). */
function forwardGrpc(session: ClientHttp2Session, headers: IncomingHttpHeaders, frame: Buffer): Promise<GrpcUpstreamAnswer> {
  return new Promise((resolve, reject) => {
    const request = session.request({
      ':method': 'POST',
      ':path': String(headers[':path']),
      'content-type': String(headers['content-type'] ?? 'application/grpc'),
      te: 'trailers',
      ...(headers['grpc-encoding'] ? { 'grpc-encoding': String(headers['grpc-encoding']) } : {}),
    });
    let answerHeaders: Record<string, string> = {};
    let trailers: Record<string, string> | undefined;
    const chunks: Buffer[] = [];
    request.on('response', (h) => (answerHeaders = withoutPseudo(h)));
    request.on('trailers', (t) => (trailers = withoutPseudo(t)));
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('error', reject);
    request.on('end', () => {
      const frames = Buffer.concat(chunks);
      const code = Number((trailers ?? answerHeaders)['grpc-status'] ?? 2);
      resolve({ code, headers: answerHeaders, frames, message: frames.length >= 5 ? frames.subarray(5, 5 + frames.readUInt32BE(1)) : Buffer.alloc(0), trailers });
    });
    request.end(frame);
  });
}

/** The real receiver's gRPC answer, passed to the exporter as it came. */
function relayGrpc(stream: ServerHttp2Stream, answer: GrpcUpstreamAnswer) {
  if (stream.destroyed || stream.closed) return;
  if (!answer.trailers) {
    stream.respond({ ':status': 200, ...answer.headers }, { endStream: true });
    return;
  }
  stream.respond({ ':status': 200, ...answer.headers }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers(answer.trailers!));
  stream.end(answer.frames);
}

function withoutPseudo(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k, v]) => !k.startsWith(':') && v !== undefined).map(([k, v]) => [k, String(v)]));
}
