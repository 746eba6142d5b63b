import { UsageBatchInput } from '../../src/event/schema.js';
import { issuesToErrors, validateEvents } from '../../src/event/validate.js';
import { ApiError, badRequest } from '../../src/http/errors.js';
import { parseJson, readBody, requireJson } from '../body.js';
import type { CollectorApp, CollectorDeps } from '../app.js';
import { applyProjectScope, ingest } from '../ingest.js';

/** POST /v1/usage — a native batch; valid events are stored even when siblings are rejected. */
export function registerUsageBatch(app: CollectorApp, deps: CollectorDeps): void {
  app.post('/v1/usage', async (c) => {
    requireJson(c);
    const body = UsageBatchInput.safeParse(parseJson(await readBody(c, deps.limits)));
    if (!body.success) {
      const first = issuesToErrors(0, body.error.issues, '')[0]!;
      throw badRequest(`${first.path}: ${first.message}; expected {"events": [...]}`);
    }
    const { events } = body.data;
    if (events.length === 0) throw badRequest('events: must contain at least one event');
    if (events.length > deps.limits.maxEventsPerRequest) {
      throw new ApiError(413, 'too_many_events', `events: ${events.length} events exceed the limit of ${deps.limits.maxEventsPerRequest} per request (MAX_EVENTS_PER_REQUEST)`);
    }
    const outcome = applyProjectScope(validateEvents(events), c.var.principal, 'events');
    if (outcome.valid.length === 0) {
      const first = outcome.errors[0]!;
      return c.json({
        accepted: 0, duplicates: 0, rejected: events.length, errors: outcome.errors,
        error: { code: 'no_valid_events', message: `no event in the batch is valid; first error: ${first.path}: ${first.message}` },
      }, 400);
    }
    const { accepted, duplicates, rejected, errors } = await ingest(outcome, events.length, deps);
    return c.json({ accepted, duplicates, rejected, errors });
  });
}
