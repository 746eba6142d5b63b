import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { logsBodies } from '../../bench/agent-logs.js';
import { callGrpc, driveGrpc, LOGS_EXPORT, openSession } from '../../bench/grpc.js';
import { eventCounts } from '../../bench/load.js';
import { otlpTypes } from '../../collector/otlp/decode.js';
import { hashKey } from '../../src/auth/keys.js';
import { callExport, grpcClient, TRACE_EXPORT, type GrpcAnswer } from '../support/grpc.js';
import { otlpRequest, toProtobuf } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';

/** The bench's gRPC load client (node:http2, no grpc-js): what it sends must be what grpc-js sends, and it must count what the service answers. */

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
});

/** Records accepted, duplicate and rejected between two readings: the counters are the process's, and earlier tests' services counted into them too. */
const counted = (before: Record<string, number>, after: Record<string, number>) =>
  ['accepted', 'duplicate', 'rejected'].map((k) => (after[k] ?? 0) - (before[k] ?? 0));

describe("the bench's lean gRPC client", () => {
  it('drives the logs load: every record of every answered call stored once, nothing rejected, rollups exact', async () => {
    svc = await startTestService();
    const before = await eventCounts(svc.collectorUrl);
    const result = await driveGrpc({ url: svc.grpcUrl, path: LOGS_EXPORT, connections: 2, seconds: 1, eventsPerRequest: 100, body: logsBodies(100) });
    expect(result.failures).toBe(0);
    expect(result.requests).toBeGreaterThan(0);
    expect(counted(before, await eventCounts(svc.collectorUrl))).toEqual([result.requests * 100, 0, 0]);
    expect(await svc.store.verify()).toMatchObject({ ok: true });
  });

  it('gets the answers grpc-js gets for the same messages: OK, partial success, INVALID_ARGUMENT, UNIMPLEMENTED, UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED', async () => {
    const keys = { ingest: 'tt_ingest_key', read: 'tt_read_key' };
    svc = await startTestService({ env: { API_KEYS: `ingest:${hashKey(keys.ingest).toString('hex')},read:${hashKey(keys.read).toString('hex')}` } });
    const logs = logsBodies(10);
    const ingest = { authorization: `Bearer ${keys.ingest}` };
    const usage = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': -3, 'gen_ai.usage.output_tokens': 5 };
    // Each logs(0) stamps the template anew: the two clients' calls carry different records.
    const calls: [string, () => Buffer, Record<string, string>][] = [
      [LOGS_EXPORT, () => logs(0), ingest],
      [TRACE_EXPORT, () => Buffer.from(toProtobuf(otlpRequest([{ spanId: '00f067aa0ba902b8', attributes: usage }]))), ingest],
      [LOGS_EXPORT, () => Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), ingest],
      [LOGS_EXPORT.replace('Export', 'Import'), () => logs(0), ingest],
      [LOGS_EXPORT, () => logs(0), {}],
      [LOGS_EXPORT, () => logs(0), { 'x-api-key': keys.read }],
      // Over MAX_BODY_BYTES (5 MiB): grpc-js answers before it has read all of the message.
      [LOGS_EXPORT, () => Buffer.alloc(6 * 1024 * 1024), ingest],
    ];
    const responseType = (path: string) => otlpTypes[path === TRACE_EXPORT ? 'traces' : 'logs'].response;
    const before = await eventCounts(svc.collectorUrl);
    const client = grpcClient(svc.grpcUrl);
    const session = await openSession(svc.grpcUrl);
    const answers: GrpcAnswer[] = [];
    for (const [path, body, metadata] of calls) {
      const reference = await callExport(client, body(), metadata, path);
      const lean = await callGrpc(session, path, body(), metadata);
      expect(lean.httpStatus).toBe(200);
      expect(lean.grpcStatus).toBe(reference.code);
      // grpc-js hands an OK call its response and no status text.
      if (reference.code === status.OK) expect(responseType(path).toObject(responseType(path).decode(lean.message), { longs: Number })).toEqual(reference.response);
      else expect(lean.grpcMessage).toBe(reference.details);
      answers.push(reference);
    }
    expect(answers.map((a) => a.code)).toEqual([
      status.OK, status.OK, status.INVALID_ARGUMENT, status.UNIMPLEMENTED, status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.RESOURCE_EXHAUSTED,
    ]);
    expect(answers[1]!.response).toMatchObject({ partialSuccess: { rejectedSpans: 1 } });
    // The two clients' logs calls carry 10 new records each; the span with negative tokens is refused twice.
    expect(counted(before, await eventCounts(svc.collectorUrl))).toEqual([20, 0, 2]);
    // A call refused counts as a failure of the load, not as an answer.
    const refused = await driveGrpc({ url: svc.grpcUrl, path: LOGS_EXPORT, connections: 1, seconds: 0.2, eventsPerRequest: 10, body: logs });
    expect(refused.requests).toBe(0);
    expect(refused.failures).toBeGreaterThan(0);
    session.close();
    client.close();
  });
});

