import { z } from 'zod';
import type { Principal } from '../../src/auth/keys.js';
import { UsageEventInput } from '../../src/event/schema.js';
import { validateEvents } from '../../src/event/validate.js';
import { ApiError, badRequest } from '../../src/http/errors.js';
import { parseJson, readBody, requireJson } from '../body.js';
import type { CollectorApi, CollectorDeps } from '../app.js';
import { applyProjectScope, commit, prepare, type Prepared } from '../ingest.js';
import { EXAMPLE_EVENT } from './usage.js';

const Stored = z.object({ id: z.string(), duplicate: z.boolean().describe('the id was already stored') });

/** POST /api/usage — one event, answered 201 {id} once stored (an id already stored counts as stored). */
export function registerSeedUsage(api: CollectorApi, deps: CollectorDeps): void {
  api.route({
    method: 'post', path: '/api/usage', tag: 'ingestion', role: 'ingest',
    summary: 'Send one usage event (the original service’s route)',
    body: { schema: UsageEventInput, example: { ...EXAMPLE_EVENT, id: 'run-42-step-2' } },
    responses: { 201: { description: 'Stored', schema: Stored } },
    errors: [413, 415, 429, 503],
  }, async (c) => {
    requireJson(c);
    return c.json(await storeEvent(await readBody(c, deps.limits), c.var.principal, deps), 201);
  });
}

/** The event's commit; synchronous up to it, as in the batch routes (see `commit`). */
function storeEvent(body: Buffer, principal: Principal, deps: CollectorDeps): Promise<z.infer<typeof Stored>> {
  const prepared = prepareEvent(body, principal, deps);
  const { id } = prepared.records[0]!;
  return commit(prepared, deps.writer).then(({ duplicates }) => ({ id, duplicate: duplicates === 1 }));
}

/** The one event checked and prepared, or refused with its first error. */
function prepareEvent(body: Buffer, principal: Principal, deps: CollectorDeps): Prepared {
  const outcome = applyProjectScope(validateEvents([parseJson(body)], ''), principal, '');
  const error = outcome.errors[0];
  if (error) {
    const field = error.path.replace(/^\[0\]\.?/, '') || 'body';
    throw error.message.startsWith('this key may not') ? new ApiError(403, 'forbidden', `${field}: ${error.message}`) : badRequest(`${field}: ${error.message}`);
  }
  return prepare(outcome, 1, deps.pricer);
}
