import type { Principal } from '../../src/auth/keys.js';
import { MAX_LISTED_ERRORS, validateEvents, type EventError, type ValidationOutcome } from '../../src/event/validate.js';
import { ApiError } from '../../src/http/errors.js';
import type { IngestDeps } from '../app.js';
import { applyProjectScope, commit, prepare, type Prepared } from '../ingest.js';
import { decodeSteps, type OtlpEncoding } from './decode.js';
import { logEventSteps } from './log-records.js';
import type { MappedEvent } from './mapping.js';
import { spanMemoryOf } from './span-memory.js';
import { spanEventSteps } from './spans.js';
import { runInSlices, type Steps } from './steps.js';

/**
 * One OTLP export as both fronts (HTTP and gRPC) receive it: bytes in one encoding → the signal's
 * records → usage events → validate → project scope → price → queue → durable commit. Nothing in
 * here knows which front or encoding the request came by.
 */

export type Signal = 'traces' | 'logs' | 'metrics';

interface SignalReceiver {
  /** Bytes → the usage events the signal's records carry (the rest are ignored, not rejected). */
  toEvents(body: Buffer, encoding: OtlpEncoding, deps: IngestDeps, principal: Principal): Steps<MappedEvent[]>;
  /** What the records are called in messages: `span(s)`. */
  noun: string;
}

const RECEIVERS: Record<Signal, SignalReceiver> = {
  traces: {
    *toEvents(body, encoding, deps, principal) {
      const spans = yield* decodeSteps('traces', body, encoding, deps.counts);
      return yield* spanEventSteps(spans, spanMemoryOf(deps.writer), principal.projects);
    },
    noun: 'span(s)',
  },
  logs: {
    *toEvents(body, encoding, deps) {
      return yield* logEventSteps(yield* decodeSteps('logs', body, encoding, deps.counts));
    },
    noun: 'log record(s)',
  },
  // Checked whole, then left uncounted: every emitter known to send metrics sends per-call records
  // too, which the metrics only repeat (docs/agents.md). Counting them for an emitter that sends
  // none would map the decoded points here.
  metrics: {
    *toEvents(body, encoding, deps) {
      yield* decodeSteps('metrics', body, encoding, deps.counts);
      return [];
    },
    noun: 'data point(s)',
  },
};

/** What an OTLP answer reports besides success: records with invalid usage that were not stored. */
export interface Rejection {
  rejected: number;
  errorMessage: string;
}

/** How many rejected records the partialSuccess message describes. */
const DESCRIBED_REJECTIONS = 5;

/**
 * Decodes, maps and prepares one export, in steps that give the event loop a turn every few
 * milliseconds (steps.ts). Once it resolves, the body is garbage: a request waiting for its commit
 * holds only its records (see `prepare`).
 */
export function prepareExport(signal: Signal, body: Buffer, encoding: OtlpEncoding, principal: Principal, deps: IngestDeps): Promise<Prepared & { rejection?: Rejection }> {
  return runInSlices(exportSteps(signal, body, encoding, principal, deps));
}

function* exportSteps(signal: Signal, body: Buffer, encoding: OtlpEncoding, principal: Principal, deps: IngestDeps): Steps<Prepared & { rejection?: Rejection }> {
  const receiver = RECEIVERS[signal];
  const mapped = yield* receiver.toEvents(body, encoding, deps, principal);
  if (mapped.length > deps.limits.maxEventsPerRequest) {
    throw new ApiError(413, 'too_many_events', `${mapped.length} ${receiver.noun} with usage exceed the limit of ${deps.limits.maxEventsPerRequest} per request (MAX_EVENTS_PER_REQUEST)`);
  }
  const outcome = yield* validationSteps(mapped.map((e) => e.input));
  const batch = prepare(applyProjectScope(outcome, principal, ''), mapped.length, deps.pricer);
  if (batch.rejected === 0) return batch;
  return { ...batch, rejection: { rejected: batch.rejected, errorMessage: describeRejections(batch.errors, mapped, batch.rejected, receiver.noun) } };
}

/** Events validated per step. */
const VALIDATED_PER_STEP = 256;

/** `validateEvents(inputs, '')` a slice at a time, with the same outcome: indexes and paths count from the first event. */
function* validationSteps(inputs: readonly unknown[]): Steps<ValidationOutcome> {
  const outcome: ValidationOutcome = { valid: [], errors: [] };
  for (let first = 0; first < inputs.length; first += VALIDATED_PER_STEP) {
    const part = validateEvents(inputs.slice(first, first + VALIDATED_PER_STEP), '');
    for (const { index, event } of part.valid) outcome.valid.push({ index: first + index, event });
    for (const error of part.errors.slice(0, MAX_LISTED_ERRORS - outcome.errors.length)) {
      const index = first + error.index;
      outcome.errors.push({ index, path: error.path.replace(/^\[\d+\]/, `[${index}]`), message: error.message });
    }
    yield;
  }
  return outcome;
}

/** Commits a prepared export; resolves, once durable, with its rejection (none when every record was fine). */
export function commitExport(batch: Prepared & { rejection?: Rejection }, writer: IngestDeps['writer']): Promise<Rejection | undefined> {
  const { rejection } = batch;
  return commit(batch, writer).then(() => rejection);
}

/** `span 4bf9…/00f0… (resourceSpans[0].scopeSpans[0].spans[2]) gen_ai.usage.input_tokens: must not be negative` */
function describeRejections(errors: readonly EventError[], mapped: readonly MappedEvent[], rejected: number, noun: string): string {
  const lines = errors.slice(0, DESCRIBED_REJECTIONS).map(({ index, path, message }) => {
    const { record, sources } = mapped[index]!;
    const field = path.replace(/^\[\d+\]\.?/, '');
    return `${record} ${sources[field] ?? (field || 'usage')}: ${message}`;
  });
  const unlisted = errors.length - DESCRIBED_REJECTIONS;
  const more = unlisted <= 0 ? '' : errors.length < MAX_LISTED_ERRORS ? `; and ${unlisted} more` : '; and more';
  return `${rejected} ${noun} with invalid GenAI usage were not stored: ${lines.join('; ')}${more}`;
}
