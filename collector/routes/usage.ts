import { z } from 'zod';
import type { Principal } from '../../src/auth/keys.js';
import { UsageBatchInput, UsageEventInput } from '../../src/event/schema.js';
import { describeIssue, validateEvents } from '../../src/event/validate.js';
import { badRequest, ErrorBody } from '../../src/http/errors.js';
import { requireJson } from '../body.js';
import type { CollectorApi, IngestDeps } from '../app.js';
import { parseJson } from '../json.js';
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
export function registerUsageBatch(api: CollectorApi, deps: IngestDeps): void {
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
    const batch = await deps.bodies.read(c, (body) => prepareBatch(body, c.var.principal, deps));
    const answer = await answerBatch(batch, deps);
    return 'error' in answer ? c.json(answer, 400) : c.json(answer satisfies z.infer<typeof BatchAnswer>);
  });
}

/** The answer when no event is valid, or the commit of those that are (see `commit`). */
function answerBatch(batch: Prepared, deps: IngestDeps) {
  if (batch.records.length === 0) {
    const first = batch.errors[0]!;
    return {
      accepted: 0, duplicates: 0, rejected: batch.rejected, errors: batch.errors,
      error: { code: 'no_valid_events', message: `no event in the batch is valid; first error: ${first.path}: ${first.message}` },
    };
  }
  return commit(batch, deps.writer);
}

/** Parses, checks and prepares a batch; the scan before the parse holds MAX_EVENTS_PER_REQUEST. */
function prepareBatch(body: Buffer, principal: Principal, deps: IngestDeps): Prepared {
  const json = parseJson(body, { values: deps.counts.values, counted: { keys: ['events'], depth: 1, count: deps.counts.events } });
  const parsed = UsageBatchInput.safeParse(json);
  if (!parsed.success) throw badRequest(`${describeIssue(parsed.error.issues)}; expected {"events": [...]}`);
  const { events } = parsed.data;
  if (events.length === 0) throw badRequest('events: must contain at least one event');
  return prepare(applyProjectScope(validateEvents(events), principal, 'events'), events.length, deps.pricer);
}
