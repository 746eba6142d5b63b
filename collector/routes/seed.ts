import { validateEvents } from '../../src/event/validate.js';
import { ApiError, badRequest } from '../../src/http/errors.js';
import { parseJson, readBody, requireJson } from '../body.js';
import type { CollectorApp, CollectorDeps } from '../app.js';
import { applyProjectScope, ingest } from '../ingest.js';

/** POST /api/usage — one event, answered 201 {id} once stored (an id already stored counts as stored). */
export function registerSeedUsage(app: CollectorApp, deps: CollectorDeps): void {
  app.post('/api/usage', async (c) => {
    requireJson(c);
    const outcome = applyProjectScope(validateEvents([parseJson(await readBody(c, deps.limits))], ''), c.var.principal, '');
    const error = outcome.errors[0];
    if (error) {
      const field = error.path.replace(/^\[0\]\.?/, '') || 'body';
      throw error.message.startsWith('this key may not') ? new ApiError(403, 'forbidden', `${field}: ${error.message}`) : badRequest(`${field}: ${error.message}`);
    }
    const { records, duplicates } = await ingest(outcome, 1, deps);
    return c.json({ id: records[0]!.id, duplicate: duplicates === 1 }, 201);
  });
}
