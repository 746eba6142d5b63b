import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunked, startTestService, type TestService } from '../support/service.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { MAX_BODY_BYTES: '20000', MAX_DECODED_BODY_BYTES: '100000', MAX_EVENTS_PER_REQUEST: '50' } });
});
afterAll(() => svc.close());

const valid = { agent_id: 'a', model: 'm', input_tokens: 10, output_tokens: 5 };

async function expectError(res: Response, status: number, message: RegExp) {
  expect(res.status).toBe(status);
  const body = await res.json();
  expect(body.error.message).toMatch(message);
}

describe('bad input to POST /v1/usage is refused with a 4xx naming the field', () => {
  it.each([
    ['malformed JSON', '{"events": [', /not valid JSON/],
    ['a body that is not an object', '[1,2]', /expected \{"events"/],
    ['events that are not an array', '{"events": {}}', /^events: /],
    ['an empty batch', '{"events": []}', /events: must contain at least one event/],
    ['an unknown top-level field', '{"events": [], "extra": 1}', /extra/],
  ])('%s → 400', async (_name, body, message) => {
    await expectError(await svc.ingest('/v1/usage', body), 400, message);
  });

  it.each([
    ['negative tokens', { input_tokens: -1 }, 'events[0].input_tokens', /negative/],
    ['fractional tokens', { output_tokens: 2.5 }, 'events[0].output_tokens', /whole number/],
    ['tokens as a string', { input_tokens: '10' }, 'events[0].input_tokens', /number/],
    ['tokens beyond the per-event cap', { input_tokens: 1_000_000_001 }, 'events[0].input_tokens', /at most 1,000,000,000/],
    ['a missing model', { model: undefined }, 'events[0].model', /./],
    ['an empty agent', { agent_id: '' }, 'events[0].agent_id', /empty/],
    ['a misspelt field', { inputtokens: 3 }, 'events[0]', /unknown field\(s\): inputtokens/],
    ['a bad timestamp', { timestamp: 'yesterday' }, 'events[0].timestamp', /RFC 3339/],
    ['a timestamp with no zone', { timestamp: '2026-11-03T10:00:00' }, 'events[0].timestamp', /RFC 3339/],
    ['a bad status', { status: 'maybe' }, 'events[0].status', /./],
    ['a negative cost', { cost_usd: -0.1 }, 'events[0].cost_usd', /negative/],
    ['cache beyond input', { cache_read_tokens: 11 }, 'events[0].cache_read_tokens', /exceed input_tokens/],
    ['reasoning beyond output', { reasoning_tokens: 6 }, 'events[0].reasoning_tokens', /exceed output_tokens/],
    ['a nested attribute', { attributes: { a: { b: 1 } } }, 'events[0].attributes.a', /string/],
  ])('%s → 400 with the path', async (_name, over, path, message) => {
    const res = await svc.ingest('/v1/usage', { events: [{ ...valid, ...over }] });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toMatchObject({ accepted: 0, rejected: 1 });
    expect(body.errors[0].path).toBe(path);
    expect(body.errors[0].message).toMatch(message);
  });

  it('refuses an unsupported Content-Type with 415', async () => {
    await expectError(await svc.ingest('/v1/usage', JSON.stringify({ events: [valid] }), { 'content-type': 'text/plain' }), 415, /text\/plain/);
  });

  it('refuses an unsupported Content-Encoding with 415', async () => {
    await expectError(await svc.ingest('/v1/usage', JSON.stringify({ events: [valid] }), { 'content-encoding': 'br' }), 415, /br/);
  });

  it('refuses a body that says gzip but is not', async () => {
    await expectError(await svc.ingest('/v1/usage', 'plain', { 'content-encoding': 'gzip' }), 400, /gzip/);
  });

  it('refuses a body over MAX_BODY_BYTES with 413', async () => {
    await expectError(await svc.ingest('/v1/usage', JSON.stringify({ events: [{ ...valid, agent_id: 'x'.repeat(30000) }] })), 413, /MAX_BODY_BYTES/);
  });

  it('refuses a chunked body (no Content-Length) once it streams past MAX_BODY_BYTES: 413', async () => {
    await expectError(await svc.ingest('/v1/usage', chunked(JSON.stringify({ events: [{ ...valid, agent_id: 'x'.repeat(30000) }] }))), 413, /MAX_BODY_BYTES/);
  });

  it('stops a gzip bomb while inflating: 413', async () => {
    const bomb = gzipSync(Buffer.alloc(10_000_000, 32));
    expect(bomb.length).toBeLessThan(20000);
    await expectError(await svc.ingest('/v1/usage', bomb, { 'content-encoding': 'gzip' }), 413, /MAX_DECODED_BODY_BYTES/);
  });

  it('refuses more events than MAX_EVENTS_PER_REQUEST with 413', async () => {
    await expectError(await svc.ingest('/v1/usage', { events: Array.from({ length: 51 }, () => valid) }), 413, /MAX_EVENTS_PER_REQUEST/);
  });

  it('stored nothing from any of the above', async () => {
    const { body } = await svc.report('/v1/events');
    expect(body.events).toEqual([]);
  });
});
