import { SpanKind, context, trace, type Tracer } from '@opentelemetry/api';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { otlpTypes } from '../../collector/otlp/decode.js';
import { exporterFor, exportSpans, otlpRequest, recordSpans, toProtobuf, type Wire, END_NANOS, START_NANOS, TRACE_ID } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';

let svc: TestService;
beforeEach(async () => {
  svc = await startTestService();
});
afterEach(() => svc.close());

const MONTH = '/v1/reports/usage?from=2026-11-01&to=2026-12-01';
const at = (iso: string) => new Date(iso);

/** An agent run as an instrumented app records it: an in-process agent span over a chat call and an HTTP call. */
function agentRun(tracer: Tracer) {
  const agent = tracer.startSpan('invoke_agent planner', {
    kind: SpanKind.INTERNAL, startTime: at('2026-11-03T10:00:00Z'),
    attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'planner', 'gen_ai.usage.input_tokens': 1200, 'gen_ai.usage.output_tokens': 300 },
  });
  const inside = trace.setSpan(context.active(), agent);
  const chat = tracer.startSpan('chat gpt-4o', {
    kind: SpanKind.CLIENT, startTime: at('2026-11-03T10:00:01Z'),
    attributes: {
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06', 'gen_ai.usage.input_tokens': 1200, 'gen_ai.usage.output_tokens': 300,
      'gen_ai.usage.cache_read.input_tokens': 400, 'tokentally.task': 'triage',
    },
  }, inside);
  chat.end(at('2026-11-03T10:00:02.250Z'));
  tracer.startSpan('GET /search', { kind: SpanKind.CLIENT, startTime: at('2026-11-03T10:00:03Z') }, inside).end(at('2026-11-03T10:00:04Z'));
  agent.end(at('2026-11-03T10:00:05Z'));
}

const resource = { 'service.name': 'atlas-worker', 'tokentally.project': 'atlas' };

describe('POST /v1/traces with the stock OpenTelemetry exporters', () => {
  it.each<[Wire, boolean]>([['json', false], ['json', true], ['protobuf', false], ['protobuf', true]])(
    '%s (gzip: %s): the chat span is stored once, the agent and HTTP spans are not',
    async (wire, gzip) => {
      const spans = recordSpans(resource, agentRun);
      expect(await exportSpans(exporterFor(svc.collectorUrl, wire, { gzip }), spans)).toMatchObject({ code: 0 });

      const { body } = await svc.report(MONTH);
      expect(body.totals).toMatchObject({ events: 1, input_tokens: 1200, output_tokens: 300, cache_read_tokens: 400, total_tokens: 1500 });
      const { body: page } = await svc.report('/v1/events');
      const chat = spans.find((s) => s.name === 'chat gpt-4o')!;
      expect(page.events).toEqual([expect.objectContaining({
        id: chat.spanContext().traceId + chat.spanContext().spanId,
        timestamp: '2026-11-03T10:00:02.250Z', duration_ms: 1250,
        project: 'atlas', agent_id: 'planner', model: 'gpt-4o-2024-08-06', provider: 'openai', operation: 'chat',
        task_label: 'triage', status: 'ok', cost_source: 'computed',
      })]);
    },
  );

  it('counts the same spans once whether sent as JSON, as protobuf or retried', async () => {
    const spans = recordSpans(resource, agentRun);
    for (const wire of ['json', 'protobuf', 'json', 'protobuf'] as const) {
      expect(await exportSpans(exporterFor(svc.collectorUrl, wire), spans)).toMatchObject({ code: 0 });
    }
    const { body } = await svc.report(MONTH);
    expect(body.totals).toMatchObject({ events: 1, input_tokens: 1200 });
    expect(await svc.store.verify()).toMatchObject({ ok: true });
  });
});

describe('POST /v1/traces answers', () => {
  const usage = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 };
  const mixed = otlpRequest([
    { spanId: '00f067aa0ba902b7', attributes: usage },
    { spanId: '00f067aa0ba902b8', attributes: { ...usage, 'gen_ai.usage.input_tokens': -3 } },
    { spanId: '00f067aa0ba902b9', name: 'GET /', attributes: { 'http.request.method': 'GET' } },
  ]);

  it('omits partialSuccess on full success, in JSON and protobuf', async () => {
    const json = await svc.ingest('/v1/traces', otlpRequest([{ spanId: '00f067aa0ba902b7', attributes: usage }]));
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await json.json()).toEqual({});
    const proto = await svc.ingest('/v1/traces', toProtobuf(otlpRequest([{ spanId: '00f067aa0ba902c0', attributes: usage }])), { 'content-type': 'application/x-protobuf' });
    expect(proto.status).toBe(200);
    expect(proto.headers.get('content-type')).toBe('application/x-protobuf');
    expect(new Uint8Array(await proto.arrayBuffer())).toHaveLength(0);
  });

  it('stores the valid spans and reports invalid usage in partialSuccess, naming span and attribute', async () => {
    const res = await svc.ingest('/v1/traces', mixed);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.any(String) } });
    expect(body.partialSuccess.errorMessage).toContain(
      `span ${TRACE_ID}/00f067aa0ba902b8 (resourceSpans[0].scopeSpans[0].spans[1]) gen_ai.usage.input_tokens: must not be negative`,
    );
    const { body: report } = await svc.report(MONTH);
    expect(report.totals).toMatchObject({ events: 1, input_tokens: 10 });
  });

  it('answers partialSuccess in protobuf to a protobuf request', async () => {
    const res = await svc.ingest('/v1/traces', gzipSync(toProtobuf(mixed)), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(res.status).toBe(200);
    const answer = otlpTypes.traces.response.toObject(otlpTypes.traces.response.decode(new Uint8Array(await res.arrayBuffer())), { longs: Number });
    expect(answer).toEqual({ partialSuccess: { rejectedSpans: 1, errorMessage: expect.stringContaining('must not be negative') } });
  });

  it('does not count duplicates or ignored spans as rejections', async () => {
    await svc.ingest('/v1/traces', mixed);
    const again = await svc.ingest('/v1/traces', otlpRequest([{ spanId: '00f067aa0ba902b7', attributes: usage }, { spanId: '00f067aa0ba902b9', name: 'GET /' }]));
    expect(await again.json()).toEqual({});
  });

  it.each([
    ['an empty JSON object', '{}', 'application/json'],
    ['no resource spans', '{"resourceSpans": []}', 'application/json'],
    ['only a __proto__ key', '{"__proto__": {"resourceSpans": "not a list"}}', 'application/json'],
    ['an empty protobuf body', new Uint8Array(0), 'application/x-protobuf'],
  ])('treats %s as an empty request: success', async (_name, body, type) => {
    const res = await svc.ingest('/v1/traces', body, { 'content-type': type });
    expect(res.status).toBe(200);
  });

  it('reads nanosecond times beyond 2^53 exactly, sent as JSON numbers or strings', async () => {
    const text = JSON.stringify(otlpRequest([{ spanId: '00f067aa0ba902b7', attributes: usage, start: START_NANOS, end: END_NANOS }]))
      .replace(`"${START_NANOS}"`, START_NANOS).replace(`"${END_NANOS}"`, '1793700001623999999');
    expect((await svc.ingest('/v1/traces', text, { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
    const { body } = await svc.report('/v1/events');
    expect(body.events[0]).toMatchObject({ timestamp: '2026-11-03T10:00:01.623Z', duration_ms: 1500 });
  });

  it('accepts snake_case keys, null and unknown fields, and upper-case hex ids; the id is lower case', async () => {
    const request = otlpRequest([{ spanId: '00F067AA0BA902B7', traceId: TRACE_ID.toUpperCase(), attributes: usage }]);
    const snake = JSON.stringify({ unknown_field: 1, ...request }).replace(/"(\w+)":/g, (_m, key: string) => `"${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}":`);
    expect(snake).toContain('"parent_span_id":""');
    const res = await svc.ingest('/v1/traces', snake.replace('"parent_span_id":""', '"parent_span_id":null'));
    expect(res.status).toBe(200);
    const { body } = await svc.report('/v1/events');
    expect(body.events.map((e: any) => e.id)).toEqual([`${TRACE_ID}00f067aa0ba902b7`]);
  });
});
