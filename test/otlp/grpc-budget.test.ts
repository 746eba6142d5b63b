import { status } from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { callExport, grpcClient, padded, TRACE_EXPORT } from '../support/grpc.js';
import { otlpRequest, toProtobuf } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';
import { until } from '../support/wait.js';

let svc: TestService | undefined;
const sessions: ClientHttp2Session[] = [];
afterEach(async () => {
  for (const session of sessions.splice(0)) session.destroy();
  await svc?.close();
  svc = undefined;
});

const MB = 1024 * 1024;
const oneSpan = (spanId: string) => toProtobuf(otlpRequest([{ spanId, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10 } }]));

/**
 * A call on a connection of its own whose gRPC frame announces a message of `bytes` and carries the
 * first `sent` of them, or (`gzip`) the whole message gzipped, and never ends; resolves with the
 * headers of its answer, if one comes. `then` may go on writing, until the answer or the stream's end.
 */
function rawCall(grpcUrl: string, bytes: number, sent: number | 'gzip', then?: (stream: ClientHttp2Stream) => NodeJS.Timeout): Promise<Record<string, unknown>> {
  const session = connect(grpcUrl);
  session.on('error', () => {});
  sessions.push(session);
  const gzip = sent === 'gzip';
  const stream = session.request({ ':method': 'POST', ':path': TRACE_EXPORT, 'content-type': 'application/grpc', te: 'trailers', ...(gzip && { 'grpc-encoding': 'gzip' }) });
  stream.on('error', () => {});
  const message = gzip ? gzipSync(padded(bytes)) : padded(bytes);
  const frame = Buffer.from([gzip ? 1 : 0, 0, 0, 0, 0]);
  frame.writeUInt32BE(message.length, 1);
  stream.write(Buffer.concat([frame, gzip ? message : message.subarray(0, sent)]));
  const writing = then?.(stream);
  stream.on('close', () => clearInterval(writing));
  return new Promise((resolve) => stream.on('response', (headers) => {
    clearInterval(writing);
    resolve(headers);
  }));
}

/** A call that sends all but the last byte of its message; resolves once the service has had time to take in what was sent. */
async function stalledCall(grpcUrl: string, bytes: number): Promise<void> {
  void rawCall(grpcUrl, bytes, bytes - 1);
  await new Promise((read) => setTimeout(read, 1000));
}

/**
 * grpc-js holds a call's message until the last byte is in, before any handler sees it: calls that
 * stall short of their end held memory outside MAX_DECODED_BYTES_IN_FLIGHT (100 of 5 MB grew the
 * process by 500 MB). Their bytes are now held in it as they arrive, as an HTTP body's are.
 */
describe('OTLP/gRPC messages still arriving', () => {
  it('hold the decoding budget: a call with no room left → RESOURCE_EXHAUSTED with RetryInfo; room again once they leave', async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: String(5 * MB), MAX_DECODED_BODY_BYTES: String(5 * MB), MAX_DECODED_BYTES_IN_FLIGHT: String(10 * MB) } });
    const client = grpcClient(svc.grpcUrl);
    try {
      expect(await callExport(client, padded(3 * MB))).toMatchObject({ code: status.OK });
      await stalledCall(svc.grpcUrl, 4 * MB);
      await stalledCall(svc.grpcUrl, 4 * MB);
      expect(await callExport(client, padded(3 * MB))).toMatchObject({
        code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/MAX_DECODED_BYTES_IN_FLIGHT/), retryDelaySeconds: 1,
      });
      for (const session of sessions.splice(0)) session.destroy();
      await until(async () => (await callExport(client, padded(3 * MB))).code === status.OK, 'the budget given back');
    } finally {
      client.close();
    }
  });

  it('a call whose message stops coming → DEADLINE_EXCEEDED after BODY_IDLE_TIMEOUT_MS (retryable), and its bytes are given back', async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: String(5 * MB), MAX_DECODED_BODY_BYTES: String(5 * MB), MAX_DECODED_BYTES_IN_FLIGHT: String(6 * MB), BODY_IDLE_TIMEOUT_MS: '1500' } });
    const answer = rawCall(svc.grpcUrl, 4 * MB, 3 * MB);
    expect(await answer).toMatchObject({ 'grpc-status': String(status.DEADLINE_EXCEEDED), 'grpc-message': expect.stringMatching(/BODY_IDLE_TIMEOUT_MS/) });
    const client = grpcClient(svc.grpcUrl);
    expect(await callExport(client, padded(4 * MB))).toMatchObject({ code: status.OK });
    client.close();
  });

  it('a call whose message trickles, never idle for BODY_IDLE_TIMEOUT_MS → DEADLINE_EXCEEDED once REQUEST_TIMEOUT_MS has passed, and its bytes are given back', async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: String(5 * MB), MAX_DECODED_BODY_BYTES: String(5 * MB), MAX_DECODED_BYTES_IN_FLIGHT: String(6 * MB), BODY_IDLE_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2500' } });
    const started = performance.now();
    const answer = rawCall(svc.grpcUrl, 4 * MB, 3 * MB, (stream) => setInterval(() => stream.write(Buffer.alloc(1000)), 200));
    expect(await answer).toMatchObject({ 'grpc-status': String(status.DEADLINE_EXCEEDED), 'grpc-message': expect.stringMatching(/REQUEST_TIMEOUT_MS/) });
    expect(performance.now() - started).toBeGreaterThan(2500);
    const client = grpcClient(svc.grpcUrl);
    expect(await callExport(client, padded(4 * MB))).toMatchObject({ code: status.OK });
    client.close();
  });

  it('a call that sends its whole message but never ends holds its bytes until it is given up; one that has ended is not, however long its commit', async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: String(5 * MB), MAX_DECODED_BODY_BYTES: String(5 * MB), MAX_DECODED_BYTES_IN_FLIGHT: String(6 * MB), BODY_IDLE_TIMEOUT_MS: '2000', WRITE_RETRY_MS: '10000' } });
    // grpc-js calls a unary handler only once the client has sent everything: this message waits in it.
    const answer = rawCall(svc.grpcUrl, 4 * MB, 4 * MB);
    await new Promise((read) => setTimeout(read, 300));
    const client = grpcClient(svc.grpcUrl);
    try {
      expect(await callExport(client, padded(3 * MB))).toMatchObject({ code: status.RESOURCE_EXHAUSTED, retryDelaySeconds: 1 });
      expect(await answer).toMatchObject({ 'grpc-status': String(status.DEADLINE_EXCEEDED) });
      // A call that has sent everything waits for its commit past BODY_IDLE_TIMEOUT_MS and gets its answer.
      const lock = new Database(join(svc.dir, 'usage.db'));
      lock.prepare('BEGIN IMMEDIATE').run();
      const waiting = callExport(client, oneSpan('00f067aa0ba902e1'));
      await new Promise((wait) => setTimeout(wait, 3000));
      lock.prepare('ROLLBACK').run();
      lock.close();
      expect(await waiting).toMatchObject({ code: status.OK });
    } finally {
      client.close();
    }
  });

  it('a gzip message is inflated in its call\'s share: 5 KB sent whole that inflate to 4 MB hold 4 MB until the call is given up', async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: String(5 * MB), MAX_DECODED_BODY_BYTES: String(5 * MB), MAX_DECODED_BYTES_IN_FLIGHT: String(6 * MB), BODY_IDLE_TIMEOUT_MS: '2000' } });
    const answer = rawCall(svc.grpcUrl, 4 * MB, 'gzip');
    await new Promise((read) => setTimeout(read, 300));
    const client = grpcClient(svc.grpcUrl);
    try {
      expect(await callExport(client, padded(3 * MB))).toMatchObject({ code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/MAX_DECODED_BYTES_IN_FLIGHT/), retryDelaySeconds: 1 });
      expect(await answer).toMatchObject({ 'grpc-status': String(status.DEADLINE_EXCEEDED) });
      expect(await callExport(client, padded(3 * MB))).toMatchObject({ code: status.OK });
    } finally {
      client.close();
    }
  });

  it('a call refused while its message inflates (past MAX_DECODED_BODY_BYTES) gives its share back at once, though its client never ends', async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: String(5 * MB), MAX_DECODED_BODY_BYTES: String(5 * MB), MAX_DECODED_BYTES_IN_FLIGHT: String(6 * MB), BODY_IDLE_TIMEOUT_MS: '20000' } });
    expect(await rawCall(svc.grpcUrl, 5.5 * MB, 'gzip')).toMatchObject({ 'grpc-status': String(status.RESOURCE_EXHAUSTED), 'grpc-message': expect.stringMatching(/MAX_DECODED_BODY_BYTES/) });
    const client = grpcClient(svc.grpcUrl);
    try {
      expect(await callExport(client, padded(4 * MB))).toMatchObject({ code: status.OK });
    } finally {
      client.close();
    }
  });

  it('an open call holds 16 KiB besides its bytes: calls that send nothing cannot hold memory beyond the budget', async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: String(MB / 2), MAX_DECODED_BODY_BYTES: String(MB / 2), MAX_DECODED_BYTES_IN_FLIGHT: String(MB) } });
    const session = connect(svc.grpcUrl);
    session.on('error', () => {});
    sessions.push(session);
    // 64 calls × 16 KiB: the budget, held by calls that sent their headers and nothing else.
    const answers = Array.from({ length: 65 }, () => {
      const stream = session.request({ ':method': 'POST', ':path': TRACE_EXPORT, 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => {});
      return new Promise<Record<string, unknown>>((resolve) => stream.on('response', resolve));
    });
    expect(await answers[64]).toMatchObject({ 'grpc-status': String(status.RESOURCE_EXHAUSTED), 'grpc-message': expect.stringMatching(/MAX_DECODED_BYTES_IN_FLIGHT/) });
    const client = grpcClient(svc.grpcUrl);
    try {
      expect(await callExport(client, oneSpan('00f067aa0ba902f1'))).toMatchObject({ code: status.RESOURCE_EXHAUSTED, retryDelaySeconds: 1 });
      session.destroy();
      await until(async () => (await callExport(client, oneSpan('00f067aa0ba902f2'))).code === status.OK, 'the open calls\' share given back');
    } finally {
      client.close();
    }
  });

  it('a body alone in flight is never refused for the budget, though its bytes, inflated ones and a call\'s own share pass it', async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: String(MB), MAX_DECODED_BODY_BYTES: String(MB), MAX_DECODED_BYTES_IN_FLIGHT: String(MB) } });
    const client = grpcClient(svc.grpcUrl);
    try {
      expect(await callExport(client, padded(MB - 64))).toMatchObject({ code: status.OK });
    } finally {
      client.close();
    }
    const json = JSON.stringify({ events: [{ agent_id: 'a', model: 'm', input_tokens: 1 }] }).padEnd(MB - 64, ' ');
    const res = await svc.ingest('/v1/usage', gzipSync(json), { 'content-encoding': 'gzip' });
    expect(res.status).toBe(200);
  });
});
