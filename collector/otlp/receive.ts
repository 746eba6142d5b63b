import type { Principal } from '../../src/auth/keys.js';
import { MAX_LISTED_ERRORS, validateEvents, type EventError } from '../../src/event/validate.js';
import { ApiError } from '../../src/http/errors.js';
import type { IngestDeps } from '../app.js';
import { applyProjectScope, commit, prepare, type Prepared } from '../ingest.js';
import { decodeExport, type OtlpEncoding } from './decode.js';
import { logRecordsToEvents } from './log-records.js';
import type { MappedEvent } from './mapping.js';
import { spanMemoryOf } from './span-memory.js';
import { spansToEvents } from './spans.js';

/**
 * One OTLP export as both fronts (HTTP and gRPC) receive it: bytes in one encoding → the signal's
 * records → usage events → validate → project scope → price → queue → durable commit. Nothing in
 * here knows which front or encoding the request came by.
 */

export type Signal = 'traces' | 'logs' | 'metrics';

interface SignalReceiver {
  /** Bytes → the usage events the signal's records carry (the rest are ignored, not rejected). */
  toEvents(body: Buffer, encoding: OtlpEncoding, deps: IngestDeps, principal: Principal): MappedEvent[];
  /** What the records are called in messages: `span(s)`. */
  noun: string;
}

const RECEIVERS: Record<Signal, SignalReceiver> = {
  traces: {
    toEvents: (body, encoding, deps, principal) => spansToEvents(decodeExport('traces', body, encoding, deps.counts), spanMemoryOf(deps.writer), principal.projects),
    noun: 'span(s)',
  },
  logs: { toEvents: (body, encoding, deps) => logRecordsToEvents(decodeExport('logs', body, encoding, deps.counts)), noun: 'log record(s)' },
  // Checked whole, then left uncounted: every emitter known to send metrics sends per-call records
  // too, which the metrics only repeat (docs/agents.md). Counting them for an emitter that sends
  // none would map the decoded points here.
  metrics: {
    toEvents: (body, encoding, deps) => {
      decodeExport('metrics', body, encoding, deps.counts);
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
 * Decodes, maps and prepares one export. Synchronous, so the body is garbage once it returns and a
 * request waiting for its commit holds only its records (see `prepare`), and, when forwarding, the
 * body as its outbox entry: it is the forward copy, committed with the records.
 */
export function prepareExport(signal: Signal, body: Buffer, encoding: OtlpEncoding, principal: Principal, deps: IngestDeps): Prepared & { rejection?: Rejection } {
  const receiver = RECEIVERS[signal];
  const mapped = receiver.toEvents(body, encoding, deps, principal);
  if (mapped.length > deps.limits.maxEventsPerRequest) {
    throw new ApiError(413, 'too_many_events', `${mapped.length} ${receiver.noun} with usage exceed the limit of ${deps.limits.maxEventsPerRequest} per request (MAX_EVENTS_PER_REQUEST)`);
  }
  const batch: Prepared = prepare(applyProjectScope(validateEvents(mapped.map((e) => e.input), ''), principal, ''), mapped.length, deps.pricer);
  // The whole request is forwarded, records without usage and with invalid usage too: it was accepted.
  if (deps.forward?.signals.has(signal) && body.length > 0) batch.extras = { outbox: [{ signal, encoding, body: ownBytes(body) }] };
  if (batch.rejected === 0) return batch;
  return { ...batch, rejection: { rejected: batch.rejected, errorMessage: describeRejections(batch.errors, mapped, batch.rejected, receiver.noun) } };
}

/**
 * The body as bytes of its own: one that is a view into a larger buffer (Node's pool, a gRPC frame)
 * would keep that buffer alive while it waits, and be cloned with all of it to the insert thread.
 */
function ownBytes(body: Buffer): Buffer {
  if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) return body;
  // Unpooled, unlike Buffer.from, which would put a small copy into the pool again.
  const own = Buffer.allocUnsafeSlow(body.length);
  body.copy(own);
  return own;
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
