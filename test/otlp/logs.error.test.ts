import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpTypes } from '../../collector/otlp/decode.js';
import { encodeProtobuf, otlpLogsRequest } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';

/** The google.rpc.Status of an error answer, decoded from the encoding the request used. */
async function statusOf(res: Response): Promise<{ code: number; message: string }> {
  if ((res.headers.get('content-type') ?? '').startsWith('application/x-protobuf')) {
    return otlpTypes.status.toObject(otlpTypes.status.decode(new Uint8Array(await res.arrayBuffer()))) as { code: number; message: string };
  }
  return res.json();
}

const claude = { resource: { 'service.name': 'claude-code' } };
const call = { body: 'claude_code.api_request', attributes: { 'event.name': 'api_request', request_id: 'req_1', model: 'claude-haiku-4-5', input_tokens: 10, output_tokens: 5 } };
const logs = (patch: Record<string, unknown>) => {
  const request = otlpLogsRequest([call], claude);
  Object.assign(request.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!, patch);
  return JSON.stringify(request);
};
const sum = (point: Record<string, unknown>, sumPatch: Record<string, unknown> = {}) =>
  JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', sum: { aggregationTemporality: 1, dataPoints: [{ asInt: '1', ...point }], ...sumPatch } }] }] }] });
const proto = { 'content-type': 'application/x-protobuf' };

describe('bad requests to POST /v1/logs and /v1/metrics get a google.rpc.Status naming the field', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ env: { MAX_RECORDS_PER_REQUEST: '3' } });
  });
  afterAll(() => svc.close());

  const records = (n: number, key = 'logRecords') => `{"resourceLogs":[{"scopeLogs":[{"${key}":[${Array(n).fill('{}').join(',')}]}]}]}`;

  it.each<[string, string, string | Uint8Array, Record<string, string>, number, RegExp]>([
    ['a trace id that is not hex', '/v1/logs', logs({ traceId: 'zz' }), {}, 400, /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.traceId: must be hex/],
    ['a span id of the wrong length', '/v1/logs', logs({ spanId: 'abcd' }), {}, 400, /logRecords\[0\]\.spanId: must be 8 bytes/],
    ['a time that is a fraction', '/v1/logs', logs({ timeUnixNano: 1.5 }), {}, 400, /logRecords\[0\]\.timeUnixNano: /],
    ['a string severity', '/v1/logs', logs({ severityNumber: 'INFO' }), {}, 400, /logRecords\[0\]\.severityNumber: /],
    ['attributes that are not a list', '/v1/logs', logs({ attributes: { model: 'm' } }), {}, 400, /logRecords\[0\]\.attributes: /],
    ['a body kvlist that is not a list', '/v1/logs', logs({ body: { kvlistValue: { values: 'x' } } }), {}, 400, /logRecords\[0\]\.body\.kvlistValue\.values: /],
    ['more log records than MAX_RECORDS_PER_REQUEST', '/v1/logs', records(4), {}, 413, /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[3\]: more than 3 log records in one request \(MAX_RECORDS_PER_REQUEST\)/],
    ['…spelt log_records', '/v1/logs', records(4, 'log_records'), {}, 413, /more than 3 log records/],
    ['…in protobuf', '/v1/logs', encodeProtobuf('logs', otlpLogsRequest([call, call, call, call], claude)), proto, 413, /logRecords\[3\]: more than 3 log records .*MAX_RECORDS_PER_REQUEST/],
    ['bytes that are not protobuf', '/v1/logs', new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), proto, 400, /not a protobuf ExportLogsServiceRequest/],
    ['an unknown Content-Type', '/v1/logs', '{}', { 'content-type': 'text/plain' }, 415, /text\/plain/],
    ['an unknown Content-Encoding', '/v1/logs', '{}', { 'content-encoding': 'br' }, 415, /br/],
    ['an integer point that is a fraction', '/v1/metrics', sum({ asInt: '1.5' }), {}, 400, /^resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.sum\.dataPoints\[0\]\.asInt: /],
    ['a string temporality', '/v1/metrics', sum({}, { aggregationTemporality: 'DELTA' }), {}, 400, /metrics\[0\]\.sum\.aggregationTemporality: /],
    ['bucket counts that are not integers', '/v1/metrics', sum({}).replace('"sum":', '"histogram":').replace('"asInt":"1"', '"bucketCounts":["x"]'), {}, 400, /histogram\.dataPoints\[0\]\.bucketCounts\[0\]: /],
    ['more data points than MAX_RECORDS_PER_REQUEST', '/v1/metrics', sum({}).replace(/\[\{"asInt":"1"\}\]/, '[{},{},{},{}]'), {}, 413, /sum\.dataPoints\[3\]: more than 3 data points in one request/],
    ['bytes that are not protobuf', '/v1/metrics', new Uint8Array([0xff]), proto, 400, /not a protobuf ExportMetricsServiceRequest/],
    ['an unknown Content-Type', '/v1/metrics', '{}', { 'content-type': 'application/grpc' }, 415, /application\/grpc/],
  ])('%s (%s) → %i', async (_name, path, body, headers, status, message) => {
    const res = await svc.ingest(path, body, headers);
    expect(res.status).toBe(status);
    expect(await statusOf(res)).toMatchObject({ message: expect.stringMatching(message) });
  });

  it('counts packed metric buckets as values, before anything is decoded', async () => {
    const points = { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'h', histogram: { dataPoints: [{ bucketCounts: Array(2_000_000).fill('1') }] } }] }] }] };
    const res = await svc.ingest('/v1/metrics', gzipSync(encodeProtobuf('metrics', points)), { ...proto, 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(await statusOf(res)).toMatchObject({ message: expect.stringMatching(/bucketCounts: more than 1000000 values in one request \(MAX_VALUES_PER_REQUEST\)/) });
  });

  it('stored nothing from any of the above', async () => {
    expect((await svc.report('/v1/events')).body.events).toEqual([]);
  });
});

describe('POST /v1/logs and /v1/metrics with API keys on', () => {
  const sha = (key: string) => createHash('sha256').update(key).digest('hex');
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ env: { API_KEYS: [`ingest@atlas:${sha('atlas-key')}`, `read:${sha('read-key')}`].join(',') } });
  });
  afterAll(() => svc.close());

  it.each(['/v1/logs', '/v1/metrics'])('%s refuses a missing key with 401 and a wrong role with 403, as google.rpc.Status', async (path) => {
    const missing = await svc.ingest(path, new Uint8Array(0), proto);
    expect(missing.status).toBe(401);
    expect(await statusOf(missing)).toMatchObject({ code: 16, message: expect.stringMatching(/API key is required/) });
    const wrongRole = await svc.ingest(path, '{}', { 'x-api-key': 'read-key' });
    expect(wrongRole.status).toBe(403);
    expect(await statusOf(wrongRole)).toMatchObject({ code: 7, message: expect.stringMatching(/needs ingest/) });
  });

  it('a project-scoped key stamps its project on log records and rejects one naming another', async () => {
    const other = { ...call, attributes: { ...call.attributes, request_id: 'req_2', 'tokentally.project': 'borealis' } };
    const res = await svc.ingest('/v1/logs', otlpLogsRequest([call, other], claude), { 'x-api-key': 'atlas-key' });
    expect(await res.json()).toEqual({
      partialSuccess: { rejectedLogRecords: '1', errorMessage: expect.stringMatching(/logRecords\[1\]\) tokentally.project: this key may not write to project "borealis"/) },
    });
    const events = await fetch(`${svc.reportingUrl}/v1/events`, { headers: { 'x-api-key': 'read-key' } });
    expect((await events.json()).events).toEqual([expect.objectContaining({ id: 'claude-code:req_1', project: 'atlas' })]);
  });
});
