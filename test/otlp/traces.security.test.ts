import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpTypes } from '../../collector/otlp/decode.js';
import { exporterFor, exportSpans, otlpRequest, recordSpans, toProtobuf } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';

const sha = (key: string) => createHash('sha256').update(key).digest('hex');
const KEYS = { ingest: 'ingest-key', atlas: 'ingest-atlas', read: 'read-key' };
const API_KEYS = [`ingest:${sha(KEYS.ingest)}`, `ingest@atlas:${sha(KEYS.atlas)}`, `read:${sha(KEYS.read)}`].join(',');

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { API_KEYS } });
});
afterAll(() => svc.close());

const usage = { 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10 };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function events() {
  const res = await fetch(`${svc.reportingUrl}/v1/events`, { headers: bearer(KEYS.read) });
  return (await res.json()).events as { id: string; project: string }[];
}

describe('POST /v1/traces with API keys on', () => {
  it('refuses a missing key with 401 and a wrong role with 403, as google.rpc.Status', async () => {
    const missing = await svc.ingest('/v1/traces', toProtobuf(otlpRequest([{ spanId: '00f067aa0ba902b7', attributes: usage }])), { 'content-type': 'application/x-protobuf' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/Bearer/);
    expect(otlpTypes.status.toObject(otlpTypes.status.decode(new Uint8Array(await missing.arrayBuffer())))).toMatchObject({ code: 16, message: expect.stringMatching(/API key is required/) });

    const wrongRole = await svc.ingest('/v1/traces', otlpRequest([]), bearer(KEYS.read));
    expect(wrongRole.status).toBe(403);
    expect(await wrongRole.json()).toMatchObject({ code: 7, message: expect.stringMatching(/needs ingest/) });
  });

  it('takes the key from the stock exporter\'s headers', async () => {
    const spans = recordSpans({ 'service.name': 'svc' }, (tracer) => {
      tracer.startSpan('chat', { attributes: { 'gen_ai.operation.name': 'chat', ...usage } }).end();
    });
    expect(await exportSpans(exporterFor(svc.collectorUrl, 'protobuf', { headers: bearer(KEYS.ingest) }), spans)).toMatchObject({ code: 0 });
    const id = spans[0]!.spanContext().traceId + spans[0]!.spanContext().spanId;
    expect(await events()).toContainEqual(expect.objectContaining({ id, project: 'default' }));
  });

  it('a project-scoped key stamps its project and rejects spans naming another', async () => {
    const res = await svc.ingest('/v1/traces', otlpRequest([
      { spanId: '0000000000000a01', attributes: usage },
      { spanId: '0000000000000a02', attributes: { ...usage, 'tokentally.project': 'borealis' } },
    ]), bearer(KEYS.atlas));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.partialSuccess).toMatchObject({ rejectedSpans: '1' });
    expect(body.partialSuccess.errorMessage).toMatch(/spans\[1\]\) tokentally.project: this key may not write to project "borealis"/);
    const stored = (await events()).filter((e) => e.id.endsWith('0000000000000a01') || e.id.endsWith('0000000000000a02'));
    expect(stored).toEqual([expect.objectContaining({ project: 'atlas' })]);
  });
});
