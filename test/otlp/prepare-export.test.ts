import { describe, expect, it } from 'vitest';
import type { IngestDeps } from '../../collector/app.js';
import { countLimits } from '../../collector/decode-limits.js';
import { MAX_OTLP_STRING_BYTES, TOO_LONG } from '../../collector/otlp/long-strings.js';
import { prepareExport } from '../../collector/otlp/receive.js';
import { OPEN_ACCESS } from '../../src/auth/keys.js';
import { ApiError } from '../../src/http/errors.js';
import { createPricer, loadPriceTable } from '../../src/pricing/index.js';
import { encodeProtobuf, otlpLogsRequest } from '../support/otlp.js';

/**
 * Each usage event of an export is validated, scoped, normalised and priced as soon as it is
 * mapped (receive.ts): the outcome must be what the whole list gave, with rejections among valid
 * records, a key scoped to projects, and more events than a request may carry.
 */

const limits = { maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 8 };
const deps = { counts: countLimits(limits), limits, pricer: createPricer(loadPriceTable({})), writer: {} } as unknown as IngestDeps;
const codex = { resource: { 'service.name': 'codex_exec' }, scope: { name: 'codex_otel.log_only' } };
const call = (input: string, project?: string) => ({
  attributes: {
    'event.name': 'codex.sse_event', 'event.kind': 'response.completed', 'model': 'gpt-5.1-codex',
    'input_token_count': input, 'output_token_count': '3', ...(project && { 'tokentally.project': project }),
  },
});

describe('prepareExport, an event at a time', () => {
  const request = otlpLogsRequest([
    call('10'), call('-1'), call('20', 'b'), call('x'), call('30', 'a'), call('-2'), call('-3'), call('-4'),
  ], codex);

  for (const encoding of ['json', 'protobuf'] as const) {
    const body = encoding === 'json' ? Buffer.from(JSON.stringify(request)) : Buffer.from(encodeProtobuf('logs', request));

    it(`keeps the valid records and names the first five rejections in order (${encoding}, key scoped to project a)`, async () => {
      const batch = await prepareExport('logs', body, encoding, { role: 'ingest', projects: ['a'] }, deps);
      expect(batch.records.map((r) => [r.input_tokens, r.project, r.cost_source])).toEqual([[10, 'a', 'computed'], [30, 'a', 'computed']]);
      expect(batch.rejected).toBe(6);
      expect(batch.errors.map((e) => [e.index, e.path])).toEqual([[1, '[1].input_tokens'], [2, '[2].project'], [3, '[3].input_tokens'], [5, '[5].input_tokens'], [6, '[6].input_tokens'], [7, '[7].input_tokens']]);
      const lines = batch.rejection!.errorMessage.split('; ');
      expect(lines[0]).toBe('6 log record(s) with invalid GenAI usage were not stored: log record codex.sse_event (resourceLogs[0].scopeLogs[0].logRecords[1]) input_token_count: must not be negative');
      expect(lines.slice(1, 5).map((l) => l.replace(/ \(resourceLogs.*logRecords(\[\d\])\)/, '$1'))).toEqual([
        'log record codex.sse_event[2] tokentally.project: this key may not write to project "b"',
        expect.stringMatching(/^log record codex\.sse_event\[3\] input_token_count: /),
        'log record codex.sse_event[5] input_token_count: must not be negative',
        'log record codex.sse_event[6] input_token_count: must not be negative',
      ]);
      expect(lines[5]).toBe('and 1 more');
    });

    it(`keeps each event once when a string too long to read comes after them (${encoding})`, async () => {
      // The one-pass read of protobuf has handed on the first records' events when it meets the
      // long string; the two-pass read that follows must start the request's events afresh.
      const long = { attributes: { ...call('40').attributes, 'session.id': 'x'.repeat(MAX_OTLP_STRING_BYTES + 1) } };
      const withLong = otlpLogsRequest([call('10'), call('-1'), call('20'), long], codex);
      const longBody = encoding === 'json' ? Buffer.from(JSON.stringify(withLong)) : Buffer.from(encodeProtobuf('logs', withLong));
      const batch = await prepareExport('logs', longBody, encoding, OPEN_ACCESS, deps);
      expect(batch.records.map((r) => r.input_tokens)).toEqual([10, 20]);
      expect(batch.errors.map((e) => [e.index, e.path, e.message])).toEqual([
        [1, '[1].input_tokens', expect.any(String)], [3, '[3].resourceLogs[0].scopeLogs[0].logRecords[3].attributes[5].value.stringValue', TOO_LONG],
      ]);
    });

    it(`counts every event of a request over the limit in its 413 (${encoding})`, async () => {
      const over = otlpLogsRequest([...Array(11)].map((_, i) => call(String(i + 1))), codex);
      const overBody = encoding === 'json' ? Buffer.from(JSON.stringify(over)) : Buffer.from(encodeProtobuf('logs', over));
      const error = await prepareExport('logs', overBody, encoding, OPEN_ACCESS, deps).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).message).toBe('11 log record(s) with usage exceed the limit of 8 per request (MAX_EVENTS_PER_REQUEST)');
    });
  }
});
