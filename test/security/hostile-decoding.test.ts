import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { peakRssMB } from '../../bench/server.js';
import { field, gzipJson, gzipProto, send, traceRequest } from '../support/hostile.js';
import { otlpTypes } from '../../collector/otlp/decode.js';
import { encodeProtobuf, otlpLogsRequest, otlpRequest } from '../support/otlp.js';
import { hostileService } from '../support/hostile-service.js';

/**
 * Small requests that expand into huge work (issue 17), sent to a real `tokentally serve` process
 * with its default limits. Each must be answered quickly with a precise 4xx (or, for a valid request
 * within the limits, succeed), while /healthz keeps answering and the process's peak memory stays
 * far below what the bodies would expand to. The bombs are built here, byte by byte.
 */

/** The slowest /healthz probe while a large valid request is worked on: its event loop gets a turn every few ms. */
const STALL_WITHIN_MS = 1_000;

const service = hostileService();
const { post, observe, expectBounded } = service;

describe('hostile bodies against a running tokentally serve', () => {
  it('refuses 10 million empty spans (about 20 KB of gzip protobuf) at MAX_RECORDS_PER_REQUEST', async () => {
    const spans = Buffer.alloc(2 * 10_000_000);
    for (let i = 0; i < spans.length; i += 2) spans[i] = 0x12; // field 2 (spans), length 0
    const body = gzipSync(traceRequest(spans));
    expect(body.length).toBeLessThan(40_000);
    const outcome = await observe(() => post('/v1/traces', body, gzipProto));
    expect(outcome.status).toBe(413);
    expect(outcome.body.message).toMatch(/spans\[10000\]: more than 10000 spans in one request \(MAX_RECORDS_PER_REQUEST\)/);
    expectBounded(outcome);
  });

  it('refuses 2 million {} spans (6 KB of gzip OTLP/JSON), naming where the count ran out', async () => {
    const body = gzipSync(`{"resourceSpans":[{"scopeSpans":[{"spans":[${'{},'.repeat(1_999_999)}{}]}]}]}`);
    expect(body.length).toBeLessThan(10_000);
    const outcome = await observe(() => post('/v1/traces', body, gzipJson));
    expect(outcome.status).toBe(413);
    expect(outcome.body.message).toMatch(/^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[10000\]: more than 10000 spans .*MAX_RECORDS_PER_REQUEST/);
    expectBounded(outcome);
  });

  it.each<[string, string, (records: Buffer) => Buffer, RegExp]>([
    // ExportLogsServiceRequest { resource_logs { scope_logs { log_records… } } }: the trace layout, field for field.
    ['log records', '/v1/logs', traceRequest, /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[10000\]: more than 10000 log records in one request \(MAX_RECORDS_PER_REQUEST\)/],
    // ExportMetricsServiceRequest { resource_metrics { scope_metrics { metrics { sum (7) { data_points (1)… } } } } }
    ['metric data points', '/v1/metrics', (points) => field(1, field(2, field(2, field(7, points)))), /sum\.dataPoints\[10000\]: more than 10000 data points in one request \(MAX_RECORDS_PER_REQUEST\)/],
  ])('refuses 10 million empty %s (gzip protobuf) at MAX_RECORDS_PER_REQUEST', async (_name, path, wrap, message) => {
    const tag = path === '/v1/logs' ? 0x12 : 0x0a;
    const records = Buffer.alloc(2 * 10_000_000);
    for (let i = 0; i < records.length; i += 2) records[i] = tag; // the records field, length 0
    const body = gzipSync(wrap(records));
    expect(body.length).toBeLessThan(40_000);
    const outcome = await observe(() => post(path, body, gzipProto));
    expect(outcome.status).toBe(413);
    expect(outcome.body.message).toMatch(message);
    expectBounded(outcome);
  });

  it.each<[string, string, string, RegExp]>([
    ['log records', '/v1/logs', '{"resourceLogs":[{"scopeLogs":[{"logRecords":[#]}]}]}', /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[10000\]: more than 10000 log records/],
    ['metric data points', '/v1/metrics', '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[#]}}]}]}]}', /metrics\[0\]\.gauge\.dataPoints\[10000\]: more than 10000 data points/],
  ])('refuses 2 million {} %s (gzip OTLP/JSON), naming where the count ran out', async (_name, path, template, message) => {
    const body = gzipSync(template.replace('#', `${'{},'.repeat(1_999_999)}{}`));
    expect(body.length).toBeLessThan(10_000);
    const outcome = await observe(() => post(path, body, gzipJson));
    expect(outcome.status).toBe(413);
    expect(outcome.body.message).toMatch(message);
    expectBounded(outcome);
  });

  it('refuses 1.6 million valid non-GenAI spans, and accepts 10,000 of them (the limit) with 200', async () => {
    /** `count` spans of a trace id and a span id each: field 2 (30 bytes) = trace_id (18) + span_id (10). */
    const spans = (count: number) => {
      const span = field(2, Buffer.concat([Buffer.from([0x0a, 16]), Buffer.alloc(16, 0xab), Buffer.from([0x12, 8]), Buffer.alloc(8)]));
      const out = Buffer.alloc(span.length * count);
      for (let i = 0; i < count; i++) {
        span.copy(out, i * span.length);
        out.writeUInt32BE(i + 1, (i + 1) * span.length - 4);
      }
      return out;
    };
    const huge = gzipSync(traceRequest(spans(1_600_000)));
    const refused = await observe(() => post('/v1/traces', huge, gzipProto));
    expect(refused.status).toBe(413);
    expect(refused.body.message).toMatch(/MAX_RECORDS_PER_REQUEST/);
    expectBounded(refused);

    const atLimit = await observe(() => post('/v1/traces', gzipSync(traceRequest(spans(10_000))), gzipProto));
    expect(atLimit.status).toBe(200);
    expectBounded(atLimit);
  });

  // Parsed and checked in one piece, 10,000 spans of OTLP/JSON held the event loop for 2-7 s on this
  // 2-core machine; read a record at a time (collector/otlp/decode.ts), the loop gets a turn every few ms.
  const kv = (key: string, value: object) => ({ key, value });
  const records = <T>(make: (i: number) => T) => Array.from({ length: 10_000 }, (_, i) => make(i));
  it.each([
    ['10,000 GenAI spans, each an event', '/v1/traces', () => ({
      resourceSpans: [{ resource: { attributes: [kv('service.name', { stringValue: 'json-agent' })] }, scopeSpans: [{ spans: records((i) => ({
        traceId: 'ab'.repeat(12) + i.toString(16).padStart(8, '0'), spanId: i.toString(16).padStart(16, '0'), name: 'chat', kind: 3,
        startTimeUnixNano: `${Date.now() - 2_000}000000`, endTimeUnixNano: `${Date.now() - 1_000}000000`,
        attributes: [kv('gen_ai.operation.name', { stringValue: 'chat' }), kv('gen_ai.request.model', { stringValue: 'gpt-4o' }), kv('gen_ai.usage.input_tokens', { intValue: i + 1 })],
      })) }] }],
    })],
    ['10,000 log records', '/v1/logs', () => ({
      resourceLogs: [{ scopeLogs: [{ logRecords: records((i) => ({ timeUnixNano: `${Date.now()}000000`, body: { stringValue: `line ${i}` }, attributes: [kv('n', { intValue: i })] })) }] }],
    })],
    ['10,000 metric data points', '/v1/metrics', () => ({
      resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', sum: { dataPoints: records((i) => ({ timeUnixNano: String(i), asInt: i, attributes: [kv('k', { stringValue: `v${i}` })] })) } }] }] }],
    })],
  ])('OTLP/JSON at the record limit, %s: 200, /healthz answering throughout', async (_name, path, request) => {
    const outcome = await observe(() => post(path, gzipSync(JSON.stringify(request())), gzipJson));
    expect(outcome.status).toBe(200);
    expectBounded(outcome);
    // Held in one piece, the slowest probe would wait about as long as the request took; half of it
    // leaves room for the other test files' processes on two cores, which a fast request feels most.
    expect(outcome.healthzMs).toBeLessThan(Math.min(STALL_WITHIN_MS, outcome.ms / 2));
  }, 60_000);

  // One value as large as the decoded body may be (MAX_DECODED_BODY_BYTES, 50 MiB), sent as 50 KB of
  // gzip. Inflating it is most of the time, which a loaded machine stretches to seconds; /healthz and
  // memory are held to the suite's bounds. No OTLP string over MAX_OTLP_STRING_BYTES is decoded.
  const HUGE_ANSWER_WITHIN_MS = 30_000;
  const huge = 'x'.repeat(49 * 1024 * 1024);
  it.each([
    ['an OTLP/JSON log record whose body is a 49 MiB string', '/v1/logs', gzipJson, () =>
      Buffer.from(JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: `${Date.now()}000000`, body: { stringValue: huge } }] }] }] }))],
    // ExportLogsServiceRequest { resource_logs { scope_logs { log_records { body { string_value } } } } }
    ['an OTLP protobuf log record whose body is a 49 MiB string', '/v1/logs', gzipProto, () => field(1, field(2, field(2, field(5, field(1, Buffer.from(huge))))))],
  ])('%s (no usage) is accepted and ignored', async (_name, path, headers, body) => {
    const gzipped = gzipSync(body());
    const outcome = await observe(() => post(path, gzipped, headers));
    expect(outcome.status, JSON.stringify(outcome.body).slice(0, 300)).toBe(200);
    expect(outcome.bytes.length).toBeLessThanOrEqual(2);
    expectBounded(outcome, HUGE_ANSWER_WITHIN_MS);
  }, 60_000);

  const usageLogs = (id: string) => otlpLogsRequest([
    { body: 'claude_code.api_request', attributes: { 'event.name': 'api_request', request_id: id, model: 'claude-haiku-4-5', input_tokens: 10, output_tokens: 5 } },
    { body: huge, attributes: { 'event.name': 'api_request', model: 'claude-haiku-4-5', input_tokens: 10, output_tokens: 5 } },
  ], { resource: { 'service.name': 'claude-code' } });
  const usageSpans = (spanId: string) => otlpRequest([
    { spanId: `${spanId}01`, attributes: { 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10 } },
    { spanId: `${spanId}02`, attributes: { 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10, 'gen_ai.prompt': huge } },
  ]);
  it.each([
    ['an OTLP/JSON usage log record whose body is a 49 MiB string', '/v1/logs', gzipJson, () => Buffer.from(JSON.stringify(usageLogs('huge-json'))),
      'rejectedLogRecords', /logRecords\[1\]\.body\.stringValue: a string of more than 1,048,576 bytes/],
    ['an OTLP protobuf usage log record whose body is a 49 MiB string', '/v1/logs', gzipProto, () => Buffer.from(encodeProtobuf('logs', usageLogs('huge-proto'))),
      'rejectedLogRecords', /logRecords\[1\]\.body\.stringValue: a string of more than 1,048,576 bytes/],
    ['an OTLP/JSON usage span with a 49 MiB attribute', '/v1/traces', gzipJson, () => Buffer.from(JSON.stringify(usageSpans('00f067aa0ba902'))),
      'rejectedSpans', /spans\[1\]\.attributes\[2\]\.value\.stringValue: a string of more than 1,048,576 bytes/],
    ['an OTLP protobuf usage span with a 49 MiB attribute', '/v1/traces', gzipProto, () => Buffer.from(encodeProtobuf('traces', usageSpans('00f067aa0ba903'))),
      'rejectedSpans', /spans\[1\]\.attributes\[2\]\.value\.stringValue: a string of more than 1,048,576 bytes/],
  ])('%s is rejected on its own in partialSuccess, without decoding it', async (_name, path, headers, body, rejected, message) => {
    const gzipped = gzipSync(body());
    const outcome = await observe(() => post(path, gzipped, headers));
    expect(outcome.status, JSON.stringify(outcome.body).slice(0, 300)).toBe(200);
    const response = otlpTypes[path === '/v1/logs' ? 'logs' : 'traces'].response;
    const answer = headers === gzipProto ? response.toObject(response.decode(outcome.bytes), { longs: String }) : outcome.body;
    expect(answer).toEqual({ partialSuccess: { [rejected]: '1', errorMessage: expect.stringMatching(message) } });
    expectBounded(outcome, HUGE_ANSWER_WITHIN_MS);
  }, 60_000);

  // No field of a native event takes more than 1,024 characters, and a valid event has under 90 values:
  // the scan refuses such an event without parsing it (collector/routes/usage.ts, EVENT_LIMITS).
  it.each([
    ['a 49 MiB attribute', { note: huge }, 'events[1].attributes.note', /^a string of more than 6,144 bytes/],
    ['990,000 numbers (16 MiB) in an attribute', { n: Array<number>(990_000).fill(1234567890123456) }, 'events[1].attributes.n[250]', /^more than 256 JSON values in one event/],
  ])('refuses a native event with %s before parsing it, naming the field, and stores its valid sibling', async (_name, attributes, path, message) => {
    const body = gzipSync(JSON.stringify({ events: [{ id: `sibling-${path.length}`, agent_id: 'huge', model: 'm', input_tokens: 1 }, { agent_id: 'huge', model: 'm', input_tokens: 1, attributes }] }));
    const outcome = await observe(() => post('/v1/usage', body, gzipJson));
    expect(outcome.status).toBe(200);
    expect(outcome.body).toMatchObject({ accepted: 1, rejected: 1, errors: [{ index: 1, path, message: expect.stringMatching(message) }] });
    // Inflating 49 MiB is most of the time, which a loaded machine stretches; /healthz is held to the suite's bound.
    expectBounded(outcome, HUGE_ANSWER_WITHIN_MS);
  }, 60_000);

  it('refuses a 49 MiB attribute sent to /api/usage before parsing it, naming the field', async () => {
    const outcome = await observe(() => post('/api/usage', gzipSync(JSON.stringify({ agent_id: 'huge', model: 'm', attributes: { note: huge } })), gzipJson));
    expect(outcome.status).toBe(400);
    expect(outcome.body.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^attributes\.note: a string of more than 6,144 bytes/) });
    expectBounded(outcome, HUGE_ANSWER_WITHIN_MS);
  }, 60_000);

  it('refuses 16 million {} events (about 50 KB of gzip) at MAX_EVENTS_PER_REQUEST', async () => {
    const body = gzipSync(`{"events":[${'{},'.repeat(15_999_999)}{}]}`);
    expect(body.length).toBeLessThan(100_000);
    const outcome = await observe(() => post('/v1/usage', body, gzipJson));
    expect(outcome.status).toBe(413);
    expect(outcome.body.error).toMatchObject({ code: 'too_many_events', message: expect.stringMatching(/^events\[10000\]: .*MAX_EVENTS_PER_REQUEST/) });
    expectBounded(outcome);
  });

  it('holds 60 parallel gzip bombs (1 MB → 1 GiB each) to the decoding budget: 413 or 429 with Retry-After, memory bounded and given back', async () => {
    // Sixteen gzip members of 64 MiB of zeros each: 1 GiB inflated from about 1 MB.
    const bomb = Buffer.concat(Array<Buffer>(16).fill(gzipSync(Buffer.alloc(64 * 1024 * 1024))));
    expect(bomb.length).toBeLessThan(1_200_000);
    const storm = () =>
      Promise.all(Array.from({ length: 60 }, (_, i) => observe(() => (i % 2 ? post('/v1/usage', bomb, gzipJson) : post('/v1/traces', bomb, gzipProto)))));
    const first = await storm();
    for (const outcome of first) {
      expect([413, 429]).toContain(outcome.status);
      if (outcome.status === 429) expect(Number(outcome.headers['retry-after'])).toBeLessThanOrEqual(5);
      expectBounded(outcome);
    }
    expect(first.some((o) => o.status === 429)).toBe(true);
    // Nothing is kept: a second storm finds the budget whole and the memory reused, not added to.
    const peakAfterFirst = peakRssMB(service.run);
    const second = await storm();
    for (const outcome of second) expect([413, 429]).toContain(outcome.status);
    expect(peakRssMB(service.run) - peakAfterFirst).toBeLessThan(100);
    const after = await post('/v1/usage', gzipSync(JSON.stringify({ events: [{ agent_id: 'after', model: 'm' }] })), gzipJson);
    // Every refused body gave its share back: the budget takes a whole new request.
    expect(after.status).toBe(200);
  });

  it("refuses the issue's 1,100 events of 2^53 − 1 input tokens per event, and reports and /readyz stay fine after", async () => {
    const events = Array.from({ length: 1100 }, (_, i) => ({ id: `huge-${i}`, agent_id: 'huge', model: 'm', input_tokens: 2 ** 53 - 1 }));
    const outcome = await observe(() => post('/v1/usage', Buffer.from(JSON.stringify({ events })), { 'content-type': 'application/json' }));
    expect(outcome.status).toBe(400);
    expect(outcome.body).toMatchObject({ accepted: 0, rejected: 1100 });
    expect(outcome.body.errors[0]).toEqual({ index: 0, path: 'events[0].input_tokens', message: expect.stringMatching(/at most 1,000,000,000/) });
    expectBounded(outcome);
    for (const path of ['/v1/reports/usage?group_by=run', '/v1/reports/usage?group_by=agent', '/readyz']) expect((await send('GET', service.reporting + path)).status).toBe(200);
  });

  it('keeps ids per project: the same id in two projects is two events, a repeat in one project a duplicate', async () => {
    const event = (project: string) => ({ id: 'shared-id', project, agent_id: 'ids', model: 'm', input_tokens: 1 });
    const answers = [];
    for (const project of ['ids-a', 'ids-b', 'ids-b']) {
      answers.push((await post('/v1/usage', Buffer.from(JSON.stringify({ events: [event(project)] })), { 'content-type': 'application/json' })).body);
    }
    expect(answers).toMatchObject([{ accepted: 1, duplicates: 0 }, { accepted: 1, duplicates: 0 }, { accepted: 0, duplicates: 1 }]);
  });

  it.each([3_000, 6_000])('answers an OTLP/JSON log body nested %i deep with 400', async (depth) => {
    let value = '{"stringValue":"x"}';
    for (let i = 0; i < depth; i++) value = `{"kvlistValue":{"values":[{"key":"k","value":${value}}]}}`;
    const json = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${value}}]}]}]}`;
    const outcome = await observe(() => post('/v1/logs', Buffer.from(json), { 'content-type': 'application/json' }));
    expect(outcome.status).toBe(400);
    expect(outcome.body.message).toMatch(/^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.body\.kvlistValue.*nested more than 64 levels deep/);
    expectBounded(outcome);
  });

  it.each([3_000, 6_000])('answers OTLP/JSON attribute values nested %i deep with 400', async (depth) => {
    let value = '{"stringValue":"x"}';
    for (let i = 0; i < depth; i++) value = `{"arrayValue":{"values":[${value}]}}`;
    const json = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${'ab'.repeat(16)}","spanId":"${'cd'.repeat(8)}","attributes":[{"key":"deep","value":${value}}]}]}]}]}`;
    const outcome = await observe(() => post('/v1/traces', Buffer.from(json), { 'content-type': 'application/json' }));
    expect(outcome.status).toBe(400);
    expect(outcome.body.message).toMatch(/nested more than 64 levels deep/);
    expectBounded(outcome);
  });

  it('cuts a 4 MB attribute key, and a 4 MB unknown field name, in the error it echoes them in', async () => {
    const key = 'k'.repeat(4 * 1024 * 1024);
    for (const event of [{ agent_id: 'a', model: 'm', attributes: { [key]: 1 } }, { agent_id: 'a', model: 'm', [key]: 1 }]) {
      const outcome = await observe(() => post('/v1/usage', gzipSync(JSON.stringify({ events: [event] })), gzipJson));
      expect(outcome.status).toBe(400);
      expect(JSON.stringify(outcome.body).length).toBeLessThan(2_000);
      expect(JSON.stringify(outcome.body)).toContain(`${'k'.repeat(100)}…`);
      expectBounded(outcome);
    }
  });
});

describe('invalid UTF-8 is refused naming the field', () => {
  const bad = Buffer.from([0x61, 0xc3, 0x28]); // "a", then a two-byte lead followed by no continuation byte
  const json = (before: string, after: string) => Buffer.concat([Buffer.from(before), bad, Buffer.from(after)]);

  it.each<[string, string, Buffer, Record<string, string>, RegExp]>([
    ['/v1/usage', '/v1/usage', json('{"events":[{"agent_id":"a","model":"', '"}]}'), { 'content-type': 'application/json' }, /^events\[0\]\.model: not valid UTF-8/],
    ['/api/usage', '/api/usage', json('{"agent_id":"a","model":"m","attributes":{"team":"', '"}}'), { 'content-type': 'application/json' }, /^attributes\.team: not valid UTF-8/],
    ['OTLP/JSON', '/v1/traces', json('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"x","spanId":"y","name":"', '"}]}]}]}'), { 'content-type': 'application/json' }, /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.name: not valid UTF-8/],
    ['OTLP protobuf', '/v1/traces', traceRequest(field(2, field(9, field(1, bad)))), { 'content-type': 'application/x-protobuf' }, /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.attributes\[0\]\.key: not valid UTF-8/],
    ['OTLP/JSON logs', '/v1/logs', json('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"', '"}}]}]}]}'), { 'content-type': 'application/json' }, /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.body\.stringValue: not valid UTF-8/],
    // LogRecord.attributes is field 6.
    ['OTLP protobuf logs', '/v1/logs', traceRequest(field(2, field(6, field(1, bad)))), { 'content-type': 'application/x-protobuf' }, /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.attributes\[0\]\.key: not valid UTF-8/],
    ['OTLP protobuf metrics', '/v1/metrics', field(1, field(2, field(2, field(1, bad)))), { 'content-type': 'application/x-protobuf' }, /^resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.name: not valid UTF-8/],
  ])('%s', async (_name, path, body, headers, message) => {
    const res = await post(path, body, headers);
    expect(res.status).toBe(400);
    // OTLP answers a google.rpc.Status, the other routes {"error": {...}}.
    expect(res.body.error?.message ?? res.body.message).toMatch(message);
  });
});

describe('cross-site writes', () => {
  it.each(['/v1/usage', '/api/usage'])('%s refuses a body without a JSON Content-Type (what a page on another origin can send) with 415', async (path) => {
    const event = { agent_id: 'cross-site', model: 'm' };
    const body = path === '/v1/usage' ? { events: [event] } : event;
    for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }]) {
      const res = await post(path, Buffer.from(JSON.stringify(body)), headers);
      expect(res.status).toBe(415);
    }
    expect((await send('GET', `${service.reporting}/v1/events?agent=cross-site`)).body).toMatchObject({ events: [] });
  });
});
