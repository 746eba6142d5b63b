import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chunked, startTestService, type TestService } from '../support/service.js';

let svc: TestService;
beforeEach(async () => {
  svc = await startTestService();
});
afterEach(() => svc.close());

const event = (over: Record<string, unknown> = {}) => ({
  agent_id: 'planner', model: 'gpt-4o', timestamp: '2026-11-03T10:00:00Z', input_tokens: 1000, output_tokens: 200, ...over,
});

describe('POST /v1/usage', () => {
  it('stores a batch and the report shows it exactly', async () => {
    const res = await svc.ingest('/v1/usage', {
      events: [event({ id: 'a', cost_usd: 0.01 }), event({ id: 'b', model: 'claude-sonnet-4-5', cache_read_tokens: 400, reasoning_tokens: 50, cost_usd: 0.02 })],
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 2, duplicates: 0, rejected: 0, errors: [] });
    const { body } = await svc.report('/v1/reports/usage?from=2026-11-01&to=2026-12-01&group_by=model&order=cost_usd');
    expect(body.source).toBe('rollup');
    expect(body.totals).toMatchObject({ events: 2, input_tokens: 2000, output_tokens: 400, cache_read_tokens: 400, reasoning_tokens: 50, total_tokens: 2400, cost_usd: 0.03 });
    expect(body.groups.map((g: any) => [g.key.model, g.events, g.cost_usd])).toEqual([['claude-sonnet-4-5', 1, 0.02], ['gpt-4o', 1, 0.01]]);
  });

  it('accepts a chunked batch (no Content-Length)', async () => {
    const res = await svc.ingest('/v1/usage', chunked(JSON.stringify({ events: [event({ id: 'c' })] })));
    expect(await res.json()).toMatchObject({ accepted: 1 });
  });

  it('accepts a gzip-compressed batch', async () => {
    const res = await svc.ingest('/v1/usage', gzipSync(JSON.stringify({ events: [event({ id: 'z' })] })), { 'content-encoding': 'gzip' });
    expect(await res.json()).toMatchObject({ accepted: 1 });
  });

  it('stores the valid events of a batch and reports each rejected one with its index and path', async () => {
    const res = await svc.ingest('/v1/usage', {
      events: [event({ id: 'ok1' }), event({ id: 'bad', input_tokens: 1.5 }), { model: 'x' }, event({ id: 'ok2' })],
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 2 });
    expect(body.errors).toEqual([
      { index: 1, path: 'events[1].input_tokens', message: 'must be a whole number' },
      { index: 2, path: 'events[2].agent_id', message: expect.any(String) },
    ]);
    const { body: page } = await svc.report('/v1/events');
    expect(page.events.map((e: any) => e.id).sort()).toEqual(['ok1', 'ok2']);
  });

  it('counts an id already stored as a duplicate and changes nothing', async () => {
    await svc.ingest('/v1/usage', { events: [event({ id: 'same' })] });
    const again = await svc.ingest('/v1/usage', { events: [event({ id: 'same', input_tokens: 9999 }), event({ id: 'same' })] });
    expect(await again.json()).toMatchObject({ accepted: 0, duplicates: 2 });
    const { body } = await svc.report('/v1/reports/usage?from=2026-11-01&to=2026-12-01');
    expect(body.totals).toMatchObject({ events: 1, input_tokens: 1000 });
    expect(await svc.store.verify()).toMatchObject({ ok: true });
  });

  it('defaults the project, the time and the id', async () => {
    const before = Date.now();
    await svc.ingest('/v1/usage', { events: [{ agent_id: 'a', model: 'm', input_tokens: 1 }] });
    const { body } = await svc.report('/v1/events');
    const [e] = body.events;
    expect(e.project).toBe('default');
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(e.timestamp)).toBeGreaterThanOrEqual(before - 1);
    expect(e).toMatchObject({ provider: null, task_label: null, status: 'ok', cost_source: 'unpriced', cost_usd: 0 });
  });

  it('stores timestamps as UTC whatever the offset, and epoch milliseconds', async () => {
    await svc.ingest('/v1/usage', {
      events: [event({ id: 'o', timestamp: '2026-11-03T01:30:00+05:00' }), event({ id: 'e', timestamp: Date.UTC(2026, 10, 4, 12) })],
    });
    const { body } = await svc.report('/v1/events');
    expect(Object.fromEntries(body.events.map((e: any) => [e.id, e.timestamp]))).toEqual({
      o: '2026-11-02T20:30:00Z', e: '2026-11-04T12:00:00Z',
    });
  });
});

describe('POST /api/usage (single event)', () => {
  it('answers 201 with the id once stored', async () => {
    const res = await svc.ingest('/api/usage', event({ id: 'seed-1', task_label: 'triage' }));
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ id: 'seed-1', duplicate: false });
    const { body } = await svc.report('/v1/events?task=triage');
    expect(body.events).toHaveLength(1);
  });

  it.each(['agent_id', 'model'])('answers 400 naming %s when it is missing', async (field) => {
    const body = event();
    delete (body as Record<string, unknown>)[field];
    const res = await svc.ingest('/api/usage', body);
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(new RegExp(`^${field}: `));
  });
});
