import { status } from '@grpc/grpc-js';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_OTLP_STRING_BYTES } from '../../collector/otlp/long-strings.js';
import { callExport, EXPORTS, grpcClient } from '../support/grpc.js';
import { encodeProtobuf, otlpAttributes, otlpLogsRequest, otlpRequest, type Wire } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';

/** OTLP strings over MAX_OTLP_STRING_BYTES: never decoded; a usage record holding one is rejected on its own. */

const LONG = 'x'.repeat(MAX_OTLP_STRING_BYTES + 1);
const TOO_LONG = 'a string of more than 1,048,576 bytes';
const claude = { resource: { 'service.name': 'claude-code' } };
const call = (id: string | undefined, extra: Record<string, string> = {}) => ({
  body: 'claude_code.api_request',
  attributes: { 'event.name': 'api_request', ...(id && { request_id: id }), model: 'claude-haiku-4-5', input_tokens: 10, output_tokens: 5, ...extra },
});
const usage = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 };

const send = (svc: TestService, signal: 'logs' | 'traces', request: unknown, wire: Wire) =>
  svc.ingest(
    `/v1/${signal}`,
    gzipSync(wire === 'json' ? JSON.stringify(request) : encodeProtobuf(signal, request)),
    { 'content-type': wire === 'json' ? 'application/json' : 'application/x-protobuf', 'content-encoding': 'gzip', accept: 'application/json' },
  );

/** The export answer, decoded whichever encoding it came in. */
async function answerOf(res: Response, signal: 'logs' | 'traces'): Promise<Record<string, unknown>> {
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) return res.json();
  const { otlpTypes } = await import('../../collector/otlp/decode.js');
  const type = otlpTypes[signal].response;
  return type.toObject(type.decode(new Uint8Array(await res.arrayBuffer())), { longs: String });
}

describe.each<Wire>(['json', 'protobuf'])('OTLP strings over the maximum, %s', (wire) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(() => svc.close());

  const ids = async () => ((await svc.report('/v1/events')).body.events as { id: string }[]).map((e) => e.id).sort();

  it('rejects the usage log records holding one in partialSuccess, stores the others, ignores the record without usage', async () => {
    const request = otlpLogsRequest([
      call(`${wire}-ok`),
      { ...call(`${wire}-body`), body: LONG },
      call(undefined, { prompt: LONG }),
      { body: LONG, attributes: { 'event.name': 'user_prompt', prompt: LONG } },
      { body: 'x'.repeat(MAX_OTLP_STRING_BYTES), ...call(`${wire}-at-limit`) },
    ], claude);
    request.resourceLogs[0]!.scopeLogs[0]!.logRecords[4]!.body = { stringValue: 'é'.repeat(MAX_OTLP_STRING_BYTES / 2) };
    const res = await send(svc, 'logs', request, wire);
    expect(res.status).toBe(200);
    const answer = await answerOf(res, 'logs');
    expect(answer).toEqual({ partialSuccess: { rejectedLogRecords: '2', errorMessage: expect.any(String) } });
    const message = (answer.partialSuccess as { errorMessage: string }).errorMessage;
    expect(message).toMatch(/^2 log record\(s\) with invalid GenAI usage were not stored: /);
    expect(message).toContain(`(resourceLogs[0].scopeLogs[0].logRecords[1]) resourceLogs[0].scopeLogs[0].logRecords[1].body.stringValue: ${TOO_LONG}`);
    expect(message).toMatch(/logRecords\[2\]\) resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[2\]\.attributes\[\d\]\.value\.stringValue: a string of more/);
    expect(await ids()).toEqual([`claude-code:${wire}-at-limit`, `claude-code:${wire}-ok`]);
  });

  it('counts the bytes of UTF-8 the string decodes to, whichever encoding it came in', async () => {
    const request = otlpLogsRequest([
      // 1 MiB as decoded; as JSON writes it, 2 MiB of `\n` escapes.
      { ...call(`${wire}-escaped`), body: '\n'.repeat(MAX_OTLP_STRING_BYTES) },
      // Half a million characters, a byte over the maximum in UTF-8.
      { ...call(`${wire}-accented`), body: `${'é'.repeat(MAX_OTLP_STRING_BYTES / 2)}x` },
    ], claude);
    const answer = await answerOf(await send(svc, 'logs', request, wire), 'logs');
    expect(answer).toEqual({ partialSuccess: { rejectedLogRecords: '1', errorMessage: expect.stringContaining(`logRecords[1].body.stringValue: ${TOO_LONG}`) } });
    const stored = await ids();
    expect(stored).toContain(`claude-code:${wire}-escaped`);
    expect(stored).not.toContain(`claude-code:${wire}-accented`);
  });

  it('holds only string fields to it: bytes (base64 in JSON) and unknown fields are read as before', async () => {
    const blob = Buffer.alloc(900 * 1024, 7).toString('base64');
    const request = otlpLogsRequest([call(`${wire}-unknown`), call(undefined, { [`${wire}-blob`]: 'x' })], claude);
    const [withUnknown, withBlob] = request.resourceLogs[0]!.scopeLogs[0]!.logRecords as Record<string, unknown>[];
    withUnknown!.note = LONG;
    (withBlob!.attributes as unknown[]).push({ key: 'blob', value: { bytesValue: blob } });
    const res = await send(svc, 'logs', request, wire);
    expect(res.status).toBe(200);
    expect(await answerOf(res, 'logs')).toEqual({});
    const stored = await ids();
    expect(stored).toContain(`claude-code:${wire}-unknown`);
    expect(stored.filter((id) => id.startsWith('log:'))).toHaveLength(1);
  });

  it('rejects every usage record of a resource holding one', async () => {
    const request = otlpLogsRequest([call(`${wire}-resource`)], { resource: { 'service.name': 'claude-code', 'host.name': LONG } });
    const answer = await answerOf(await send(svc, 'logs', request, wire), 'logs');
    expect(answer).toEqual({ partialSuccess: { rejectedLogRecords: '1', errorMessage: expect.stringContaining(`resourceLogs[0].resource.attributes[1].value.stringValue: ${TOO_LONG}`) } });
    expect(await ids()).not.toContain(`claude-code:${wire}-resource`);
  });

  it('rejects a usage span holding one, ignores a span without usage holding one', async () => {
    const base = wire === 'json' ? 'a0' : 'b0';
    const request = otlpRequest([
      { spanId: `${base}f067aa0ba90201`, attributes: usage },
      { spanId: `${base}f067aa0ba90202`, attributes: { ...usage, 'gen_ai.request.model': LONG } },
      { spanId: `${base}f067aa0ba90203`, name: LONG, attributes: { 'http.url': LONG } },
    ]);
    const res = await send(svc, 'traces', request, wire);
    expect(res.status).toBe(200);
    expect(await answerOf(res, 'traces')).toEqual({
      partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringContaining(`spans[1]) resourceSpans[0].scopeSpans[0].spans[1].attributes[1].value.stringValue: ${TOO_LONG}`) },
    });
    const stored = await ids();
    expect(stored.filter((id) => id.includes(`${base}f067aa0ba902`))).toHaveLength(1);
  });

  it('never stores what stands for one: a usage span taking its agent name from a parent holding one is rejected', async () => {
    const parent = wire === 'json' ? 'c0f067aa0ba90201' : 'd0f067aa0ba90201';
    const request = otlpRequest([
      { spanId: parent, kind: 1, attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': LONG } },
      { spanId: `${parent.slice(0, 14)}02`, parentSpanId: parent, attributes: usage },
    ]);
    const answer = await answerOf(await send(svc, 'traces', request, wire), 'traces');
    expect(answer).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringMatching(/spans\[1\]\) .*NUL/) } });
    expect((await ids()).filter((id) => id.includes(parent.slice(0, 14)))).toEqual([]);
  });
});

describe('OTLP strings over the maximum, over gRPC', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(() => svc.close());

  it('answers OK with partialSuccess rejecting the usage log record holding one, and stores its sibling', async () => {
    const client = grpcClient(svc.grpcUrl);
    const request = otlpLogsRequest([call('grpc-ok'), { ...call('grpc-long'), body: LONG }], claude);
    const answer = await callExport(client, encodeProtobuf('logs', request), {}, EXPORTS.logs);
    client.close();
    expect(answer).toMatchObject({
      code: status.OK,
      response: { partialSuccess: { rejectedLogRecords: 1, errorMessage: expect.stringContaining(`logRecords[1].body.stringValue: ${TOO_LONG}`) } },
    });
    const ids = ((await svc.report('/v1/events')).body.events as { id: string }[]).map((e) => e.id);
    expect(ids).toEqual(['claude-code:grpc-ok']);
  });
});

describe.each<Wire>(['json', 'protobuf'])('OTLP strings over the maximum in counted metrics (COUNT_METRICS), %s', (wire) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ env: { COUNT_METRICS: 'billing-bot' } });
  });
  afterAll(() => svc.close());

  it('rejects the token data point holding one in partialSuccess and counts the other', async () => {
    const point = (type: string, model: string) => ({
      attributes: otlpAttributes({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': model, 'gen_ai.token.type': type }),
      startTimeUnixNano: '1796292000000000000', timeUnixNano: '1796292060000000000', count: '1', sum: 100, bucketCounts: ['0', '1'], explicitBounds: [1],
    });
    const request = {
      resourceMetrics: [{
        resource: { attributes: otlpAttributes({ 'service.name': 'billing-bot' }) },
        scopeMetrics: [{ metrics: [{ name: 'gen_ai.client.token.usage', histogram: { aggregationTemporality: 1, dataPoints: [point('input', 'gpt-4o'), point('output', LONG)] } }] }],
      }],
    };
    const res = await svc.ingest(
      '/v1/metrics',
      gzipSync(wire === 'json' ? JSON.stringify(request) : encodeProtobuf('metrics', request)),
      { 'content-type': wire === 'json' ? 'application/json' : 'application/x-protobuf', 'content-encoding': 'gzip' },
    );
    expect(res.status).toBe(200);
    const type = (await import('../../collector/otlp/decode.js')).otlpTypes.metrics.response;
    const answer = wire === 'json' ? await res.json() : type.toObject(type.decode(new Uint8Array(await res.arrayBuffer())), { longs: String });
    expect(answer).toEqual({
      partialSuccess: { rejectedDataPoints: '1', errorMessage: expect.stringContaining(`histogram.dataPoints[1].attributes[2].value.stringValue: ${TOO_LONG}`) },
    });
    expect((await svc.report('/v1/events')).body.events).toEqual([expect.objectContaining({ input_tokens: 100, model: 'gpt-4o' })]);
  });
});
