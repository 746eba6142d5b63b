import type { Hono } from 'hono';
import { validateEvents } from '../../src/event/validate.js';
import { badRequest } from '../../src/http/errors.js';
import { parseJson, readBody, requireJson } from '../body.js';
import type { CollectorDeps } from '../app.js';
import { ingest } from '../ingest.js';

/** POST /api/usage — one event, answered 201 {id} once stored (an id already stored counts as stored). */
export function registerSeedUsage(app: Hono, deps: CollectorDeps): void {
  app.post('/api/usage', async (c) => {
    requireJson(c);
    const outcome = validateEvents([parseJson(await readBody(c, deps.limits))], '');
    const error = outcome.errors[0];
    if (error) throw badRequest(`${error.path.replace(/^\[0\]\.?/, '') || 'body'}: ${error.message}`);
    const { records, duplicates } = await ingest(outcome, 0, deps);
    return c.json({ id: records[0]!.id, duplicate: duplicates === 1 }, 201);
  });
}
