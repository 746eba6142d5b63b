import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleRequest, operations, type Document } from '../support/openapi.js';
import { startTestService, type TestService } from '../support/service.js';

const sha = (key: string) => createHash('sha256').update(key).digest('hex');
const KEYS = {
  admin: 'admin-key', ingestAll: 'ingest-key', ingestAtlas: 'ingest-atlas', readAll: 'read-key', readAtlas: 'read-atlas',
};
const API_KEYS = [
  `admin:${sha(KEYS.admin)}`, `ingest:${sha(KEYS.ingestAll)}`, `ingest@atlas:${sha(KEYS.ingestAtlas)}`,
  `read:${sha(KEYS.readAll)}`, `read@atlas+cygnus:${sha(KEYS.readAtlas)}`,
].join(',');

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { API_KEYS }, now: () => Date.UTC(2026, 10, 20) });
  const ok = await post('/v1/usage', KEYS.ingestAll, { events: ['atlas', 'borealis'].map((project, i) => ({ id: `s${i}`, project, agent_id: 'a', model: 'm', timestamp: '2026-11-10T00:00:00Z', input_tokens: 10 })) });
  expect(ok.status).toBe(200);
});
afterAll(() => svc.close());

function post(path: string, key: string | undefined, body: unknown, headers: Record<string, string> = {}) {
  return fetch(svc.collectorUrl + path, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
  });
}
function get(path: string, headers: Record<string, string> = {}) {
  return fetch(svc.reportingUrl + path, { headers });
}
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('API keys', () => {
  it.each([
    ['no key', {}],
    ['a wrong key', bearer('nope')],
    ['a malformed header', { authorization: 'Token abc' }],
  ])('%s → 401 with WWW-Authenticate', async (_name, headers) => {
    const res = await get('/v1/reports/usage', headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="tokentally"/);
    expect((await res.json()).error.message).toMatch(/API key/);
    expect((await post('/v1/usage', undefined, { events: [] })).status).toBe(401);
  });

  it('accepts the key as Bearer, as X-API-Key and as the Basic auth password (Grafana)', async () => {
    expect((await get('/v1/reports/usage', bearer(KEYS.readAll))).status).toBe(200);
    expect((await get('/v1/reports/usage', { 'x-api-key': KEYS.readAll })).status).toBe(200);
    const basic = `Basic ${Buffer.from(`grafana:${KEYS.readAll}`).toString('base64')}`;
    expect((await get('/grafana', { authorization: basic })).status).toBe(200);
  });

  it('enforces roles: a read key cannot ingest, an ingest key cannot read, admin can do both', async () => {
    expect((await post('/v1/usage', KEYS.readAll, { events: [{ agent_id: 'a', model: 'm' }] })).status).toBe(403);
    expect((await get('/v1/reports/usage', bearer(KEYS.ingestAll))).status).toBe(403);
    expect((await get('/v1/reports/usage', bearer(KEYS.admin))).status).toBe(200);
    expect((await post('/api/usage', KEYS.admin, { agent_id: 'a', model: 'm', project: 'admin-made' })).status).toBe(201);
  });

  it('leaves health, readiness and metrics open', async () => {
    for (const url of [svc.collectorUrl, svc.reportingUrl]) {
      for (const path of ['/healthz', '/readyz', '/metrics']) expect((await fetch(url + path)).status).toBe(200);
    }
  });
});

describe('project scope', () => {
  it('an ingest key scoped to a project stamps it where none is named and rejects other projects per event', async () => {
    const res = await post('/v1/usage', KEYS.ingestAtlas, { events: [{ id: 'p1', agent_id: 'a', model: 'm' }, { id: 'p2', project: 'borealis', agent_id: 'a', model: 'm' }, { id: 'p3', project: 'atlas', agent_id: 'a', model: 'm' }] });
    const body = await res.json();
    expect(body).toMatchObject({ accepted: 2, rejected: 1, errors: [{ index: 1, path: 'events[1].project', message: 'this key may not write to project "borealis"' }] });
    const events = await (await get('/v1/events', bearer(KEYS.admin))).json();
    expect(Object.fromEntries(events.events.map((e: any) => [e.id, e.project]))).toMatchObject({ p1: 'atlas', p3: 'atlas' });
    expect(events.events.map((e: any) => e.id)).not.toContain('p2');
    expect((await post('/api/usage', KEYS.ingestAtlas, { agent_id: 'a', model: 'm', project: 'borealis' })).status).toBe(403);
  });

  it('a read key sees only its projects in totals, groups, events, stats and Grafana', async () => {
    const h = bearer(KEYS.readAtlas);
    const report = await (await get('/v1/reports/usage?from=2026-11-01&to=2026-12-01&group_by=project', h)).json();
    expect(report.groups.map((g: any) => g.key.project)).toEqual(['atlas']);
    const events = await (await get('/v1/events', h)).json();
    expect(new Set(events.events.map((e: any) => e.project))).toEqual(new Set(['atlas']));
    const stats = await (await get('/v1/stats/current-month', h)).json();
    expect(stats.projects.map((p: any) => p.project)).toEqual(['atlas']);
    const tagValues = await (await fetch(`${svc.reportingUrl}/grafana/tag-values`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: '{"key":"project"}' })).json();
    expect(tagValues).toEqual([{ text: 'atlas' }]);
  });

  it('asking a read key for another project is 403 naming it', async () => {
    const res = await get('/v1/reports/usage?project=borealis', bearer(KEYS.readAtlas));
    expect(res.status).toBe(403);
    expect((await res.json()).error.message).toBe('project: this key may not read "borealis"');
    expect((await get('/v1/events?project=atlas,borealis', bearer(KEYS.readAtlas))).status).toBe(403);
  });
});

describe('the OpenAPI documents', () => {
  it('say which operations need a key: exactly those answer 401 without one', async () => {
    for (const base of [svc.collectorUrl, svc.reportingUrl]) {
      const res = await fetch(`${base}/openapi.json`);
      expect(res.status).toBe(200);
      for (const { path, method, op } of operations((await res.json()) as Document)) {
        const { url, init } = exampleRequest(path, method, op);
        const status = (await fetch(base + url, init)).status;
        if (op.security) expect(status, `${method} ${url}`).toBe(401);
        else expect(status, `${method} ${url}`).not.toBe(401);
      }
    }
  });
});

describe('configuration', () => {
  it('a malformed API_KEYS entry stops start-up naming the entry', async () => {
    await expect(startTestService({ env: { API_KEYS: `read:${sha('x')},writer:abc` } })).rejects.toThrow(/API_KEYS=\(not shown: a wrong entry may be a key\): entry 2 is not role/);
    // A key pasted where its hash belongs is neither shown nor quoted, and the message says what to give instead.
    const pasted = startTestService({ env: { API_KEYS: 'tt_Zm9yZ290LXRvLWhhc2gtdGhpcy1rZXk' } });
    await expect(pasted).rejects.toThrow(/entry 1 is not role.*it has no role: if it is a key, give its hash instead, from `tokentally hash-key <key>`/);
    await expect(pasted).rejects.not.toThrow(/Zm9yZ290/);
    // A scope's projects are ids an event could name: an empty one would stamp events with project "".
    await expect(startTestService({ env: { API_KEYS: `ingest@+atlas:${sha('x')}` } })).rejects.toThrow(/API_KEYS=.*entry 1: project "" must not be empty/);
  });
});
