import { z } from 'zod';
import type { Principal } from '../../src/auth/keys.js';
import { UsageBatchInput, UsageEventInput } from '../../src/event/schema.js';
import { issuesToErrors, validateEvents } from '../../src/event/validate.js';
import { ApiError, badRequest, ErrorBody } from '../../src/http/errors.js';
import { parseJson, readBody, requireJson } from '../body.js';
import type { CollectorApi, CollectorDeps } from '../app.js';
import { applyProjectScope, commit, prepare, type Prepared } from '../ingest.js';

const count = z.number().int().min(0);

const BatchAnswer = z.object({
  accepted: count.describe('events stored by this request'),
  duplicates: count.describe('events whose id was already stored (counted once)'),
  rejected: count,
  errors: z.array(z.object({ index: count, path: z.string().describe('e.g. events[3].input_tokens'), message: z.string() })).describe('one per problem of each rejected event'),
});

/** The batch as documented: the route checks the envelope first, then each event on its own. */
const Batch = UsageBatchInput.extend({ events: z.array(UsageEventInput) });

export const EXAMPLE_EVENT = {
  id: 'run-42-step-1', timestamp: '2026-11-24T10:00:00Z', project: 'atlas', agent_id: 'planner',
  model: 'gpt-4o', provider: 'openai', input_tokens: 1200, output_tokens: 300,
};

/** POST /v1/usage — a native batch; valid events are stored even when siblings are rejected. */
export function registerUsageBatch(api: CollectorApi, deps: CollectorDeps): void {
  api.route({
    method: 'post', path: '/v1/usage', tag: 'ingestion', role: 'ingest',
    summary: 'Send a batch of usage events',
    description: 'JSON, optionally with `Content-Encoding: gzip`. Valid events are stored even when others in the batch are rejected; the answer comes once they are committed.',
    body: { schema: Batch, example: { events: [EXAMPLE_EVENT] } },
    responses: {
      200: { description: 'Stored (all, or the valid part of the batch)', schema: BatchAnswer },
      400: { description: 'Nothing in the body is usable; for a batch of invalid events, the errors of each', schema: ErrorBody.extend(BatchAnswer.partial().shape) },
    },
    errors: [413, 415, 429, 503],
  }, async (c) => {
    requireJson(c);
    const answer = await ingestBatch(await readBody(c, deps.limits), c.var.principal, deps);
    return 'error' in answer ? c.json(answer, 400) : c.json(answer satisfies z.infer<typeof BatchAnswer>);
  });
}

/** The answer when no event is valid, or the commit of those that are; synchronous up to the commit (see `commit`). */
function ingestBatch(body: Buffer, principal: Principal, deps: CollectorDeps) {
  const batch = prepareBatch(body, principal, deps);
  if (batch.records.length === 0) {
    const first = batch.errors[0]!;
    return {
      accepted: 0, duplicates: 0, rejected: batch.rejected, errors: batch.errors,
      error: { code: 'no_valid_events', message: `no event in the batch is valid; first error: ${first.path}: ${first.message}` },
    };
  }
  return commit(batch, deps.writer);
}

/** Parses, checks and prepares a batch. */
function prepareBatch(body: Buffer, principal: Principal, deps: CollectorDeps): Prepared {
  const parsed = UsageBatchInput.safeParse(parseJson(body));
  if (!parsed.success) {
    const first = issuesToErrors(0, parsed.error.issues, '')[0]!;
    throw badRequest(`${first.path}: ${first.message}; expected {"events": [...]}`);
  }
  const { events } = parsed.data;
  if (events.length === 0) throw badRequest('events: must contain at least one event');
  if (events.length > deps.limits.maxEventsPerRequest) {
    throw new ApiError(413, 'too_many_events', `events: ${events.length} events exceed the limit of ${deps.limits.maxEventsPerRequest} per request (MAX_EVENTS_PER_REQUEST)`);
  }
  return prepare(applyProjectScope(validateEvents(events), principal, 'events'), events.length, deps.pricer);
}
