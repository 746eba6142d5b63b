import { status } from '@grpc/grpc-js';
import { SpanKind, type Tracer } from '@opentelemetry/api';
import Database from 'better-sqlite3';
import { connect, type Settings } from 'node:http2';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FLOW_CONTROL_WINDOW, MAX_CALLS_PER_CONNECTION } from '../../collector/grpc.js';
import { otlpTypes } from '../../collector/otlp/decode.js';
import { hashKey } from '../../src/auth/keys.js';
import { callExport, grpcClient, grpcExporter, padded, TRACE_EXPORT } from '../support/grpc.js';
import { exporterFor, exportSpans, otlpRequest, recordSpans, toProtobuf } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';
import { metricValue, until } from '../support/wait.js';

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
});

const MONTH = '/v1/reports/usage?from=2026-11-01&to=2026-12-01';
const at = (iso: string) => new Date(iso);

/** Two model calls and an HTTP call, as an instrumented app records them. */
function twoCalls(tracer: Tracer) {
  const calls = [['2026-11-04T09:00:00Z', 900, 120], ['2026-11-04T09:00:05Z', 1500, 80]] as const;
  for (const [start, input, output] of calls) {
    tracer.startSpan('chat gpt-4o', {
      kind: SpanKind.CLIENT, startTime: at(start),
      attributes: {
        'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': input, 'gen_ai.usage.output_tokens': output, 'gen_ai.usage.cache_read.input_tokens': 100,
      },
    }).end(new Date(at(start).getTime() + 1000));
  }
  tracer.startSpan('GET /search', { kind: SpanKind.CLIENT, startTime: at('2026-11-04T09:00:02Z') }).end(at('2026-11-04T09:00:03Z'));
}

const resource = { 'service.name': 'gemini-like', 'tokentally.project': 'atlas' };
const usage = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 };
const oneSpan = (spanId: string, attributes: Record<string, string | number> = usage) => toProtobuf(otlpRequest([{ spanId, attributes }]));

describe('OTLP/gRPC TraceService/Export with the stock OpenTelemetry gRPC exporter', () => {
  it.each([false, true])('gzip: %s — the two chat spans are stored with exact totals, the HTTP span is not', async (gzip) => {
    svc = await startTestService();
    const spans = recordSpans(resource, twoCalls);
    expect(await exportSpans(grpcExporter(svc.grpcUrl, { gzip }), spans)).toMatchObject({ code: 0 });
    const { body } = await svc.report(MONTH);
    expect(body.totals).toMatchObject({ events: 2, input_tokens: 2400, output_tokens: 200, cache_read_tokens: 200, total_tokens: 2600 });
    const { body: page } = await svc.report('/v1/events');
    expect(page.events.map((e: { project: string; agent_id: string; model: string }) => [e.project, e.agent_id, e.model])).toEqual([
      ['atlas', 'gemini-like', 'gpt-4o'], ['atlas', 'gemini-like', 'gpt-4o'],
    ]);
  });

  it('a message compressed with deflate (grpc-encoding) is stored as a gzip one is', async () => {
    svc = await startTestService();
    const client = grpcClient(svc.grpcUrl, { compression: 'deflate' });
    expect(await callExport(client, oneSpan('00f067aa0ba902a9'))).toMatchObject({ code: status.OK });
    client.close();
    expect((await svc.report(MONTH)).body.totals).toMatchObject({ events: 1, input_tokens: 10, output_tokens: 5 });
  });

  it('counts the same spans once whether sent over gRPC, HTTP protobuf or both, and retried', async () => {
    svc = await startTestService();
    const spans = recordSpans(resource, twoCalls);
    expect(await exportSpans(grpcExporter(svc.grpcUrl, { gzip: true }), spans)).toMatchObject({ code: 0 });
    expect(await exportSpans(exporterFor(svc.collectorUrl, 'protobuf'), spans)).toMatchObject({ code: 0 });
    expect(await exportSpans(grpcExporter(svc.grpcUrl), spans)).toMatchObject({ code: 0 });
    const { body } = await svc.report(MONTH);
    expect(body.totals).toMatchObject({ events: 2, input_tokens: 2400 });
    expect(await svc.store.verify()).toMatchObject({ ok: true });
  });
});

describe('auth from gRPC metadata, as on HTTP', () => {
  const keys = { ingest: 'tt_ingest_key', read: 'tt_read_key', atlas: 'tt_atlas_key' };
  const API_KEYS = `ingest:${hashKey(keys.ingest).toString('hex')},read:${hashKey(keys.read).toString('hex')},ingest@atlas:${hashKey(keys.atlas).toString('hex')}`;
  const read = async (path: string): Promise<any> => (await fetch(svc!.reportingUrl + path, { headers: { authorization: `Bearer ${keys.read}` } })).json();

  it('no key → UNAUTHENTICATED, an unknown key → UNAUTHENTICATED, a read key → PERMISSION_DENIED; nothing stored', async () => {
    svc = await startTestService({ env: { API_KEYS } });
    const spans = recordSpans(resource, twoCalls);
    const refusals = [
      [{}, status.UNAUTHENTICATED, /an API key is required/],
      [{ authorization: 'Bearer tt_nobody' }, status.UNAUTHENTICATED, /not valid/],
      [{ authorization: `Bearer ${keys.read}` }, status.PERMISSION_DENIED, /read role/],
      [{ 'x-api-key': keys.read }, status.PERMISSION_DENIED, /read role/],
    ] as const;
    for (const [metadata, code, details] of refusals) {
      const result = await exportSpans(grpcExporter(svc.grpcUrl, { metadata }), spans);
      expect(result.code).toBe(1);
      expect(result.error).toMatchObject({ code, details: expect.stringMatching(details) });
    }
    expect((await read(MONTH)).totals.events).toBe(0);
  });

  it('a refused call is reset, so a client that has not ended it cannot keep it open', async () => {
    svc = await startTestService({ env: { API_KEYS } });
    const session = connect(svc.grpcUrl);
    session.on('error', () => {});
    try {
      const stream = session.request({ ':method': 'POST', ':path': TRACE_EXPORT, 'content-type': 'application/grpc', te: 'trailers', authorization: 'Bearer tt_nobody' });
      stream.on('error', () => {});
      const answer = await new Promise<Record<string, unknown>>((resolve) => stream.on('response', resolve));
      expect(answer).toMatchObject({ 'grpc-status': String(status.UNAUTHENTICATED) });
      await new Promise((closed) => stream.on('close', closed));
      expect(stream.rstCode).toBe(0);
    } finally {
      session.destroy();
    }
  });

  it('accepts an ingest key as Bearer or x-api-key', async () => {
    svc = await startTestService({ env: { API_KEYS } });
    const spans = recordSpans(resource, twoCalls);
    expect(await exportSpans(grpcExporter(svc.grpcUrl, { metadata: { authorization: `Bearer ${keys.ingest}` } }), spans)).toMatchObject({ code: 0 });
    expect(await exportSpans(grpcExporter(svc.grpcUrl, { metadata: { 'x-api-key': keys.ingest } }), spans)).toMatchObject({ code: 0 });
    expect((await read(MONTH)).totals.events).toBe(2);
  });

  it('a key scoped to a project: its spans are stored there, a span naming another project is rejected in partialSuccess', async () => {
    svc = await startTestService({ env: { API_KEYS } });
    const client = grpcClient(svc.grpcUrl);
    const body = toProtobuf(otlpRequest([
      { spanId: '00f067aa0ba902b1', attributes: usage },
      { spanId: '00f067aa0ba902b2', attributes: { ...usage, 'tokentally.project': 'other' } },
    ]));
    const answer = await callExport(client, body, { authorization: `Bearer ${keys.atlas}` });
    expect(answer).toMatchObject({
      code: status.OK,
      response: { partialSuccess: { rejectedSpans: 1, errorMessage: expect.stringMatching(/00f067aa0ba902b2.*this key may not write to project "other"/) } },
    });
    expect((await read('/v1/events')).events.map((e: { project: string }) => e.project)).toEqual(['atlas']);
    client.close();
  });
});

describe('gRPC status codes', () => {
  it('full success leaves partialSuccess unset; an empty message is a success', async () => {
    svc = await startTestService();
    const client = grpcClient(svc.grpcUrl);
    expect(await callExport(client, oneSpan('00f067aa0ba902b7'))).toEqual({ code: status.OK, details: '', response: {} });
    expect(await callExport(client, new Uint8Array())).toEqual({ code: status.OK, details: '', response: {} });
    client.close();
  });

  it('bytes that are not protobuf → INVALID_ARGUMENT naming the problem; invalid usage → OK with partialSuccess', async () => {
    svc = await startTestService();
    const client = grpcClient(svc.grpcUrl);
    expect(await callExport(client, new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toMatchObject({
      code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^body is not a protobuf ExportTraceServiceRequest: .* at byte \d+/), retryDelaySeconds: undefined,
    });
    expect(await callExport(client, toProtobuf(otlpRequest([{ spanId: 'abcd' }])))).toMatchObject({
      code: status.INVALID_ARGUMENT, details: expect.stringMatching(/resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.spanId: must be 8 bytes/),
    });
    const negative = await callExport(client, oneSpan('00f067aa0ba902b8', { ...usage, 'gen_ai.usage.input_tokens': -3 }));
    expect(negative).toMatchObject({ code: status.OK, response: { partialSuccess: { rejectedSpans: 1, errorMessage: expect.stringMatching(/gen_ai\.usage\.input_tokens: /) } } });
    expect((await svc.report(MONTH)).body.totals.events).toBe(0);
    client.close();
  });

  it('a method that is not an OTLP Export → UNIMPLEMENTED', async () => {
    svc = await startTestService();
    const client = grpcClient(svc.grpcUrl);
    expect(await callExport(client, oneSpan('00f067aa0ba902b7'), {}, TRACE_EXPORT.replace('Export', 'Import'))).toMatchObject({ code: status.UNIMPLEMENTED });
    client.close();
  });

  it('a record-count bomb (100,000 empty spans, gzip) → RESOURCE_EXHAUSTED naming MAX_RECORDS_PER_REQUEST, without RetryInfo (not retryable)', async () => {
    svc = await startTestService();
    const client = grpcClient(svc.grpcUrl, { compression: 'gzip' });
    const bomb = otlpTypes.traces.request.encode({ resourceSpans: [{ scopeSpans: [{ spans: Array.from({ length: 100_000 }, () => ({})) }] }] }).finish();
    expect(await callExport(client, bomb)).toMatchObject({
      code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/spans\[10000\]: more than 10000 spans in one request \(MAX_RECORDS_PER_REQUEST\)/), retryDelaySeconds: undefined,
    });
    client.close();
  });

  it('limits as over HTTP: a message over MAX_BODY_BYTES as sent, or inflating past MAX_DECODED_BODY_BYTES → RESOURCE_EXHAUSTED without RetryInfo', async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: '20000', MAX_DECODED_BODY_BYTES: '100000' } });
    const plain = grpcClient(svc.grpcUrl);
    expect(await callExport(plain, padded(50_000))).toMatchObject({ code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/20000/), retryDelaySeconds: undefined });
    plain.close();
    for (const compression of ['gzip', 'deflate'] as const) {
      const client = grpcClient(svc.grpcUrl, { compression });
      // Past MAX_BODY_BYTES once inflated, as a gzip HTTP body may be.
      expect(await callExport(client, padded(50_000))).toMatchObject({ code: status.OK });
      expect(await callExport(client, padded(150_000))).toMatchObject({
        code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/exceeds 100000 bytes \(MAX_DECODED_BODY_BYTES\)/), retryDelaySeconds: undefined,
      });
      client.close();
    }
  });

  it('queue full → RESOURCE_EXHAUSTED with a RetryInfo; database failing → UNAVAILABLE with a RetryInfo', async () => {
    svc = await startTestService({ env: { QUEUE_MAX_EVENTS: '1', MAX_EVENTS_PER_REQUEST: '1', WRITE_RETRY_MS: '1500' } });
    const client = grpcClient(svc.grpcUrl);
    // Another connection holds the write lock: the first export waits for its commit, which finally fails.
    const lock = new Database(join(svc.dir, 'usage.db'));
    lock.prepare('BEGIN IMMEDIATE').run();
    try {
      const waiting = callExport(client, oneSpan('00f067aa0ba902c1'));
      await until(async () => (await metricValue(svc!.collectorUrl, 'tokentally_queue_events')) === 1, 'the first export to be queued');
      expect(await callExport(client, oneSpan('00f067aa0ba902c2'))).toMatchObject({
        code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/queue is full/), retryDelaySeconds: 1,
      });
      expect(await waiting).toMatchObject({ code: status.UNAVAILABLE, details: expect.stringMatching(/database is unavailable/), retryDelaySeconds: 1 });
    } finally {
      lock.prepare('ROLLBACK').run();
      lock.close();
      client.close();
    }
  });

  it('draining → UNAVAILABLE with a RetryInfo, for a call whose message arrives once the service is stopping', async () => {
    svc = await startTestService();
    const client = grpcClient(svc.grpcUrl);
    // The call opens; its message is still to come when the service starts to stop.
    let answer!: (value: { code: status; details: string }) => void;
    const answered = new Promise<{ code: status; details: string }>((resolve) => (answer = resolve));
    const call = client.makeClientStreamRequest(TRACE_EXPORT, (b: Buffer) => b, (b: Buffer) => b, (error) => answer({ code: error?.code ?? status.OK, details: error?.details ?? '' }));
    // A later call on the same connection answered means the server has the open call's headers (HTTP/2 keeps the order).
    expect(await callExport(client, oneSpan('00f067aa0ba902d1'))).toMatchObject({ code: status.OK });
    const stopping = svc.close();
    svc = undefined;
    call.write(Buffer.from(oneSpan('00f067aa0ba902d2')));
    call.end();
    expect(await answered).toEqual({ code: status.UNAVAILABLE, details: expect.stringMatching(/shutting down/) });
    await stopping;
    client.close();
  });
});

describe('HTTP/2 flow control', () => {
  it('grants each call and each connection FLOW_CONTROL_WINDOW, so a client sends a 1,000-record export without waiting', async () => {
    svc = await startTestService();
    const session = connect(svc.grpcUrl);
    try {
      const settings = await new Promise<Settings>((resolve) => session.once('remoteSettings', resolve));
      expect(settings.initialWindowSize).toBe(FLOW_CONTROL_WINDOW);
      expect(settings.maxConcurrentStreams).toBe(MAX_CALLS_PER_CONNECTION);
      // The connection's window is raised by a WINDOW_UPDATE that follows the SETTINGS.
      await until(() => session.state.remoteWindowSize === FLOW_CONTROL_WINDOW, 'the connection window to be raised');
    } finally {
      session.close();
    }
  });

  it('a client with more calls at once than MAX_CALLS_PER_CONNECTION on its connection has the rest wait, not fail', async () => {
    svc = await startTestService();
    const client = grpcClient(svc.grpcUrl);
    try {
      const answers = await Promise.all(Array.from({ length: MAX_CALLS_PER_CONNECTION + 50 }, (_, i) => callExport(client, oneSpan(`00f067aa0b${String(i).padStart(6, '0')}`))));
      expect(answers.every((answer) => answer.code === status.OK)).toBe(true);
    } finally {
      client.close();
    }
    expect((await svc.report(MONTH)).body.totals).toMatchObject({ events: MAX_CALLS_PER_CONNECTION + 50 });
  });
});
