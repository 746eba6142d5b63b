import { describe, expect, it } from 'vitest';
import { logRecordsToEvents, wireLogEventSteps } from '../../collector/otlp/log-records.js';
import { ExportLogsRequest } from '../../collector/otlp/logs-request.js';
import type { MappedEvent } from '../../collector/otlp/mapping.js';
import { runNow } from '../../collector/otlp/steps.js';
import { encodeProtobuf, otlpLogsRequest, type LogSpec } from '../support/otlp.js';

/**
 * The id of a log record without an id of its own (Codex's) is a hash of the record. A stored id
 * must never change between versions for the same record: an exporter's retry across an upgrade
 * would count the call twice. The ids below were made by the first version of the hash; every value
 * kind the hash tells apart is in them.
 */

const codex = { 'service.name': 'codex_exec', 'host.arch': 'amd64', 'tags': { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '2' }] } } };
const scope = { name: 'codex_otel.log_only', version: '0.171.0' };
const call = (attributes: LogSpec['attributes'], more: Partial<LogSpec> = {}): LogSpec => ({
  attributes: {
    'event.name': 'codex.sse_event', 'event.kind': 'response.completed', 'model': 'gpt-5.1-codex', 'conversation.id': 'conv-1',
    'input_token_count': 1200, 'output_token_count': 340, ...attributes,
  },
  ...more,
});

const RECORDS: [string, LogSpec, string][] = [
  ['plain', call({}), 'log:251072f87e2542acc2cc3d0d698f107df1c1603122c4a4306de55a563d8b6c96'],
  ['every scalar kind, keys out of order', call({ 'zeta': true, 'alpha': 1.5, 'big': '9007199254740993', 'nan': { doubleValue: 'NaN' }, 'int': { intValue: '-7' } }), 'log:138167ead1ab46a6d38061d4cecb4db35cae7c1b8e89bc2ee9472ae30f523fa0'],
  ['arrays, kvlists, bytes and an empty value', call({
    'list': { arrayValue: { values: [{ boolValue: false }, { kvlistValue: { values: [{ key: 'b', value: { stringValue: 'x' } }, { key: 'a', value: {} }] } }] } },
    'raw': { bytesValue: Buffer.from([0, 1, 254, 255]).toString('base64') },
    'empty': {},
  }), 'log:ec4ebb09872da366d5875da884aca048c4d92a7995d4b247b0c6c24f4ed693ce'],
  ['text needing escapes, non-ASCII keys', call({ 'quote"back\\slash': 'line\nbreak\ttab\u0001', 'clé': 'é😀' }), 'log:97d5f113b348ce98ede4fbe8fa408289c03a0c56e13b23ba00fec7cc916e6f9d'],
  ['a body, trace context and no time', call({}, { body: { kvlistValue: { values: [{ key: 'k', value: { doubleValue: 2 } }] } }, time: '0', observed: '1793700001623456789', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', eventName: 'codex.sse_event' }), 'log:b91a10558d94710c14fa9241af054255c75e368bc7cad10c7d81555db7c210cf'],
  ['a string body', call({}, { body: 'response.completed' }), 'log:ed9583669f36f7a6ff844b8fbf9811d40202663a8c5056d158c57a80a524872f'],
  // Last: OTLP/JSON only, as protobuf strings are UTF-8, which cannot hold it.
  ['a lone surrogate', call({ 'surrogate': '\ud800x' }), 'log:084f43aa39a8338865ca57f8a0655f5b2e1c8eee0842ecb21d9b0059025173d0'],
];

function ids(events: MappedEvent[]): unknown[] {
  return events.map((e) => e.input.id);
}

describe('the hash id of a log record', () => {
  const request = otlpLogsRequest(RECORDS.map(([, spec]) => spec), { resource: codex, scope });

  it('is what the first version made, for every kind of value', () => {
    const events = logRecordsToEvents(ExportLogsRequest.parse(request));
    expect(Object.fromEntries(RECORDS.map(([name], i) => [name, events[i]!.input.id]))).toEqual(Object.fromEntries(RECORDS.map(([name, , id]) => [name, id])));
  });

  it('is the same from OTLP/JSON and from protobuf', () => {
    const request = otlpLogsRequest(RECORDS.slice(0, -1).map(([, spec]) => spec), { resource: codex, scope });
    const fromWire: MappedEvent[] = [];
    runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', request)), (event) => fromWire.push(event)));
    expect(ids(fromWire)).toEqual(ids(logRecordsToEvents(ExportLogsRequest.parse(request))));
    expect(new Set(ids(fromWire)).size).toBe(RECORDS.length - 1);
  });
});
