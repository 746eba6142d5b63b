import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { METHODS } from '../grpc.js';
import { otlpTypes } from '../otlp/decode.js';
import type { Signal, SignalForward } from './config.js';
import type { WireFormat } from './encoding.js';

/**
 * One export to the upstream, and what its answer means (opentelemetry-proto, docs/specification.md:
 * "Retryable Response Codes" for OTLP/HTTP, the gRPC code table and throttling for OTLP/gRPC).
 */

export type Outcome =
  | { kind: 'delivered' }
  /** Transient: try again, after `afterMs` when the upstream said how long to wait. */
  | { kind: 'retry'; reason: string; afterMs?: number }
  /** Permanent: the upstream will never take this request; `reason` names the kind of refusal. */
  | { kind: 'refused'; reason: string; message: string };

/** One signal's exports. */
export interface Transport {
  readonly format: WireFormat;
  /** `body`: the parts whose concatenation is the request. `stop` aborts the export (it then counts as transient: the rows stay for the next start). */
  send(body: readonly Buffer[], stop: AbortSignal): Promise<Outcome>;
  close(): void;
}

const gzipAsync = promisify(gzip);

/** 408 and 429 as the issue names them, and 502-504, which the OTLP specification names retryable; every other 4xx/5xx is permanent. */
const RETRYABLE_HTTP = new Set([408, 429, 502, 503, 504]);

/** gRPC codes the OTLP specification names retryable; RESOURCE_EXHAUSTED only with a RetryInfo. */
const RETRYABLE_GRPC = new Set([status.CANCELLED, status.DEADLINE_EXCEEDED, status.ABORTED, status.OUT_OF_RANGE, status.UNAVAILABLE, status.DATA_LOSS]);

export function createTransport(signal: Signal, config: SignalForward): Transport {
  return config.protocol === 'grpc' ? grpcTransport(signal, config) : httpTransport(config, config.protocol === 'http/json' ? 'json' : 'protobuf');
}

/**
 * OTLP/HTTP over node:http rather than fetch: fetch copies a Buffer body into a web stream, which
 * was a fifth of the sender's time in the forwarding benchmark. The parts of an uncompressed body
 * are written to the socket one after the other, never copied into one buffer. One export is in
 * flight per signal, so the agent keeps one connection alive.
 */
function httpTransport(config: SignalForward, format: WireFormat): Transport {
  const url = new URL(config.endpoint);
  const client = url.protocol === 'https:' ? https : http;
  const agent = new client.Agent({ keepAlive: true, maxSockets: 1 });
  const headers: Record<string, string> = { ...config.headers, 'content-type': format === 'json' ? 'application/json' : 'application/x-protobuf' };
  if (config.gzip) headers['content-encoding'] = 'gzip';
  return {
    format,
    async send(body, stop) {
      const payload = config.gzip ? [await gzipAsync(body.length === 1 ? body[0]! : Buffer.concat(body))] : body;
      const length = payload.reduce((sum, part) => sum + part.length, 0);
      return new Promise<Outcome>((resolve) => {
        // Stopped before this export began (the groups after one in flight): not sent at all.
        if (stop.aborted) return resolve({ kind: 'retry', reason: 'stopping' });
        let answered = false;
        const request = client.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(length) } }, (response) => {
          // Read to the end either way, so the connection can be used again; keep what a log line shows.
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            if (text.length < REFUSAL_TEXT) text += chunk.slice(0, REFUSAL_TEXT - text.length);
          });
          response.on('end', () => {
            answered = true;
            done(httpOutcome(response.statusCode ?? 0, response.headers['retry-after'], text));
          });
          response.on('error', (error) => done({ kind: 'retry', reason: describe(error) }));
        });
        const timer = setTimeout(() => done({ kind: 'retry', reason: `no answer within ${config.timeoutMs} ms` }), config.timeoutMs);
        const onStop = () => done({ kind: 'retry', reason: 'stopping' });
        function done(outcome: Outcome): void {
          clearTimeout(timer);
          stop.removeEventListener('abort', onStop);
          // Unfinished (a timeout, a stop): the connection goes, as it may still carry the answer.
          if (!answered) request.destroy();
          resolve(outcome);
        }
        request.on('error', (error) => done({ kind: 'retry', reason: describe(error) }));
        stop.addEventListener('abort', onStop);
        // Corked, so that the parts leave in as few writes as the socket takes.
        request.cork();
        for (const part of payload) request.write(part);
        request.end();
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** Characters of a refusal's body kept for the log line. */
const REFUSAL_TEXT = 200;

function httpOutcome(status: number, retryAfter: string | undefined, text: string): Outcome {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (RETRYABLE_HTTP.has(status)) return { kind: 'retry', reason: `HTTP ${status}`, afterMs: retryAfterMs(retryAfter ?? null) };
  return { kind: 'refused', reason: `http_${status}`, message: `HTTP ${status}: ${text}` };
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110); undefined when absent or unreadable. */
export function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function grpcTransport(signal: Signal, config: SignalForward): Transport {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(config.headers)) metadata.set(key, value);
  const url = new URL(config.endpoint);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const client = new Client(`${url.hostname}:${port}`, url.protocol === 'https:' ? credentials.createSsl() : credentials.createInsecure(), {
    // 2: gzip in grpc-js' compression algorithms.
    ...(config.gzip ? { 'grpc.default_compression_algorithm': 2 } : {}),
  });
  const identity = (bytes: Buffer) => bytes;
  return {
    format: 'protobuf',
    send(body, stop) {
      return new Promise<Outcome>((resolve) => {
        // Stopped before this export began (the groups after one in flight): not sent at all.
        if (stop.aborted) return resolve({ kind: 'retry', reason: 'stopping' });
        const message = body.length === 1 ? body[0]! : Buffer.concat(body);
        const call = client.makeUnaryRequest(METHODS[signal], identity, identity, message, metadata, { deadline: Date.now() + config.timeoutMs }, (error: ServiceError | null) => {
          resolve(error ? grpcOutcome(error) : { kind: 'delivered' });
        });
        const onStop = () => call.cancel();
        stop.addEventListener('abort', onStop);
        call.on('status', () => stop.removeEventListener('abort', onStop));
      });
    },
    close() {
      client.close();
    },
  };
}

function grpcOutcome(error: ServiceError): Outcome {
  const afterMs = retryInfoMs(error.metadata);
  const reason = `gRPC ${status[error.code] ?? error.code}: ${error.details}`;
  if (RETRYABLE_GRPC.has(error.code) || (error.code === status.RESOURCE_EXHAUSTED && afterMs !== undefined)) return { kind: 'retry', reason, afterMs };
  return { kind: 'refused', reason: `grpc_${(status[error.code] ?? String(error.code)).toLowerCase()}`, message: reason };
}

/** The delay of a google.rpc.RetryInfo in the status details (grpc-status-details-bin), if any. */
function retryInfoMs(metadata: Metadata | undefined): number | undefined {
  const bin = metadata?.get('grpc-status-details-bin')[0];
  if (!(bin instanceof Buffer)) return undefined;
  try {
    const details = (otlpTypes.status.toObject(otlpTypes.status.decode(bin)) as { details?: { type_url?: string; typeUrl?: string; value: Uint8Array }[] }).details ?? [];
    const info = details.find((d) => (d.type_url ?? d.typeUrl ?? '').endsWith('google.rpc.RetryInfo'));
    if (!info) return undefined;
    const { retryDelay } = otlpTypes.retryInfo.toObject(otlpTypes.retryInfo.decode(info.value), { longs: Number }) as { retryDelay?: { seconds?: number; nanos?: number } };
    return retryDelay ? (retryDelay.seconds ?? 0) * 1000 + Math.round((retryDelay.nanos ?? 0) / 1e6) : undefined;
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
