import { request, type IncomingHttpHeaders } from 'node:http';
import { otlpTypes } from '../../collector/otlp/decode.js';

/** Byte-level builders and a one-connection client for the hostile-input tests (test/security/). */

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** JSON, or the google.rpc.Status of a protobuf answer, as an object. */
  body: any;
  /** The body as sent, for a protobuf answer of another type. */
  bytes: Buffer;
}

/**
 * One request on a connection of its own. Building a bomb keeps this process busy for seconds, long
 * enough for the server to close idle keep-alive connections, which a pooled client (fetch) may
 * then reuse as they close.
 */
export function send(method: 'GET' | 'POST', url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const decoded = res.headers['content-type'] === 'application/x-protobuf'
          ? otlpTypes.status.toObject(otlpTypes.status.decode(bytes))
          : bytes.length > 0 ? JSON.parse(bytes.toString()) : null;
        resolve({ status: res.statusCode!, headers: res.headers, body: decoded, bytes });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const gzipJson = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
export const gzipProto = { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' };

/** A protobuf length-delimited field: tag, varint length, bytes. */
export function field(number: number, body: Uint8Array): Buffer {
  const length: number[] = [];
  for (let n = body.length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      length.push(n);
      break;
    }
    length.push((n % 128) | 128);
  }
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...length]), body]);
}

/** ExportTraceServiceRequest { resource_spans { scope_spans { <spans> } } }: `spans` are the encoded `spans` fields (number 2). */
export const traceRequest = (spans: Buffer) => field(1, field(2, spans));
