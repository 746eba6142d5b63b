import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import { usageRecord } from '../support/records.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

const NOW = Date.UTC(2026, 10, 20, 12);
const ev = (id: string, project: string, day: number, cost: number) => ({
  id, project, timestamp: Date.UTC(2026, 10, day, 9), agent_id: 'planner', model: 'gpt-4o', input_tokens: 1000, output_tokens: 100, cost_usd: cost,
});

async function call(svc: TestService, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(svc.reportingUrl + path, {
    method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe.each(BACKENDS)('on %s', (backend) => {
  describe('projects (happy)', () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService({ backend, now: () => NOW });
      const res = await svc.ingest('/v1/usage', { events: [ev('1', 'borealis', 3, 0.5), ev('2', 'atlas', 4, 0.25), ev('3', 'atlas', 5, 0.25), ev('4', 'cygnus', 1, 1)] });
      expect(await res.json()).toMatchObject({ accepted: 4 });
    });
    afterAll(() => svc.close());

    it('the insert trigger creates a row for every project an event names, with the month-to-date figures', async () => {
      const { status, body } = await call(svc, 'GET', '/v1/projects');
      expect(status).toBe(200);
      expect(body.month).toBe('2026-11');
      expect(body.projects.map((p: any) => p.id)).toEqual(['atlas', 'borealis', 'cygnus']);
      expect(body.projects[0]).toMatchObject({
        id: 'atlas', name: 'atlas', description: '', archived: false, pinned: false, pin_order: null,
        current_month: { events: 2, input_tokens: 2000, output_tokens: 200, total_tokens: 2200, cost_usd: 0.5 },
      });
      const stats = (await svc.report('/v1/stats/current-month')).body;
      for (const p of stats.projects) {
        const { project, ...metrics } = p;
        expect(body.projects.find((q: any) => q.id === project).current_month).toEqual(metrics);
      }
    });

    it('a duplicate event changes nothing; a new project from a later batch appears at once', async () => {
      await svc.ingest('/v1/usage', { events: [ev('1', 'borealis', 3, 0.5), ev('5', 'dorado', 6, 0.1)] });
      const ids = (await call(svc, 'GET', '/v1/projects')).body.projects.map((p: any) => p.id);
      expect(ids).toEqual(['atlas', 'borealis', 'cygnus', 'dorado']);
    });

    it('PUT creates a project ahead of traffic (201) and updates it (200), keeping fields not sent', async () => {
      const created = await call(svc, 'PUT', '/v1/projects/eridanus', { name: 'Eridanus', description: 'search agents' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ id: 'eridanus', name: 'Eridanus', description: 'search agents', archived: false, current_month: { events: 0, cost_usd: 0 } });
      const updated = await call(svc, 'PUT', '/v1/projects/eridanus', { description: 'retrieval agents' });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ name: 'Eridanus', description: 'retrieval agents' });
      expect((await call(svc, 'GET', '/v1/projects/eridanus')).body).toMatchObject({ name: 'Eridanus', description: 'retrieval agents' });
    });

    it('pins at the end, lists pinned first by order then the rest by name, unpins', async () => {
      for (const id of ['cygnus', 'atlas']) expect((await call(svc, 'POST', `/v1/projects/${id}/pin`)).status).toBe(200);
      const again = await call(svc, 'POST', '/v1/projects/cygnus/pin');
      expect(again.body).toMatchObject({ pinned: true, pin_order: 1 });
      let list = (await call(svc, 'GET', '/v1/projects')).body.projects;
      expect(list.map((p: any) => [p.id, p.pin_order])).toEqual([['cygnus', 1], ['atlas', 2], ['borealis', null], ['dorado', null], ['eridanus', null]]);
      const unpinned = await call(svc, 'DELETE', '/v1/projects/cygnus/pin');
      expect(unpinned.body).toMatchObject({ id: 'cygnus', pinned: false, pin_order: null });
      expect((await call(svc, 'POST', '/v1/projects/borealis/pin')).body.pin_order).toBe(3);
      list = (await call(svc, 'GET', '/v1/projects')).body.projects;
      expect(list.filter((p: any) => p.pinned).map((p: any) => p.id)).toEqual(['atlas', 'borealis']);
    });

    it('reorders the pins in one request', async () => {
      const res = await call(svc, 'PUT', '/v1/projects/pins', { order: ['borealis', 'atlas'] });
      expect(res).toEqual({ status: 200, body: { order: ['borealis', 'atlas'] } });
      const list = (await call(svc, 'GET', '/v1/projects')).body.projects;
      expect(list.slice(0, 2).map((p: any) => [p.id, p.pin_order])).toEqual([['borealis', 1], ['atlas', 2]]);
    });

    it('archiving hides a project (and unpins it) unless ?archived=true', async () => {
      await call(svc, 'POST', '/v1/projects/dorado/pin');
      const archived = await call(svc, 'PUT', '/v1/projects/dorado', { archived: true });
      expect(archived.body).toMatchObject({ archived: true, pinned: false, pin_order: null });
      expect((await call(svc, 'GET', '/v1/projects')).body.projects.map((p: any) => p.id)).not.toContain('dorado');
      const all = (await call(svc, 'GET', '/v1/projects?archived=true')).body.projects;
      expect(all.find((p: any) => p.id === 'dorado')).toMatchObject({ archived: true, current_month: { events: 1 } });
      await call(svc, 'PUT', '/v1/projects/dorado', { archived: false });
    });
  });

  describe('projects (errors)', () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService({ backend, now: () => NOW });
      await svc.ingest('/v1/usage', { events: [ev('1', 'atlas', 3, 0.5), ev('2', 'borealis', 3, 0.5), ev('3', 'cygnus', 3, 0.5)] });
      for (const id of ['atlas', 'borealis']) await call(svc, 'POST', `/v1/projects/${id}/pin`);
    });
    afterAll(() => svc.close());

    it.each([
      ['GET', '/v1/projects/nope'],
      ['POST', '/v1/projects/nope/pin'],
      ['DELETE', '/v1/projects/nope/pin'],
    ])('%s %s → 404 naming the id', async (method, path) => {
      const res = await call(svc, method, path);
      expect(res).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'id: no project "nope"' } } });
    });

    it.each([
      [{ order: ['atlas'] }, 'order: must list exactly the pinned projects; pinned but missing: "borealis"'],
      [{ order: ['atlas', 'borealis', 'cygnus'] }, 'order: must list exactly the pinned projects; not pinned: "cygnus"'],
      [{ order: ['borealis', 'ghost'] }, 'order: must list exactly the pinned projects; pinned but missing: "atlas"; not pinned: "ghost"'],
      [{ order: ['atlas', 'atlas', 'borealis'] }, 'order: lists "atlas" more than once'],
      [{ order: 'atlas' }, 'order: Invalid input: expected array, received string'],
      [{ order: ['atlas', ''] }, 'order[1]: must not be empty'],
      [{}, 'order: Invalid input: expected array, received undefined'],
      [{ order: ['atlas', 'borealis'], extra: 1 }, 'body: unknown field(s): extra'],
    ])('PUT /v1/projects/pins %j → 400, nothing changes', async (body, message) => {
      const res = await call(svc, 'PUT', '/v1/projects/pins', body);
      expect(res).toEqual({ status: 400, body: { error: { code: 'bad_request', message } } });
      const list = (await call(svc, 'GET', '/v1/projects')).body.projects;
      expect(list.map((p: any) => [p.id, p.pin_order])).toEqual([['atlas', 1], ['borealis', 2], ['cygnus', null]]);
    });

    it.each([
      [{ name: '' }, 'name: must not be empty'],
      [{ name: 42 }, 'name: Invalid input: expected string, received number'],
      [{ name: 'a\ud800b' }, 'name: must be valid Unicode text without NUL characters'],
      [{ description: 'x\u0000y' }, 'description: must be valid Unicode text without NUL characters'],
      [{ archived: 'yes' }, 'archived: Invalid input: expected boolean, received string'],
      [{ colour: 'red' }, 'body: unknown field(s): colour'],
      ['not json', 'body is not valid JSON'],
    ])('PUT /v1/projects/{id} %j → 400 naming the field', async (body, message) => {
      const res = await fetch(`${svc.reportingUrl}/v1/projects/atlas`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect((await res.json()).error.message).toContain(message);
    });

    it.each([
      ['text/plain;charset=UTF-8', 'Content-Type "text/plain" is not supported; send application/json'],
      ['application/x-www-form-urlencoded', 'Content-Type "application/x-www-form-urlencoded" is not supported; send application/json'],
      [undefined, 'no Content-Type is not supported; send application/json'],
    ])('a body sent as %s is a 415, whatever it holds', async (type, message) => {
      const res = await fetch(`${svc.reportingUrl}/v1/projects/atlas`, { method: 'PUT', headers: type ? { 'content-type': type } : {}, body: new Blob(['{"name":"Atlas"}']) });
      expect(res.status).toBe(415);
      expect((await res.json()).error.message).toBe(message);
    });

    it('an id longer than events allow is a 400; ?archived must be true or false', async () => {
      expect((await call(svc, 'PUT', `/v1/projects/${'x'.repeat(300)}`, {})).body.error.message).toMatch(/^id: /);
      expect((await call(svc, 'GET', '/v1/projects?archived=yes')).body.error.message).toBe('archived: "yes" is not true or false');
    });

    it('pinning an archived project is a 409', async () => {
      await call(svc, 'PUT', '/v1/projects/cygnus', { archived: true });
      const res = await call(svc, 'POST', '/v1/projects/cygnus/pin');
      expect(res.status).toBe(409);
      expect(res.body.error.message).toBe('id: project "cygnus" is archived; unarchive it before pinning');
      await call(svc, 'PUT', '/v1/projects/cygnus', { archived: false });
    });
  });

  describe('projects (security)', () => {
    const sha = (key: string) => createHash('sha256').update(key).digest('hex');
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
    let svc: TestService;
    beforeAll(async () => {
      const API_KEYS = [`admin:${sha('admin')}`, `read:${sha('read')}`, `read@atlas:${sha('read-atlas')}`, `admin@atlas:${sha('admin-atlas')}`].join(',');
      svc = await startTestService({ backend, env: { API_KEYS }, now: () => NOW });
      await svc.ingest('/v1/usage', { events: [ev('1', 'atlas', 3, 0.5), ev('2', 'borealis', 3, 0.5)] }, bearer('admin'));
    });
    afterAll(() => svc.close());

    it('reading needs a key; every write needs the admin role', async () => {
      expect((await call(svc, 'GET', '/v1/projects')).status).toBe(401);
      expect((await call(svc, 'GET', '/v1/projects', undefined, bearer('read'))).status).toBe(200);
      for (const [method, path, body] of [['PUT', '/v1/projects/atlas', {}], ['POST', '/v1/projects/atlas/pin'], ['DELETE', '/v1/projects/atlas/pin'], ['PUT', '/v1/projects/pins', { order: [] }]] as const) {
        const res = await call(svc, method, path, body, bearer('read'));
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(res.body.error.message).toBe('this key has the read role; this route needs admin');
      }
      expect((await call(svc, 'POST', '/v1/projects/atlas/pin', undefined, bearer('admin'))).status).toBe(200);
    });

    it('a read key scoped to a project never lists others and gets 403 for them', async () => {
      const h = bearer('read-atlas');
      expect((await call(svc, 'GET', '/v1/projects?archived=true', undefined, h)).body.projects.map((p: any) => p.id)).toEqual(['atlas']);
      expect((await call(svc, 'GET', '/v1/projects/atlas', undefined, h)).status).toBe(200);
      const other = await call(svc, 'GET', '/v1/projects/borealis', undefined, h);
      expect(other).toEqual({ status: 403, body: { error: { code: 'forbidden', message: 'project: this key may not read "borealis"' } } });
      expect((await call(svc, 'GET', '/v1/projects/ghost', undefined, h)).status).toBe(403);
    });

    it('an admin key scoped to a project changes only that project', async () => {
      const h = bearer('admin-atlas');
      expect((await call(svc, 'PUT', '/v1/projects/atlas', { name: 'Atlas' }, h)).status).toBe(200);
      expect((await call(svc, 'PUT', '/v1/projects/borealis', { name: 'B' }, h)).body.error.message).toBe('project: this key may not change "borealis"');
      expect((await call(svc, 'PUT', '/v1/projects/pins', { order: ['borealis'] }, h)).status).toBe(403);
    });
  });
});

describe('the projects migration', () => {
  it('backfills a row for every project already in usage_events or usage_daily; new projects still get one', async () => {
    const svc = await startTestService();
    const file = join(svc.dir, 'usage.db');
    await svc.ingest('/v1/usage', { events: [ev('1', 'atlas', 3, 0.5), ev('2', 'borealis', 3, 0.5)] });
    await svc.store.close();
    const db = new Database(file);
    db.exec(`DROP TABLE projects; DROP TRIGGER usage_daily_project; DELETE FROM schema_migrations WHERE version IN (4, 6)`);
    // borealis as retention leaves it: rollup rows only.
    db.exec(`DELETE FROM usage_events WHERE project = 'borealis'`);
    db.close();
    const store = new SqliteStore(file);
    expect(await store.migrate()).toEqual(['0004_projects', '0006_projects_from_rollup']);
    expect((await store.listProjects({ includeArchived: true, ids: null })).map((p) => p.id)).toEqual(['atlas', 'borealis']);
    await store.insertBatch([usageRecord('3', { project: 'cygnus' })]);
    expect((await store.listProjects({ includeArchived: true, ids: null })).map((p) => p.id)).toEqual(['atlas', 'borealis', 'cygnus']);
    const triggers = new Database(file, { readonly: true });
    expect(triggers.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%project%'`).pluck().all()).toEqual(['usage_daily_project']);
    triggers.close();
    await store.close();
    await svc.close();
  });
});

describe.each(BACKENDS)('long lists, a page at a time, on %s', (backend) => {
  let svc: TestService;
  const names = ['Zeta', 'alpha', 'Beta', 'beta', 'gamma', 'Delta', 'epsilon', 'eta'];
  beforeAll(async () => {
    svc = await startTestService({ backend, now: () => NOW });
    // Costs tie in pairs, so the ranking's second key (the project id) decides between them.
    const events = names.map((name, i) => ev(`e${i}`, `p${i}`, 2, [0.5, 0.5, 0.25, 0.25, 1, 0.125, 0.125, 2][i]!));
    expect(await (await svc.ingest('/v1/usage', { events })).json()).toMatchObject({ accepted: names.length });
    for (const [i, name] of names.entries()) await call(svc, 'PUT', `/v1/projects/p${i}`, { name });
    for (const id of ['p6', 'p1']) await call(svc, 'POST', `/v1/projects/${id}/pin`);
  });
  afterAll(() => svc.close());

  async function walk(path: string, field: string, limit: number): Promise<any[][]> {
    const pages: any[][] = [];
    for (let cursor: string | null = ''; cursor !== null;) {
      const { status, body } = await call(svc, 'GET', `${path}${path.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status).toBe(200);
      pages.push(body[field]);
      cursor = body.next_cursor;
      expect(pages.length).toBeLessThan(20);
    }
    return pages;
  }

  it('/v1/projects pages through pinned ones by pin order, then the rest by name ignoring case, then id', async () => {
    const whole = (await call(svc, 'GET', '/v1/projects')).body;
    expect(whole.next_cursor).toBeNull();
    expect(whole.projects.map((p: any) => p.name)).toEqual(['epsilon', 'alpha', 'Beta', 'beta', 'Delta', 'eta', 'gamma', 'Zeta']);
    for (const limit of [1, 2, 3]) {
      const pages = await walk('/v1/projects', 'projects', limit);
      expect(pages.flat()).toEqual(whole.projects);
      expect(pages.every((p) => p.length <= limit)).toBe(true);
    }
  });

  it('/v1/projects?q= finds projects by a part of their id or name, ignoring case, and pages those', async () => {
    const found = (q: string) => call(svc, 'GET', `/v1/projects?q=${encodeURIComponent(q)}`).then((r) => r.body.projects.map((p: any) => p.name));
    expect(await found('ETA')).toEqual(['Beta', 'beta', 'eta', 'Zeta']);
    expect(await found('p0')).toEqual(['Zeta']);
    expect(await found('%')).toEqual([]);
    expect((await walk('/v1/projects?q=eta', 'projects', 1)).flat().map((p) => p.name)).toEqual(['Beta', 'beta', 'eta', 'Zeta']);
  });

  it('/v1/stats/current-month pages the projects costliest first, equal costs by id, with the global totals on every page', async () => {
    const whole = (await call(svc, 'GET', '/v1/stats/current-month')).body;
    expect(whole.projects.map((p: any) => p.project)).toEqual(['p7', 'p4', 'p0', 'p1', 'p2', 'p3', 'p5', 'p6']);
    for (const limit of [1, 3]) {
      const pages = await walk('/v1/stats/current-month', 'projects', limit);
      expect(pages.flat()).toEqual(whole.projects);
    }
    expect((await call(svc, 'GET', '/v1/stats/current-month?limit=2')).body.global).toEqual(whole.global);
    expect((await call(svc, 'GET', '/v1/stats/current-month?limit=0')).body).toMatchObject({ global: whole.global, projects: [], next_cursor: null });
  });

  it.each([
    ['/v1/projects?cursor=bm9wZQ', /^cursor: not a cursor this API gave out/],
    ['/v1/projects?limit=1001', /^limit: must be a whole number from 1 to 1000/],
    [`/v1/projects?q=${'x'.repeat(300)}`, /^q: at most 256 characters/],
    ['/v1/stats/current-month?cursor=WzEsMl0', /^cursor: not a cursor this API gave out/],
    ['/v1/stats/current-month?limit=-1', /^limit: must be a whole number from 0 to 1000/],
  ])('%s → 400 naming the parameter', async (path, message) => {
    const { status, body } = await call(svc, 'GET', path);
    expect(status).toBe(400);
    expect(body.error.message).toMatch(message);
  });
});
