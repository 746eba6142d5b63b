import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';

/**
 * Batches of more than 200 events go to the insert thread in parts as they are checked
 * (BatchWriter.submitInParts): the answers, and what is stored, are those of a batch handed over whole.
 */
let svc: TestService;
beforeEach(async () => {
  svc = await startTestService();
});
afterEach(() => svc.close());

const event = (id: string, over: Record<string, unknown> = {}) => ({
  id, agent_id: 'planner', model: 'gpt-4o', timestamp: '2026-11-03T10:00:00Z', input_tokens: 10, output_tokens: 2, ...over,
});

/** The collector's count of input tokens committed (`tokentally_tokens_total`), all projects and models. */
async function inputCounted(): Promise<number> {
  const text = await (await fetch(`${svc.collectorUrl}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith('tokentally_tokens_total{') && line.includes('type="input"'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

async function totals(): Promise<{ events: number; input_tokens: number }> {
  return (await svc.report<{ totals: { events: number; input_tokens: number } }>('/v1/reports/usage?from=2026-11-01&to=2026-12-01')).body.totals;
}

describe('POST /v1/usage in parts', () => {
  it('answers and stores a 1,000-event batch with rejected events and repeats across its parts as a whole one', async () => {
    await svc.ingest('/v1/usage', { events: [event('stored')] });
    const countedBefore = await inputCounted();
    const events: Record<string, unknown>[] = Array.from({ length: 1_000 }, (_, i) => event(`e${i}`, { input_tokens: i }));
    // Rejected at either side of a part's edge and last; repeats of an earlier part's, of their own part's, of a stored id.
    for (const i of [199, 200, 999]) events[i] = event(`bad${i}`, { output_tokens: -1 });
    events[201] = event('e5');
    events[450] = event('e420');
    events[600] = event('stored');
    const res = await svc.ingest('/v1/usage', { events });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      accepted: 994, duplicates: 3, rejected: 3,
      errors: [199, 200, 999].map((index) => ({ index, path: `events[${index}].output_tokens`, message: expect.stringMatching(/negative/) })),
    });
    const skipped = new Set([199, 200, 999, 201, 450, 600]);
    const input = Array.from({ length: 1_000 }, (_, i) => (skipped.has(i) ? 0 : i)).reduce((a, b) => a + b, 0);
    expect(await totals()).toMatchObject({ events: 995, input_tokens: input + 10 });
    // The spend counters count each part's new records once.
    expect(await inputCounted() - countedBefore).toBe(input);
    expect(await svc.store.verify()).toMatchObject({ ok: true });
  });

  it('stores nothing of a batch whose later event is not JSON after its first parts went in, and takes the next batch', async () => {
    const events = Array.from({ length: 800 }, (_, i) => JSON.stringify(event(`x${i}`)));
    // Past the scan, which leaves numbers to JSON.parse: only parsing event 700 finds it.
    events[700] = events[700]!.replace('"input_tokens":10', '"input_tokens":1x0');
    const res = await svc.ingest('/v1/usage', `{"events":[${events.join(',')}]}`);
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/events\[700\]/);
    expect(await totals()).toMatchObject({ events: 0 });
    const next = await svc.ingest('/v1/usage', { events: Array.from({ length: 300 }, (_, i) => event(`x${i}`)) });
    expect(await next.json()).toMatchObject({ accepted: 300 });
  });

  it('refuses a batch of more than a part with no valid event, storing nothing, and takes the next batch', async () => {
    const res = await svc.ingest('/v1/usage', { events: Array.from({ length: 500 }, (_, i) => event(`n${i}`, { model: '' })) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ accepted: 0, rejected: 500, error: { code: 'no_valid_events' } });
    const next = await svc.ingest('/v1/usage', { events: Array.from({ length: 300 }, (_, i) => event(`n${i}`)) });
    expect(await next.json()).toMatchObject({ accepted: 300 });
    expect(await totals()).toMatchObject({ events: 300 });
  });
});
