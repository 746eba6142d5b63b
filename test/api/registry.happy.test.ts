import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Api } from '../../src/http/api.js';
import { registerDocs } from '../../src/http/docs.js';
import { errorResponse } from '../../src/http/errors.js';
import { list, once } from '../../src/http/query.js';
import type { Document } from '../support/openapi.js';

/** What a new route takes: one `api.route` call with its schemas; the document follows. */
function exampleApp() {
  const app = new Hono();
  app.onError(errorResponse);
  const api = new Api(app);
  api.route({
    method: 'put', path: '/things/:id/tags', tag: 'things', role: 'admin', summary: 'Tag a thing',
    params: z.strictObject({ id: z.string().regex(/^\w+$/, 'letters, digits and _ only').meta({ example: 'a1' }) }),
    query: z.strictObject({ tag: list(z.string()).default([]), dry_run: once(z.enum(['yes', 'no']).default('no')) }),
    responses: { 200: { description: 'Tagged', schema: z.object({ id: z.string(), tags: z.array(z.string()) }) } },
    errors: [404],
  }, (c, query, params) => c.json({ id: params.id, tags: query.tag }));
  const Thing = z.strictObject({ name: z.string() });
  api.route({
    method: 'post', path: '/things', tag: 'things', summary: 'Send a thing',
    body: { schema: Thing, contentTypes: ['application/json', 'application/x-protobuf'], example: { name: 'x' } },
    responses: { 200: { description: 'Stored' } },
  }, async (c) => c.json(Thing.parse(await c.req.json())));
  registerDocs(api, { title: 'things', description: 'a test app' });
  return app;
}

describe('a route registered through Api', () => {
  it('is guarded by exactly the role it declares, and a route that declares none is public', async () => {
    const app = new Hono();
    app.onError(errorResponse);
    const asked: string[] = [];
    const api = new Api(app, (role) => [async (c, next) => {
      asked.push(role);
      if (c.req.header('x-role') !== role) return c.text('refused', 403);
      await next();
    }]);
    const ok = { 200: { description: 'ok' } };
    api.route({ method: 'get', path: '/admin', tag: 't', summary: 's', role: 'admin', responses: ok }, (c) => c.text('admin'));
    api.route({ method: 'get', path: '/open', tag: 't', summary: 's', responses: ok }, (c) => c.text('open'));
    expect((await app.request('/admin')).status).toBe(403);
    expect(await (await app.request('/admin', { headers: { 'x-role': 'admin' } })).text()).toBe('admin');
    expect(await (await app.request('/open')).text()).toBe('open');
    expect(asked).toEqual(['admin', 'admin']);
  });

  it('gets its path and query parameters parsed', async () => {
    const res = await exampleApp().request('/things/a1/tags?tag=x,y&tag=z', { method: 'PUT' });
    expect(await res.json()).toEqual({ id: 'a1', tags: ['x', 'y', 'z'] });
  });

  it.each([
    ['/things/a-1/tags', /^id: letters, digits and _ only$/],
    ['/things/a1/tags?dry_run=yes&dry_run=no', /^dry_run: give it once$/],
    ['/things/a1/tags?tags=x', /^tags: unknown parameter; known: tag, dry_run$/],
  ])('%s → 400 naming the parameter', async (path, message) => {
    const res = await exampleApp().request(path, { method: 'PUT' });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(message);
  });

  it('is described in the document: parameters, answers, errors and security', async () => {
    const doc = (await (await exampleApp().request('/openapi.json')).json()) as Document;
    const op = doc.paths['/things/{id}/tags']!.put!;
    expect(op.parameters).toEqual([
      { name: 'id', in: 'path', required: true, example: 'a1', schema: { type: 'string', pattern: '^\\w+$' } },
      { name: 'tag', in: 'query', required: false, schema: { type: 'array', items: { type: 'string' } }, style: 'form', explode: true },
      { name: 'dry_run', in: 'query', required: false, schema: { type: 'string', enum: ['yes', 'no'], default: 'no' } },
    ]);
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '403', '404']);
    expect(op.security).toEqual([{ bearer: [] }, { apiKey: [] }, { basic: [] }]);
    expect(doc.paths['/things']!.post!.requestBody!.content).toEqual({
      'application/json': { schema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false }, example: { name: 'x' } },
      'application/x-protobuf': {},
    });
  });
});
