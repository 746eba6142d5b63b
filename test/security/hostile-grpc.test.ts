import { status } from '@grpc/grpc-js';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:http2';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { peakRssMB } from '../../bench/server.js';
import { callExport, grpcClient, padded } from '../support/grpc.js';
import { field, traceRequest } from '../support/hostile.js';
import { hostileService } from '../support/hostile-service.js';

/**
 * OTLP/gRPC messages that expand into huge work or arrive broken (issue 17), sent to a real
 * `tokentally serve`: each is answered quickly with the gRPC status a client's mistake deserves,
 * never INTERNAL, while /healthz keeps answering and peak memory stays bounded.
 */

const service = hostileService();
const { observe, expectBounded } = service;

/**
 * One OTLP/gRPC call made by hand over HTTP/2, so that its message can be any bytes: a prebuilt gzip
 * bomb, which a gRPC client library would only send by compressing the whole inflated message itself.
 */
function grpcCall(message: Buffer, options: { gzip: boolean }): Promise<{ code: number; details: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(service.grpcUrl);
    const stream = session.request({
      ':method': 'POST', ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export', 'content-type': 'application/grpc', te: 'trailers',
      ...(options.gzip ? { 'grpc-encoding': 'gzip' } : {}),
    });
    const prefix = Buffer.alloc(5);
    prefix[0] = options.gzip ? 1 : 0;
    prefix.writeUInt32BE(message.length, 1);
    let answer = { code: -1, details: '' };
    const read = (headers: IncomingHttpHeaders) => {
      if (headers['grpc-status'] !== undefined) answer = { code: Number(headers['grpc-status']), details: decodeURIComponent(String(headers['grpc-message'] ?? '')) };
    };
    stream.on('response', read);
    stream.on('trailers', read);
    stream.on('data', () => {});
    stream.on('error', reject);
    stream.on('close', () => {
      session.close();
      resolve(answer);
    });
    stream.end(Buffer.concat([prefix, message]));
  });
}

/**
 * A TCP proxy to `port` that corrupts the first gzip member the client sends: the first deflate
 * byte after the 10-byte gzip header becomes 0xff, a reserved block type, which no inflater accepts.
 * It follows the stream byte by byte, so a header split across reads is found too.
 */
async function corruptingProxy(port: string): Promise<{ port: number; corrupted(): boolean; close(): void }> {
  const magic = [0x1f, 0x8b, 0x08];
  let matched = 0;
  let toSkip = -1;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(Number(port), '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      for (let i = 0; i < chunk.length && toSkip !== -2; i++) {
        if (toSkip > 0) toSkip--;
        else if (toSkip === 0) {
          chunk[i] = 0xff;
          toSkip = -2;
        } else if (chunk[i] === magic[matched]) {
          if (++matched === magic.length) toSkip = 10 - magic.length;
        } else matched = chunk[i] === magic[0] ? 1 : 0;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
    for (const socket of [client, upstream]) socket.on('error', () => {}).on('close', () => [client, upstream].forEach((s) => s.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    corrupted: () => toSkip === -2,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe('hostile OTLP/gRPC messages against a running tokentally serve', () => {
  it.each<[string, Buffer, RegExp]>([
    // 200 MB of zeros in about 200 KB: inflating stops at MAX_DECODED_BODY_BYTES, as for an HTTP body.
    ['a gzip bomb', gzipSync(Buffer.alloc(200 * 1024 * 1024)), /exceeds 52428800 bytes \(MAX_DECODED_BODY_BYTES\)/],
    // 2 million empty spans: 4 MB inflated, within the message limit, so the span count stops it.
    ['a span-count bomb', gzipSync(traceRequest(Buffer.alloc(4_000_000).fill(Buffer.from([0x12, 0x00])))), /spans\[10000\]: more than 10000 spans .*MAX_RECORDS_PER_REQUEST/],
  ])('%s → RESOURCE_EXHAUSTED, quickly and in bounded memory', async (_name, bomb, details) => {
    expect(bomb.length).toBeLessThan(300_000);
    const outcome = await observe(() => grpcCall(bomb, { gzip: true }));
    expect(outcome).toMatchObject({ code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(details) });
    expectBounded(outcome);
  });

  it('holds 20 parallel gzip bombs to the decoding budget: all RESOURCE_EXHAUSTED, memory bounded and given back', async () => {
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024));
    const storm = () => Promise.all(Array.from({ length: 20 }, () => observe(() => grpcCall(bomb, { gzip: true }))));
    for (const outcome of await storm()) {
      expect(outcome.code).toBe(status.RESOURCE_EXHAUSTED);
      expectBounded(outcome);
    }
    const peakAfterFirst = peakRssMB(service.run);
    for (const outcome of await storm()) expect(outcome.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(peakRssMB(service.run) - peakAfterFirst).toBeLessThan(100);
  });

  it('300 small gzip messages at once, each inflating to 4 MiB: inflated within the decoding budget, those without room → RESOURCE_EXHAUSTED naming it', async () => {
    // Each within every per-call limit: before they were inflated in the budget, together they grew the process by 1.4 GB.
    const message = gzipSync(padded(4 * 1024 * 1024));
    expect(message.length).toBeLessThan(10_000);
    const outcome = await observe(async () => ({ answers: await Promise.all(Array.from({ length: 300 }, () => grpcCall(message, { gzip: true }))) }));
    expectBounded(outcome, 15_000);
    const refused = outcome.answers.filter((answer) => answer.code !== status.OK);
    expect(refused.length).toBeLessThan(300);
    for (const answer of refused) expect(answer).toEqual({ code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/MAX_DECODED_BYTES_IN_FLIGHT/) });
  });

  it('a grpc-js client whose gzip message arrives corrupt → INVALID_ARGUMENT saying so, not INTERNAL', async () => {
    const proxy = await corruptingProxy(new URL(service.grpcUrl).port);
    const client = grpcClient(`http://127.0.0.1:${proxy.port}`, { compression: 'gzip' });
    try {
      const answer = await callExport(client, traceRequest(field(2, Buffer.alloc(0))));
      expect(proxy.corrupted()).toBe(true);
      expect(answer).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^not valid gzip data: /) });
    } finally {
      client.close();
      proxy.close();
    }
  });

  it('a gRPC message with invalid UTF-8 → INVALID_ARGUMENT naming the field', async () => {
    const bad = Buffer.from([0x61, 0xc3, 0x28]);
    const answer = await grpcCall(traceRequest(field(2, field(9, field(1, bad)))), { gzip: false });
    expect(answer).toEqual({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.attributes\[0\]\.key: not valid UTF-8/) });
  });
});
