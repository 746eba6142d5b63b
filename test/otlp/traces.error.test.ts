import Database from 'better-sqlite3';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpTypes } from '../../collector/otlp/decode.js';
import { otlpRequest, toProtobuf } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';
import { metricValue, until } from '../support/wait.js';

const usage = { 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 };
const twoSpans = (prefix: string) =>
  otlpRequest([{ spanId: `${prefix}00000000000001`, attributes: usage }, { spanId: `${prefix}00000000000002`, attributes: usage }]);

/** The google.rpc.Status of an error answer, decoded from the encoding the request used. */
async function statusOf(res: Response): Promise<{ code: number; message: string }> {
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('application/x-protobuf')) {
    return otlpTypes.status.toObject(otlpTypes.status.decode(new Uint8Array(await res.arrayBuffer()))) as { code: number; message: string };
  }
  expect(type).toMatch(/^application\/json/);
  return res.json();
}

describe('bad requests to POST /v1/traces get a google.rpc.Status in the request\'s encoding', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: '20000', MAX_DECODED_BODY_BYTES: '100000' } });
  });
  afterAll(() => svc.close());

  const proto = { 'content-type': 'application/x-protobuf' };

  it.each<[string, string | Uint8Array, Record<string, string>, number, RegExp]>([
    ['malformed JSON', '{"resourceSpans": [', {}, 400, /not valid JSON/],
    ['a trace id that is not hex', JSON.stringify(otlpRequest([{ spanId: '00f067aa0ba902b7', traceId: 'z'.repeat(32) }])), {}, 400, /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId: must be hex/],
    ['a span id of the wrong length', JSON.stringify(otlpRequest([{ spanId: 'abcd' }])), {}, 400, /spanId: must be 8 bytes/],
    ['a string enum', JSON.stringify(otlpRequest([{ spanId: '00f067aa0ba902b7' }])).replace('"kind":3', '"kind":"SPAN_KIND_CLIENT"'), {}, 400, /kind: /],
    ['a time that is not an integer', JSON.stringify(otlpRequest([{ spanId: '00f067aa0ba902b7', end: 'soon' }])), {}, 400, /endTimeUnixNano: must be a decimal integer/],
    ['bytes that are not protobuf', new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), proto, 400, /not a protobuf ExportTraceServiceRequest/],
    ['a body that says gzip but is not', 'plain', { 'content-encoding': 'gzip' }, 400, /gzip/],
    ['an unknown Content-Type', '{}', { 'content-type': 'text/plain' }, 415, /text\/plain/],
    ['no Content-Type', '{}', { 'content-type': '' }, 415, /application\/x-protobuf/],
    ['a Content-Type named like an object property', '{}', { 'content-type': 'constructor' }, 415, /constructor/],
    ['an unknown Content-Encoding', '{}', { 'content-encoding': 'br' }, 415, /br/],
    ['a body over MAX_BODY_BYTES', JSON.stringify({ pad: 'x'.repeat(30000) }), {}, 413, /MAX_BODY_BYTES/],
    ['a gzip bomb', gzipSync(Buffer.alloc(10_000_000, 32)), { ...proto, 'content-encoding': 'gzip' }, 413, /MAX_DECODED_BODY_BYTES/],
  ])('%s → %i', async (_name, body, headers, status, message) => {
    const res = await svc.ingest('/v1/traces', body, headers);
    expect(res.status).toBe(status);
    expect(await statusOf(res)).toMatchObject({ message: expect.stringMatching(message) });
  });

  it('answers a protobuf request\'s error in protobuf', async () => {
    const res = await svc.ingest('/v1/traces', new Uint8Array([0xff]), proto);
    expect(res.headers.get('content-type')).toBe('application/x-protobuf');
    expect(await statusOf(res)).toMatchObject({ code: 3, message: expect.stringMatching(/protobuf/) });
  });

  it('stored nothing from any of the above', async () => {
    const { body } = await svc.report('/v1/events');
    expect(body.events).toEqual([]);
  });
});

describe('transient failures are 429 or 503 with a short Retry-After, never 500', () => {
  it('queue full → 429 and database busy → 503', async () => {
    const svc = await startTestService({ env: { QUEUE_MAX_EVENTS: '2', MAX_EVENTS_PER_REQUEST: '2', WRITE_RETRY_MS: '8000' } });
    // Another connection holds the write lock, so the first request's commit waits and finally fails
    // while the second finds the queue full.
    const lock = new Database(join(svc.dir, 'usage.db'));
    lock.prepare('BEGIN IMMEDIATE').run();
    try {
      const answers = await Promise.all([
        svc.ingest('/v1/traces', twoSpans('aa')),
        svc.ingest('/v1/traces', toProtobuf(twoSpans('bb')), { 'content-type': 'application/x-protobuf' }),
      ]);
      expect(answers.map((r) => r.status).sort()).toEqual([429, 503]);
      for (const res of answers) {
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(5);
        expect((await statusOf(res)).message).toMatch(res.status === 429 ? /queue is full/ : /database is unavailable/);
      }
    } finally {
      lock.prepare('ROLLBACK').run();
      lock.close();
      await svc.close();
    }
  }, 30_000);

  it('draining → 503', async () => {
    const svc = await startTestService();
    // The request is still arriving when the service starts to stop: it must be refused, not lost.
    const bytes = Buffer.from(JSON.stringify(twoSpans('cc')));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let part = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (part++ === 0) return controller.enqueue(bytes.subarray(0, 10));
        await gate;
        controller.enqueue(bytes.subarray(10));
        controller.close();
      },
    });
    const answer = fetch(`${svc.collectorUrl}/v1/traces`, { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/json' } } as RequestInit);
    // The request being read, and the one asking.
    await until(async () => ((await metricValue(svc.collectorUrl, 'tokentally_http_requests_in_flight{app="collector"}')) ?? 0) >= 2, 'the request to arrive');
    const stopping = svc.close();
    release();
    const res = await answer;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await statusOf(res)).message).toMatch(/shutting down/);
    await stopping;
  });
});
