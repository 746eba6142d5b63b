import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageRecord } from '../support/records.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

const sha = (key: string) => createHash('sha256').update(key).digest('hex');
const KEYS = { atlas: 'ingest-atlas-key', borealis: 'ingest-borealis-key', read: 'read-all-key' };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const event = (id: string, input_tokens: number, project?: string) => ({
  id, agent_id: 'a', model: 'm', input_tokens, timestamp: Date.UTC(2026, 10, 3, 12), ...(project ? { project } : {}),
});

describe.each(BACKENDS)('on %s, an id is unique within its project', (backend) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({
      backend,
      env: { API_KEYS: `ingest@atlas:${sha(KEYS.atlas)},ingest@borealis:${sha(KEYS.borealis)},read:${sha(KEYS.read)}` },
    });
  });
  afterAll(() => svc.close());

  const totalsByProject = async () => {
    const res = await fetch(`${svc.reportingUrl}/v1/reports/usage?from=2026-11-01&to=2026-12-01&group_by=project`, { headers: bearer(KEYS.read) });
    const body = await res.json();
    return Object.fromEntries(body.groups.map((g: any) => [g.key.project, { events: g.events, input_tokens: g.input_tokens }]));
  };

  it('the same id from two projects is two events; each project counts only its own repeats', async () => {
    // Project A's key stores ids that project B's producer sends later: B's events are new, not duplicates.
    const a = await svc.ingest('/v1/usage', { events: [event('shared-1', 1), event('shared-2', 2)] }, bearer(KEYS.atlas));
    expect(await a.json()).toMatchObject({ accepted: 2, duplicates: 0 });
    const b = await svc.ingest('/v1/usage', { events: [event('shared-1', 10), event('shared-2', 20), event('only-b', 30)] }, bearer(KEYS.borealis));
    expect(await b.json()).toMatchObject({ accepted: 3, duplicates: 0 });

    // A retry from B is a duplicate of B's events, and tells B nothing about A's ids.
    const retry = await svc.ingest('/v1/usage', { events: [event('shared-1', 10), event('only-b', 30)] }, bearer(KEYS.borealis));
    expect(await retry.json()).toMatchObject({ accepted: 0, duplicates: 2 });
    const probe = await svc.ingest('/v1/usage', { events: [event('only-b', 99)] }, bearer(KEYS.atlas));
    expect(await probe.json()).toMatchObject({ accepted: 1, duplicates: 0 });

    expect(await totalsByProject()).toEqual({ atlas: { events: 3, input_tokens: 102 }, borealis: { events: 3, input_tokens: 60 } });
    expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('in one batch, the first of a project and id is stored and a repeat in the same project is a duplicate', async () => {
    const records = [
      usageRecord('batch-1', { project: 'cygnus', input_tokens: 1 }),
      usageRecord('batch-1', { project: 'dorado', input_tokens: 2 }),
      usageRecord('batch-1', { project: 'cygnus', input_tokens: 4 }),
      usageRecord('batch-2', { project: 'dorado', input_tokens: 8 }),
      usageRecord('batch-1', { project: 'dorado', input_tokens: 16 }),
    ];
    expect(await svc.store.insertBatch(records)).toEqual([true, true, false, true, false]);
    expect(await svc.store.insertBatch(records.slice(0, 2))).toEqual([false, false]);
    const { groups } = await svc.store.aggregate({
      source: 'raw', groupBy: ['project'], filters: { project: ['cygnus', 'dorado'] }, from: 0, to: Date.UTC(2100, 0), order: null, limit: null,
    });
    expect(groups.map((g) => [g.key.project, g.metrics.events, g.metrics.input_tokens])).toEqual([['cygnus', 1, 1], ['dorado', 2, 10]]);
    expect(await svc.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });
});
