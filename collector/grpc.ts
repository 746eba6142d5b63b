import {
  Metadata, Server, ServerCredentials, type ConnectionInjector, ServerInterceptingCall, ServerListenerBuilder, status,
  type sendUnaryData, type ServerInterceptingCallInterface, type ServerInterceptor, type ServerUnaryCall, type ServiceDefinition, type StatusObject,
} from '@grpc/grpc-js';
import http2, { type Http2Server, type Http2Session, type ServerHttp2Stream, type ServerOptions as Http2ServerOptions } from 'node:http2';
import type { Socket } from 'node:net';
import type { Principal } from '../src/auth/keys.js';
import { authenticate } from '../src/http/auth.js';
import { ApiError } from '../src/http/errors.js';
import type { IngestDeps } from './app.js';
import { bodyTimeout, overdue, type BodyBudget } from '../src/http/body.js';
import { encodeExportResponse, otlpTypes } from './otlp/decode.js';
import { commitExport, prepareExport, type Signal } from './otlp/receive.js';
import { grpcCode } from './otlp/status.js';

/**
 * OTLP/gRPC: each signal's `Export` as a unary call whose message bytes go to the same receiver as
 * OTLP/HTTP protobuf (`receive.ts`), answered with the signal's `Export…ServiceResponse` once the
 * records are committed. grpc-js does the HTTP/2, the framing and gzip; the messages stay bytes
 * (identity serializers), so our own decoder and its limits read them.
 */

/** The gRPC method of each signal's Export (opentelemetry-proto, collector/<signal>/v1/<signal>_service.proto). */
export const METHODS: Readonly<Record<Signal, string>> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
};

/**
 * A call's message bytes, handed over once: grpc-js keeps the request object until the call ends,
 * and the bytes must be garbage while the export waits for its commit (see `prepareExport`).
 */
class MessageBytes {
  constructor(private bytes: Buffer | undefined) {}

  take(): Buffer {
    const bytes = this.bytes!;
    this.bytes = undefined;
    return bytes;
  }
}

const identity = (bytes: Buffer) => bytes;

function serviceOf(signal: Signal): ServiceDefinition {
  return {
    Export: {
      path: METHODS[signal], requestStream: false, responseStream: false,
      requestSerialize: (message: MessageBytes) => message.take(), requestDeserialize: (bytes: Buffer) => new MessageBytes(bytes),
      responseSerialize: identity, responseDeserialize: identity,
    },
  };
}

/** The principal of each call that passed `requireIngest`, by the metadata object the handler gets. */
const principals = new WeakMap<Metadata, Principal>();

const first = (metadata: Metadata, key: string) => {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
};

/**
 * Checks the key in the call's metadata (`authorization: Bearer <key>` or `x-api-key`) as the HTTP
 * routes check the headers, before the message is read: a refused call costs no decoding. While the
 * message arrives and is inflated, holds its bytes in the decoding budget (`holdCall`) until the
 * handler takes it; once it is read, lets go of its frames (see `releaseFrames`).
 */
function requireIngest(deps: IngestDeps): ServerInterceptor {
  return (_method, call) => {
    let budget: BodyBudget | undefined;
    return new ServerInterceptingCall(call, {
      start: (next) => next(new ServerListenerBuilder().withOnReceiveMetadata((metadata, proceed) => {
        try {
          principals.set(metadata, authenticate(deps.keys, 'ingest', { authorization: first(metadata, 'authorization'), apiKey: first(metadata, 'x-api-key') }));
        } catch (error) {
          call.sendStatus(grpcStatus(error));
          resetUnlessEnded(call);
          return;
        }
        budget = holdCall(call, deps);
        if (budget) proceed(metadata);
      }).withOnReceiveMessage((message, proceed) => {
        releaseFrames(call);
        proceed(message);
      }).withOnReceiveHalfClose((proceed) => {
        // The handler, called now, holds the message itself (`exportRecords`).
        budget?.release();
        proceed();
      }).build()),
    });
  };
}

/** The fields of grpc-js's innermost call (server-interceptors.js, `BaseServerInterceptingCall`) that `holdCall` works through. */
interface CallInternals {
  stream: ServerHttp2Stream;
  /** `message` with its 5-byte gRPC prefix; a rejection is the status grpc-js sends for the call. */
  decompressMessage(message: Buffer, encoding: string): Buffer | Promise<Buffer>;
}

/**
 * What an open call holds in the decoding budget besides its bytes: about twice the memory one took
 * before its message came (50,000 calls that sent their headers and nothing else grew the process by
 * 400 MB), so that calls, which cost a client almost nothing to open on its connections, cannot
 * hold memory beyond the budget either.
 */
const OPEN_CALL_BYTES = 16 * 1024;

/**
 * Holds a call's bytes in the decoding budget as they arrive, as an HTTP body's are
 * (src/http/body.ts), and inflates a compressed message in the same share, piece by piece, as an
 * HTTP body is. grpc-js keeps a unary call's message (and whatever else the call sends) until the
 * client has sent everything, before a handler sees it, and would inflate it whole outside the
 * budget: calls stalled short of their end, or many small gzip messages inflating at once, would
 * otherwise hold memory beyond the budget between them. The share is given back once the handler
 * takes the message, or the call's status is sent, or the call ends.
 *
 * Any status sent before the client has sent everything (no room in the budget, nothing for
 * BODY_IDLE_TIMEOUT_MS, bytes still coming after REQUEST_TIMEOUT_MS, a message that does not
 * inflate or is over a limit, grpc-js's own refusals)
 * also resets the stream, so its client stops sending and no bytes it sends on are held. A call
 * the budget has no room for from the start gets RESOURCE_EXHAUSTED at once (undefined). `call`
 * must be the innermost call: this interceptor is the server's only one.
 */
function holdCall(call: ServerInterceptingCallInterface, deps: IngestDeps): BodyBudget | undefined {
  const internals = call as unknown as CallInternals;
  const { stream } = internals;
  const budget = deps.bodies.arriving();
  const stopWatching = () => {
    stream.off('data', onData);
    stream.setTimeout(0);
  };
  const sendStatus = call.sendStatus.bind(call);
  call.sendStatus = (status) => {
    stopWatching();
    budget.release();
    sendStatus(status);
    resetUnlessEnded(call);
  };
  const { bodyIdleMs, requestTimeoutMs } = deps.bodies.limits;
  const late = overdue(requestTimeoutMs);
  // grpc-js paused the stream until it reads: listening does not start the flow.
  const onData = (chunk: Buffer) => {
    const refusal = late() ?? (budget.hold(chunk.length) ? undefined : deps.bodies.busy());
    if (refusal) call.sendStatus(grpcStatus(refusal));
  };
  stream.on('data', onData).once('end', stopWatching).once('close', () => {
    stopWatching();
    budget.release();
  });
  stream.setTimeout(bodyIdleMs, () => call.sendStatus(grpcStatus(bodyTimeout(bodyIdleMs))));
  const decompress = internals.decompressMessage.bind(internals);
  // grpc-js's own inflating answers a message that does not inflate with INTERNAL; ours, a client's
  // bad bytes, with INVALID_ARGUMENT.
  internals.decompressMessage = (message, encoding) => encoding === 'gzip' || encoding === 'deflate'
    ? deps.bodies.inflate(message.subarray(5), budget.hold, encoding).catch((error: unknown) => Promise.reject(grpcStatus(error)))
    : decompress(message, encoding);
  if (budget.hold(OPEN_CALL_BYTES)) return budget;
  call.sendStatus(grpcStatus(deps.bodies.busy()));
  return undefined;
}

/**
 * After a status sent before the client has sent everything, resets the call's stream: grpc-js ends
 * only its own side, and the client could otherwise keep the call open, and sending, for as long as
 * it likes. Only for a status sent without response headers before it (every status but a handler's
 * answer, which comes after the client has ended): a reset right after headers would lose the
 * trailers that carry the status. `call` must be the innermost call.
 */
function resetUnlessEnded(call: ServerInterceptingCallInterface): void {
  const { stream } = call as unknown as CallInternals;
  if (!stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/** The fields of grpc-js's message decoder (stream-decoder.js, `call.decoder`) that hold a message's frames. */
interface DecoderInternals {
  readState: number;
  readCompressFlag: Buffer;
  readPartialMessage: Buffer[];
}

/** The decoder's state between messages, when those fields are only read again once the next message starts. */
const BETWEEN_MESSAGES = 0;

/**
 * grpc-js's decoder keeps views of the DATA frames a message came in until the next message starts,
 * for a unary call until the call is collected, and each view holds the whole 64 KiB socket read it
 * is in: a call waiting for its commit lives through young collections, so its reads (73 KB for 100
 * log records) wait for a mark-compact, and V8 counts them towards starting one: one every ~100 calls
 * over gRPC and none over HTTP (docs/benchmarks.md, "gRPC logs path, session 16"). The message
 * itself is a copy of its own. `call` must be the innermost call, as in `holdCall`.
 */
function releaseFrames(call: ServerInterceptingCallInterface): void {
  const decoder = (call as unknown as { decoder?: DecoderInternals }).decoder;
  if (decoder?.readState !== BETWEEN_MESSAGES) return;
  decoder.readPartialMessage = [];
  // A buffer of its own, as the decoder starts with: none is shared between calls.
  decoder.readCompressFlag = Buffer.alloc(1);
}

/** Decodes, maps and prepares while the message is held in the decoding budget; resolves with the response once committed. */
async function exportRecords(signal: Signal, call: ServerUnaryCall<MessageBytes, Buffer>, deps: IngestDeps): Promise<Buffer> {
  const principal = principals.get(call.metadata)!;
  // Chained: a variable would hold the records through the commit (see `commit`).
  const rejection = await deps.bodies.hold(call.request.take(), (body) => prepareExport(signal, body, 'protobuf', principal, deps)).then((batch) => commitExport(batch, deps.writer));
  const { body } = encodeExportResponse(signal, 'protobuf', rejection);
  return Buffer.from(body as Uint8Array);
}

/**
 * The gRPC status of an error: our ApiErrors by their HTTP status (see `grpcCode`), with a RetryInfo
 * in `grpc-status-details-bin` when the error has a retry delay; anything else is our bug.
 */
function grpcStatus(error: unknown): StatusObject {
  const metadata = new Metadata();
  if (!(error instanceof ApiError)) {
    console.error('unexpected error', error);
    return { code: status.INTERNAL, details: 'internal error', metadata };
  }
  const code = grpcCode(error.status);
  if (error.retryAfter !== undefined) {
    const retryInfo = otlpTypes.retryInfo.encode(otlpTypes.retryInfo.fromObject({ retryDelay: { seconds: error.retryAfter } })).finish();
    const details = [{ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: retryInfo }];
    metadata.set('grpc-status-details-bin', Buffer.from(otlpTypes.status.encode(otlpTypes.status.fromObject({ code, message: error.message, details })).finish()));
  }
  return { code, details: error.message, metadata };
}

/**
 * The HTTP/2 flow-control windows the collector grants, per call and per connection: what a client
 * sends before it must wait for the collector to read it. HTTP/2's default, 64 KiB, made a 100-record
 * logs export (73 KB) wait once for the busy event loop, and a 1,000-record one (730 KB) eleven times,
 * where the same body over HTTP/1.1 goes in one write (docs/benchmarks.md, "gRPC per-request cost").
 * Unread bytes a connection can hold stay bounded by it; grpc-js bounds each message as before.
 */
export const FLOW_CONTROL_WINDOW = 1024 * 1024;

export const MAX_CALLS_PER_CONNECTION = 100;

/** The grpc-js server fields the windows are set through: its types call them private. */
interface ServerInternals {
  commonServerOptions: Http2ServerOptions;
  http2Servers: Map<Http2Server, unknown>;
}

/**
 * grpc-js has no server option for the windows (only its client has `grpc-node.flow_control_window`),
 * so they go into the options of the HTTP/2 server it makes for each injector (the per-call window
 * every client is told in SETTINGS) and onto each session it opens (the connection's window).
 * test/otlp/grpc.test.ts checks what a client sees.
 */
function connectionInjector(server: Server): ConnectionInjector {
  const internals = server as unknown as ServerInternals;
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: FLOW_CONTROL_WINDOW };
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  for (const http2Server of internals.http2Servers.keys()) {
    http2Server.on('session', (session: Http2Session) => session.setLocalWindowSize(FLOW_CONTROL_WINDOW));
  }
  return injector;
}

export interface GrpcFront {
  /** Serves a connection that the caller's listener accepted. */
  accept(socket: Socket): void;
  /** Takes no new calls and answers those in flight (cut off after `timeoutMs`). */
  close(timeoutMs: number): Promise<void>;
}

export function createGrpcFront(deps: IngestDeps): GrpcFront {
  const server = new Server({
    // The message as sent, as an HTTP body's; once inflated (`holdCall`) it is held to
    // MAX_DECODED_BODY_BYTES, as an HTTP body is.
    'grpc.max_receive_message_length': Math.min(deps.bodies.limits.maxBodyBytes, deps.bodies.limits.maxDecodedBytes),
    // Calls open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS; HTTP/2 advises no fewer
    // than 100): clients queue the rest, and HTTP/2 refuses those a client opens beyond it before any
    // of our work or memory is spent on them. An exporter has a few calls open at most.
    'grpc.max_concurrent_streams': MAX_CALLS_PER_CONNECTION,
    interceptors: [requireIngest(deps)],
  });
  for (const signal of Object.keys(METHODS) as Signal[]) {
    server.addService(serviceOf(signal), {
      Export: (call: ServerUnaryCall<MessageBytes, Buffer>, callback: sendUnaryData<Buffer>) => {
        exportRecords(signal, call, deps).then((response) => callback(null, response), (error: unknown) => callback(grpcStatus(error)));
      },
    });
  }
  const injector = connectionInjector(server);
  return {
    accept: (socket) => injector.injectConnection(socket),
    close: (timeoutMs) => new Promise((resolve) => {
      const timer = setTimeout(() => server.forceShutdown(), timeoutMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }),
  };
}
