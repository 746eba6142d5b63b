import { z } from 'zod';
import type { Principal } from '../../src/auth/keys.js';
import { UsageEventInput } from '../../src/event/schema.js';
import { validateEvents } from '../../src/event/validate.js';
import { ApiError, badRequest } from '../../src/http/errors.js';
import { requireJson } from '../../src/http/body.js';
import type { CollectorApi, IngestDeps } from '../app.js';
import { applyProjectScope, commit, prepare, type Prepared } from '../ingest.js';
import type { CountLimit } from '../decode-limits.js';
import { cutJson } from '../json.js';
import { EVENT_LIMITS, EVENT_PROBLEMS, EXAMPLE_EVENT } from './usage.js';

const Stored = z.object({ id: z.string(), duplicate: z.boolean().describe('the id was already stored') });

/** POST /api/usage — one event, answered 201 {id} once stored (an id already stored counts as stored). */
export function registerApiUsage(api: CollectorApi, deps: IngestDeps): void {
  api.route({
    method: 'post', path: '/api/usage', tag: 'ingestion', role: 'ingest',
    summary: 'Send one usage event (the original service’s route)',
    body: { schema: UsageEventInput, example: { ...EXAMPLE_EVENT, id: 'run-42-step-2' } },
    responses: { 201: { description: 'Stored', schema: Stored } },
  }, async (c) => {
    requireJson(c);
    // Chained: a variable would hold the records through the commit (see `commit`).
    return c.json(await deps.bodies.read(c, (body) => prepareEvent(body, c.var.principal, deps)).then((prepared) => storeEvent(prepared, deps)), 201);
  });
}

/** The event's commit (see `commit`). */
function storeEvent(prepared: Prepared, deps: IngestDeps): Promise<z.infer<typeof Stored>> {
  const { id } = prepared.records[0]!;
  return commit(prepared, deps.writer).then(({ duplicates }) => ({ id, duplicate: duplicates === 1 }));
}

/** The body as its one counted element, so the scan holds it to EVENT_LIMITS before it is parsed. */
const WHOLE_EVENT: CountLimit = { limit: 1, code: 'too_many_events', noun: 'events', setting: 'one event' };

/** The one event checked and prepared, or refused with its first error. */
function prepareEvent(body: Buffer, principal: Principal, deps: IngestDeps): Prepared {
  const cut = cutJson(body, { values: deps.counts.values, counted: { keys: [], depth: 0, count: WHOLE_EVENT, each: EVENT_LIMITS } });
  const problem = cut.problem(0);
  if (problem) throw badRequest(`${problem.path || 'body'}: ${EVENT_PROBLEMS[problem.over]}`);
  const outcome = applyProjectScope(validateEvents([cut.element(0, '')], ''), principal, '');
  const error = outcome.errors[0];
  if (error) {
    const field = error.path.replace(/^\[0\]\.?/, '') || 'body';
    throw error.message.startsWith('this key may not') ? new ApiError(403, 'forbidden', `${field}: ${error.message}`) : badRequest(`${field}: ${error.message}`);
  }
  return prepare(outcome, 1, deps.pricer);
}
