import { z } from 'zod';
import type { Principal } from '../../src/auth/keys.js';
import { LIMITS, UsageBatchInput, UsageEventInput, type UsageRecord } from '../../src/event/schema.js';
import { describeIssue, MAX_LISTED_ERRORS, validateEvent, type EventError } from '../../src/event/validate.js';
import { badRequest, ErrorBody } from '../../src/http/errors.js';
import { requireJson } from '../../src/http/body.js';
import type { CollectorApi, IngestDeps } from '../app.js';
import { cutJson, type ElementLimits, type ElementProblem } from '../json.js';
import { RECORDS_PER_STEP, runInSlices, type Steps } from '../otlp/steps.js';
import { commit, counted, priced, scopeEvent, type Prepared } from '../ingest.js';

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
  }, async (c) => {
    requireJson(c);
    // Chained: a variable would hold the records through the commit (see `commit`).
    const answer = await deps.bodies.read(c, (body) => runInSlices(batchSteps(body, c.var.principal, deps))).then((batch) => answerBatch(batch, deps));
    return 'error' in answer ? c.json(answer, 400) : c.json(answer satisfies z.infer<typeof BatchAnswer>);
  });
}

/** The answer when no event is valid, or the commit of those that are (see `commit`). */
function answerBatch(batch: Prepared, deps: IngestDeps) {
  if (batch.committed) return counted(batch.committed, batch);
  if (batch.records.length === 0) {
    const first = batch.errors[0]!;
    return {
      accepted: 0, duplicates: 0, rejected: batch.rejected, errors: batch.errors,
      error: { code: 'no_valid_events', message: `no event in the batch is valid; first error: ${first.path}: ${first.message}` },
    };
  }
  return commit(batch, deps.writer);
}

/**
 * A batch of more than this many events goes to the writer in parts of this many as they are
 * checked (BatchWriter.submitInParts), so the first are inserted while the rest are: a 1,000-event
 * batch on an idle collector was ~9 ms of checking, then ~22 of inserting (docs/benchmarks.md,
 * "Batches in parts, session 21").
 */
const EVENTS_PER_PART = 200;

/**
 * Past these the scan refuses an event before it is parsed, so a huge value is never decoded whole
 * (a 49 MiB attribute took about 400 ms to parse): no field needs more than 1,024 characters, which
 * JSON spells in at most 6 bytes each (`\uXXXX`), and an event has at most 21 fields and 64
 * attributes. Whitespace padding, long fractions of a second or repeated keys past them are refused too.
 */
export const EVENT_LIMITS: ElementLimits = { values: 256, stringBytes: 6 * LIMITS.attributeValueLength };

/** What an answer says of an event over EVENT_LIMITS. */
export const EVENT_PROBLEMS: Record<ElementProblem['over'], string> = {
  values: `more than ${EVENT_LIMITS.values} JSON values in one event (an event has at most ${Object.keys(UsageEventInput.shape).length} fields and ${LIMITS.attributeCount} attributes)`,
  stringBytes: `a string of more than ${EVENT_LIMITS.stringBytes.toLocaleString('en-US')} bytes (no field takes more than ${LIMITS.attributeValueLength.toLocaleString('en-US')} characters)`,
};

/**
 * Parses, checks, scopes and prices a batch an event at a time, so a large batch does not hold the
 * event loop; the scan before the parse holds MAX_EVENTS_PER_REQUEST and EVENT_LIMITS.
 */
function* batchSteps(body: Buffer, principal: Principal, deps: IngestDeps): Steps<Prepared> {
  const cut = cutJson(body, { values: deps.counts.values, counted: { keys: ['events'], depth: 1, count: deps.counts.events, each: EVENT_LIMITS } });
  const parsed = UsageBatchInput.safeParse(cut.outline);
  if (!parsed.success) throw badRequest(`${describeIssue(parsed.error.issues)}; expected {"events": [...]}`);
  // The outline holds each event's number among the body's counted elements.
  const events = parsed.data.events as number[];
  if (events.length === 0) throw badRequest('events: must contain at least one event');
  // Its size as the writer estimates records' (400 bytes each, plus their strings in UTF-16), from the body.
  const parts = events.length > EVENTS_PER_PART ? deps.writer.submitInParts(events.length, 400 * events.length + 2 * body.length) : undefined;
  let records: UsageRecord[] = [];
  let handed = 0;
  // In index order, so the first MAX_LISTED_ERRORS problems are those listed.
  const errors: EventError[] = [];
  const receivedAt = Date.now();
  try {
    for (let index = 0; index < events.length; index++) {
      // A pause point every few events, not every one: each is a generator step and a clock read.
      if (index % RECORDS_PER_STEP === 0) yield;
      if (parts && index % EVENTS_PER_PART === 0 && index > 0) {
        parts.add(records);
        handed += records.length;
        records = [];
      }
      const problem = cut.problem(events[index]!);
      if (problem) {
        if (errors.length < MAX_LISTED_ERRORS) errors.push({ index, path: problem.path, message: EVENT_PROBLEMS[problem.over] });
        continue;
      }
      const valid = validateEvent(cut.element(events[index]!, `events[${index}]`), index, 'events', errors);
      const event = valid && scopeEvent(valid, index, principal, 'events', errors);
      if (event) records.push(priced(event, receivedAt, deps.pricer));
    }
  } catch (error) {
    parts?.abort();
    throw error;
  }
  const valid = handed + records.length;
  const answer = { rejected: events.length - valid, errors: errors.slice(0, MAX_LISTED_ERRORS) };
  if (!parts) return { records, ...answer };
  if (valid === 0) {
    parts.abort();
    return { records: [], ...answer };
  }
  return { records: [], committed: parts.end(records), ...answer };
}
