import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';

interface Hostile {
  name: string;
  method: 'GET' | 'POST';
  url: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
}

const ok = { agent_id: 'a', model: 'm' };
const INJECTIONS = [
  "'; DROP TABLE usage_events; --", "model) UNION SELECT * FROM usage_daily --", '{"$ne": null}', '$where', '../../etc/passwd', '%00', '\u0000',
];

/** Event-level poison: each makes the one event invalid, in a different way. */
const BAD_EVENTS: [string, unknown][] = [
  ['agent_id missing', { model: 'm' }],
  ['model missing', { agent_id: 'a' }],
  ['operator object as agent_id', { ...ok, agent_id: { $gt: '' } }],
  ['array as model', { ...ok, model: ['m'] }],
  ['number as agent_id', { ...ok, agent_id: 7 }],
  ['negative tokens', { ...ok, input_tokens: -1 }],
  ['fractional tokens', { ...ok, output_tokens: 1.5 }],
  ['string tokens', { ...ok, input_tokens: '100' }],
  ['tokens beyond 2^53', { ...ok, input_tokens: 2 ** 60 }],
  ['huge number as tokens', { ...ok, input_tokens: 1e300 }],
  ['cache above input', { ...ok, input_tokens: 1, cache_read_tokens: 5 }],
  ['lone surrogate', { ...ok, agent_id: '\ud800x' }],
  ['NUL byte', { ...ok, model: 'gpt\u00004o' }],
  ['NUL in id', { ...ok, id: 'a\u0000b' }],
  ['lone surrogate attribute key', { ...ok, attributes: { '\udc00': 'x' } }],
  ['nested attribute', { ...ok, attributes: { a: { b: 1 } } }],
  ['too many attributes', { ...ok, attributes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }],
  ['long attribute value', { ...ok, attributes: { a: 'x'.repeat(5000) } }],
  ['long agent_id', { ...ok, agent_id: 'x'.repeat(300) }],
  ['long id', { ...ok, id: 'x'.repeat(200) }],
  ['empty agent_id', { ...ok, agent_id: '   ' }],
  ['bad timestamp', { ...ok, timestamp: 'yesterday' }],
  ['timestamp far future', { ...ok, timestamp: 1e20 }],
  ['timestamp before 2000', { ...ok, timestamp: 0 }],
  ['negative cost', { ...ok, cost_usd: -1 }],
  ['string cost', { ...ok, cost_usd: '1.00' }],
  ['unknown status', { ...ok, status: 'maybe' }],
  ['unknown field', { ...ok, input_token: 5 }],
  ['prototype key', { ...ok, constructor: { prototype: { admin: true } } }],
  ['__proto__ key', JSON.parse('{"agent_id":"a","model":"m","__proto__":{"admin":true}}')],
  ['null event', null],
  ['string event', 'event'],
];

/** Whole bodies that are not JSON, or not the expected shape. */
const BAD_BODIES: [string, string | Uint8Array][] = [
  ['truncated JSON', '{"events":[{"agent_id":"a"'],
  ['NaN literal', '{"events":[{"agent_id":"a","model":"m","input_tokens":NaN}]}'],
  ['Infinity literal', '{"events":[{"agent_id":"a","model":"m","input_tokens":Infinity}]}'],
  ['deeply nested arrays', '['.repeat(100_000) + ']'.repeat(100_000)],
  ['deeply nested objects', '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000)],
  ['trailing garbage', '{"events":[]} {"x":1}'],
  ['empty body', ''],
  ['null', 'null'],
  ['a number', '42'],
  ['an array', '[]'],
  ['invalid UTF-8', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ['single quotes', "{'events': []}"],
];

const BATCH_ONLY: [string, string][] = [
  ['empty batch', '{"events":[]}'],
  ['events not a list', '{"events":{"length":1}}'],
  ['events missing', '{"event":[]}'],
  ['too many events', JSON.stringify({ events: Array.from({ length: 10_001 }, () => ok) })],
];

function collectorCases(): Hostile[] {
  const cases: Hostile[] = [];
  for (const [name, event] of BAD_EVENTS) {
    cases.push({ name: `batch: ${name}`, method: 'POST', url: 'C/v1/usage', body: JSON.stringify({ events: [event] }) });
    cases.push({ name: `seed: ${name}`, method: 'POST', url: 'C/api/usage', body: JSON.stringify(event) });
  }
  for (const [name, body] of BAD_BODIES) {
    cases.push({ name: `batch body: ${name}`, method: 'POST', url: 'C/v1/usage', body });
    cases.push({ name: `seed body: ${name}`, method: 'POST', url: 'C/api/usage', body });
  }
  for (const [name, body] of BATCH_ONLY) cases.push({ name: `batch: ${name}`, method: 'POST', url: 'C/v1/usage', body });
  const valid = JSON.stringify({ events: [ok] });
  for (const url of ['C/v1/usage', 'C/api/usage']) {
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']) {
      cases.push({ name: `${url} as ${type}`, method: 'POST', url, body: valid, headers: { 'content-type': type } });
    }
    for (const encoding of ['br', 'deflate', 'compress', 'gzip, br']) {
      cases.push({ name: `${url} encoded ${encoding}`, method: 'POST', url, body: valid, headers: { 'content-encoding': encoding } });
    }
    cases.push({ name: `${url} gzip header, plain body`, method: 'POST', url, body: valid, headers: { 'content-encoding': 'gzip' } });
    cases.push({ name: `${url} gzip bomb`, method: 'POST', url, body: gzipSync(Buffer.alloc(60 * 1024 * 1024, 0x20)), headers: { 'content-encoding': 'gzip' } });
    cases.push({ name: `${url} truncated gzip`, method: 'POST', url, body: gzipSync(valid).subarray(0, 10), headers: { 'content-encoding': 'gzip' } });
  }
  const span = (patch: Record<string, unknown>) => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{
    traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', startTimeUnixNano: '1', endTimeUnixNano: '2', ...patch,
  }] }] }] });
  const otlp: [string, string | Uint8Array, string][] = [
    ['truncated JSON', '{"resourceSpans":[{', 'application/json'],
    ['resourceSpans not a list', '{"resourceSpans":{"0":{}}}', 'application/json'],
    ['trace id not hex', span({ traceId: 'zz' }), 'application/json'],
    ['span id of the wrong length', span({ spanId: 'abc' }), 'application/json'],
    ['string enum for kind', span({ kind: 'SPAN_KIND_CLIENT' }), 'application/json'],
    ['attributes not a list', span({ attributes: { 'gen_ai.usage.input_tokens': 5 } }), 'application/json'],
    ['time as a float', span({ endTimeUnixNano: 1.5 }), 'application/json'],
    ['deeply nested', '['.repeat(100_000), 'application/json'],
    ['protobuf garbage', new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a]), 'application/x-protobuf'],
    ['text/plain', span({}), 'text/plain'],
    ['grpc content type', span({}), 'application/grpc'],
  ];
  for (const [name, body, type] of otlp) cases.push({ name: `traces: ${name}`, method: 'POST', url: 'C/v1/traces', body, headers: { 'content-type': type } });
  const log = (patch: Record<string, unknown>) => JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: '1', ...patch }] }] }] });
  const point = (patch: Record<string, unknown>, kind = 'sum') => JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', [kind]: { dataPoints: [{ asInt: '1', ...patch }] } }] }] }] });
  const signals: [string, [string, string | Uint8Array, string][]][] = [
    ['logs', [
      ['truncated JSON', '{"resourceLogs":[{', 'application/json'],
      ['resourceLogs not a list', '{"resourceLogs":{"0":{}}}', 'application/json'],
      ['trace id not hex', log({ traceId: 'zz' }), 'application/json'],
      ['string severity', log({ severityNumber: 'SEVERITY_NUMBER_INFO' }), 'application/json'],
      ['time as a float', log({ timeUnixNano: 1.5 }), 'application/json'],
      ['attributes not a list', log({ attributes: { input_tokens: 5 } }), 'application/json'],
      ['body array not a list', log({ body: { arrayValue: { values: 7 } } }), 'application/json'],
      ['bytes not base64', log({ body: { bytesValue: 17 } }), 'application/json'],
      ['deeply nested', '['.repeat(100_000), 'application/json'],
      ['protobuf garbage', new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a]), 'application/x-protobuf'],
      ['text/plain', log({}), 'text/plain'],
      ['grpc content type', log({}), 'application/grpc'],
    ]],
    ['metrics', [
      ['truncated JSON', '{"resourceMetrics":[{', 'application/json'],
      ['metrics not a list', '{"resourceMetrics":[{"scopeMetrics":[{"metrics":{}}]}]}', 'application/json'],
      ['asInt a fraction', point({ asInt: '1.5' }), 'application/json'],
      ['string temporality', JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ sum: { aggregationTemporality: 'DELTA' } }] }] }] }), 'application/json'],
      ['bucket counts not integers', point({ bucketCounts: [0.5] }, 'histogram'), 'application/json'],
      ['quantiles not a list', point({ quantileValues: 'p50' }, 'summary'), 'application/json'],
      ['exemplar span id not hex', point({ exemplars: [{ spanId: 'zz' }] }), 'application/json'],
      ['protobuf garbage', new Uint8Array([0xff]), 'application/x-protobuf'],
      ['text/plain', point({}), 'text/plain'],
    ]],
  ];
  for (const [signal, list] of signals) {
    for (const [name, body, type] of list) cases.push({ name: `${signal}: ${name}`, method: 'POST', url: `C/v1/${signal}`, body, headers: { 'content-type': type } });
  }
  return cases;
}

function reportingCases(): Hostile[] {
  const cases: Hostile[] = [];
  const routes: [string, string[]][] = [
    ['/v1/reports/usage', ['group_by', 'order', 'limit', 'from', 'to', 'format', 'tz']],
    ['/v1/reports/timeseries', ['interval', 'group_by', 'from', 'to', 'tz', 'limit']],
    ['/v1/events', ['from', 'to', 'limit', 'cursor']],
    ['/api/usage', ['group_by', 'from_date', 'to_date']],
    ['/v1/stats/current-month', ['tz']],
  ];
  for (const [path, params] of routes) {
    for (const param of params) {
      for (const injection of INJECTIONS.slice(0, 3)) {
        cases.push({ name: `${path} ${param}=${injection}`, method: 'GET', url: `R${path}?${param}=${encodeURIComponent(injection)}` });
      }
    }
    cases.push({ name: `${path} unknown operator parameter`, method: 'GET', url: `R${path}?model[$ne]=x` });
    cases.push({ name: `${path} prototype parameter`, method: 'GET', url: `R${path}?__proto__=x` });
  }
  cases.push(
    { name: 'limit out of range', method: 'GET', url: 'R/v1/reports/usage?limit=-1' },
    { name: 'limit huge', method: 'GET', url: 'R/v1/reports/usage?limit=1e12' },
    { name: 'from after to', method: 'GET', url: 'R/v1/reports/usage?from=2026-12-01&to=2026-11-01' },
    { name: 'impossible date', method: 'GET', url: 'R/v1/reports/usage?from=2026-02-30' },
    { name: 'unknown zone', method: 'GET', url: 'R/v1/reports/timeseries?tz=Mars/Olympus_Mons' },
    { name: 'unknown interval', method: 'GET', url: 'R/v1/reports/timeseries?interval=minute' },
    { name: 'group_by given twice', method: 'GET', url: 'R/v1/reports/usage?group_by=model&group_by=agent&limit=1&limit=2' },
  );
  for (const path of ['/grafana/query', '/grafana/metrics', '/grafana/variable', '/grafana/tag-values', '/grafana/metric-payload-options']) {
    cases.push({ name: `${path} truncated JSON`, method: 'POST', url: `R${path}`, body: '{"targets": [' });
    cases.push({ name: `${path} deeply nested`, method: 'POST', url: `R${path}`, body: '['.repeat(100_000) });
  }
  cases.push(
    { name: 'grafana query bad range', method: 'POST', url: 'R/grafana/query', body: JSON.stringify({ range: { from: 'now-6h', to: 'now' }, targets: [] }) },
    { name: 'grafana query targets not a list', method: 'POST', url: 'R/grafana/query', body: JSON.stringify({ targets: 'cost' }) },
    { name: 'grafana query injected metric', method: 'POST', url: 'R/grafana/query', body: JSON.stringify({ targets: [{ refId: 'A', target: INJECTIONS[0], payload: {} }] }) },
    { name: 'grafana query injected group_by', method: 'POST', url: 'R/grafana/query', body: JSON.stringify({ targets: [{ refId: 'A', target: 'cost_usd', payload: { group_by: INJECTIONS[1] } }] }) },
    { name: 'grafana tag-values injected key', method: 'POST', url: 'R/grafana/tag-values', body: JSON.stringify({ key: INJECTIONS[0] }) },
    { name: 'grafana ad hoc filter injected key', method: 'POST', url: 'R/grafana/query', body: JSON.stringify({ targets: [{ refId: 'A', target: 'cost_usd' }], filters: [{ key: INJECTIONS[0], operator: '=', value: 'x' }] }) },
  );
  return cases;
}

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
  await svc.ingest('/v1/usage', { events: [{ id: 'legit', agent_id: 'a', model: 'gpt-4o', input_tokens: 5 }] });
});
afterAll(() => svc.close());

const send = (c: Hostile) =>
  fetch((c.url.startsWith('C') ? svc.collectorUrl : svc.reportingUrl) + c.url.slice(1), {
    method: c.method,
    headers: { ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}), ...c.headers },
    body: c.body,
  });

describe('hostile input', () => {
  it('answers every malformed or hostile request with a 4xx and a message, stores nothing from them and stays up', async () => {
    const cases = [...collectorCases(), ...reportingCases()];
    expect(cases.length).toBeGreaterThanOrEqual(100);
    const wrong: string[] = [];
    for (const c of cases) {
      const res = await send(c);
      const text = await res.text();
      let message: unknown;
      try {
        const parsed = JSON.parse(text);
        message = parsed.error?.message ?? parsed.message; // OTLP errors are a google.rpc.Status
      } catch {
        message = res.headers.get('content-type') === 'application/x-protobuf' && text.length > 0 ? 'protobuf Status' : undefined;
      }
      if (res.status < 400 || res.status >= 500 || typeof message !== 'string' || message === '') wrong.push(`${c.name}: ${res.status} ${text.slice(0, 200)}`);
    }
    expect(wrong).toEqual([]);
    expect((await fetch(`${svc.collectorUrl}/healthz`)).status).toBe(200);
    expect((await svc.report('/v1/reports/usage?from=2000-01-01&group_by=agent')).body).toMatchObject({ totals: { events: 1, input_tokens: 5 } });
  });

  it('binds injection strings used as filter values: they match nothing and change nothing', async () => {
    for (const injection of INJECTIONS) {
      for (const path of ['/v1/reports/usage?from=2000-01-01&model=', '/v1/events?agent=', '/api/usage?agent_id=']) {
        const res = await svc.report(path + encodeURIComponent(injection));
        expect(res.status, `${path}${injection}`).toBe(200);
      }
    }
    expect((await svc.report('/v1/reports/usage?from=2000-01-01')).body.totals.events).toBe(1);
  });
});
