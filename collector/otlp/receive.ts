import type { Principal } from '../../src/auth/keys.js';
import type { UsageRecord } from '../../src/event/schema.js';
import { MAX_LISTED_ERRORS, validateEvent, type EventError } from '../../src/event/validate.js';
import { ApiError, storageUnavailable } from '../../src/http/errors.js';
import type { OutboxEntry } from '../../src/store/types.js';
import type { IngestDeps } from '../app.js';
import { commit, priced, scopeEvent, type Prepared } from '../ingest.js';
import { decodeSteps, scanProtobuf, type OtlpEncoding } from './decode.js';
import { logEventSteps, onePassLogEventSteps, wireLogEventSteps } from './log-records.js';
import { LongStrings, TOO_LONG } from './long-strings.js';
import type { MappedEvent } from './mapping.js';
import { countPoints, cumulativeStreams, streamPoints, type StreamPoint } from './metric-points.js';
import { spanMemoryOf } from './span-memory.js';
import { spanEventSteps } from './spans.js';
import { RECORDS_PER_STEP, runInSlices, type Steps } from './steps.js';
import { streamLocksOf } from './stream-locks.js';
import { onePassSpanSteps } from './traces-one-pass.js';

/**
 * One OTLP export as both fronts (HTTP and gRPC) receive it: bytes in one encoding → the signal's
 * records → usage events → validate → project scope → price → queue → durable commit. Nothing in
 * here knows which front or encoding the request came by.
 */

export type Signal = 'traces' | 'logs' | 'metrics';

/** Where a request's usage events go, one at a time, as soon as each is mapped. */
type EachEvent = (event: MappedEvent) => void;

interface EventSink {
  add: EachEvent;
  /** Drops the events added so far: the request is read again from its start. */
  restart(): void;
}

interface SignalReceiver {
  /**
   * Bytes → each usage event the signal's records carry, handed to `events` (the rest are ignored, not
   * rejected); the strings too long to decode noted in `long`.
   */
  eachEvent(body: Buffer, encoding: OtlpEncoding, deps: IngestDeps, principal: Principal, events: EventSink, long: LongStrings): Steps<void>;
  /** What the records are called in messages: `span(s)`. */
  noun: string;
}

const RECEIVERS: Record<Signal, SignalReceiver> = {
  traces: {
    *eachEvent(body, encoding, deps, principal, events, long) {
      const spans = (encoding === 'protobuf' ? yield* onePassSpanSteps(body, deps.counts) : undefined)
        ?? (yield* decodeSteps('traces', body, encoding, deps.counts, long));
      for (const event of yield* spanEventSteps(spans, spanMemoryOf(deps.writer), principal.projects)) events.add(event);
    },
    noun: 'span(s)',
  },
  logs: {
    *eachEvent(body, encoding, deps, _principal, events, long) {
      if (encoding === 'json') return yield* logEventSteps(yield* decodeSteps('logs', body, encoding, deps.counts, long), events.add);
      if (yield* onePassLogEventSteps(body, deps.counts, events.add)) return;
      events.restart();
      scanProtobuf('logs', body, deps.counts, long);
      yield;
      yield* wireLogEventSteps(body, events.add);
    },
    noun: 'log record(s)',
  },
  // Checked whole, then left uncounted: every emitter known to send metrics sends per-call records
  // too, which the metrics only repeat (docs/agents.md). Those COUNT_METRICS names are counted by
  // metricSteps instead.
  metrics: {
    *eachEvent(body, encoding, deps) {
      yield* decodeSteps('metrics', body, encoding, deps.counts);
    },
    noun: 'data point(s)',
  },
};

/** Metric points that count tokens, still to be counted against their streams (see metric-points.ts). */
interface PendingMetrics {
  points: StreamPoint[];
  principal: Principal;
  deps: IngestDeps;
  long: LongStrings;
}

/** `outbox`: the request's forward copy (docs/forwarding.md), committed with whatever it counts. */
export type PreparedExport = Prepared & { rejection?: Rejection; metrics?: PendingMetrics; outbox?: OutboxEntry[] };

/** A failed read of the streams' state, as the writer answers a failed commit: retry later. */
function unavailable(error: Error): never {
  throw storageUnavailable('data points not counted', error);
}

/** What an OTLP answer reports besides success: records with invalid usage that were not stored. */
export interface Rejection {
  rejected: number;
  errorMessage: string;
}

/** How many rejected records the partialSuccess message describes. */
const DESCRIBED_REJECTIONS = 5;

/**
 * Decodes, maps and prepares one export, in steps that give the event loop a turn every few
 * milliseconds (steps.ts). Once it resolves, a request waiting for its commit holds only its records
 * (see `prepare`) and, when forwarding, the body as its outbox entry: it is the forward copy,
 * committed with the records.
 */
export async function prepareExport(signal: Signal, body: Buffer, encoding: OtlpEncoding, principal: Principal, deps: IngestDeps): Promise<PreparedExport> {
  const batch = await runInSlices(recordSteps(signal, body, encoding, principal, deps));
  // The whole request is forwarded, records without usage and with invalid usage too: it was accepted.
  if (deps.forward?.signals.has(signal) && body.length > 0) batch.outbox = [{ signal, encoding, body: ownBytes(body) }];
  return batch;
}

function* recordSteps(signal: Signal, body: Buffer, encoding: OtlpEncoding, principal: Principal, deps: IngestDeps): Steps<PreparedExport> {
  if (signal === 'metrics' && deps.countMetrics) return yield* metricSteps(body, encoding, principal, deps);
  const receiver = RECEIVERS[signal];
  const long = new LongStrings();
  const preparation = new Preparation(receiver.noun, principal, deps, long);
  yield* receiver.eachEvent(body, encoding, deps, principal, preparation, long);
  return preparation.done();
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

function limitEvents(count: number, noun: string, deps: IngestDeps): void {
  if (count > deps.limits.maxEventsPerRequest) {
    throw new ApiError(413, 'too_many_events', `${count} ${noun} with usage exceed the limit of ${deps.limits.maxEventsPerRequest} per request (MAX_EVENTS_PER_REQUEST)`);
  }
}

/**
 * A request's events validated, scoped to the key's projects, normalised and priced one at a time,
 * as they are mapped: only the records to store are kept, so the mapped and validated forms of a
 * large request's events never pile up in memory together (the garbage collector would copy them
 * over and over). The outcome is `prepare`'s over the whole list: the same records, errors and paths.
 */
class Preparation implements EventSink {
  private records: UsageRecord[] = [];
  private errors: EventError[] = [];
  /** The events of the first rejections, by index: what the partialSuccess message describes. */
  private described = new Map<number, MappedEvent>();
  private count = 0;
  private readonly receivedAt = Date.now();

  constructor(
    private readonly noun: string, private readonly principal: Principal, private readonly deps: IngestDeps,
    /** Strings the records were read without: an event made from one of them is rejected. */
    private readonly long: LongStrings,
  ) {}

  readonly add = (mapped: MappedEvent): void => {
    const index = this.count++;
    // Past the limit the request gets a 413 naming how many there are: they are only counted.
    if (index >= this.deps.limits.maxEventsPerRequest) return;
    const listed = this.errors.length;
    const valid = this.notRefused(mapped, index) && validateEvent(mapped.input, index, '', this.errors);
    const event = valid && scopeEvent(valid, index, this.principal, '', this.errors);
    if (event) this.records.push(priced(event, this.receivedAt, this.deps.pricer));
    else if (listed < DESCRIBED_REJECTIONS) this.described.set(index, mapped);
  };

  restart(): void {
    this.records = [];
    this.errors = [];
    this.described = new Map();
    this.count = 0;
  }

  /** False, with the error listed, when the event's record is refused, or holds a string that was never read. */
  private notRefused(mapped: MappedEvent, index: number): boolean {
    const { field, message } = mapped.refused ?? { field: this.long.within(mapped.path), message: TOO_LONG };
    if (field === undefined) return true;
    // describeRejections names the record, then this path as the field.
    if (this.errors.length < MAX_LISTED_ERRORS) this.errors.push({ index, path: `[${index}].${field}`, message });
    return false;
  }

  done(): Prepared & { rejection?: Rejection } {
    limitEvents(this.count, this.noun, this.deps);
    const rejected = this.count - this.records.length;
    // The project scope's refusals join validation's, which stopped listing at the same bound.
    const batch = { records: this.records, rejected, errors: this.errors.slice(0, MAX_LISTED_ERRORS) };
    if (rejected === 0) return batch;
    return { ...batch, rejection: { rejected, errorMessage: describeRejections(batch.errors, this.described, rejected, this.noun) } };
  }
}

/** `Preparation` over events already mapped, a few at a time. */
function* mappedSteps(mapped: readonly MappedEvent[], noun: string, principal: Principal, deps: IngestDeps, long: LongStrings): Steps<Prepared & { rejection?: Rejection }> {
  const preparation = new Preparation(noun, principal, deps, long);
  for (let i = 0; i < mapped.length; i++) {
    preparation.add(mapped[i]!);
    if ((i + 1) % RECORDS_PER_STEP === 0) yield;
  }
  return preparation.done();
}

/** The points that count tokens, kept for the commit: what they count depends on their streams' state then. */
function* metricSteps(body: Buffer, encoding: OtlpEncoding, principal: Principal, deps: IngestDeps): Steps<PreparedExport> {
  const long = new LongStrings();
  const points = streamPoints(yield* decodeSteps('metrics', body, encoding, deps.counts, long), deps.countMetrics!, principal.projects);
  limitEvents(points.length, RECEIVERS.metrics.noun, deps);
  return { records: [], rejected: 0, errors: [], ...(points.length > 0 && { metrics: { points, principal, deps, long } }) };
}

/** Commits a prepared export; resolves, once durable, with its rejection (none when every record was fine). */
export function commitExport(batch: PreparedExport, writer: IngestDeps['writer']): Promise<Rejection | undefined> {
  const { rejection, outbox } = batch;
  if (batch.metrics) return commitMetrics(batch.metrics, writer, outbox);
  return commit(batch, writer, outbox && { outbox }).then(() => rejection);
}

/**
 * Counts the points against their streams' committed state and commits the events with the streams'
 * moves, in one transaction, holding the streams meanwhile (stream-locks.ts).
 */
function commitMetrics({ points, principal, deps, long }: PendingMetrics, writer: IngestDeps['writer'], outbox: OutboxEntry[] | undefined): Promise<Rejection | undefined> {
  const streams = cumulativeStreams(points);
  return streamLocksOf(writer).run(streams, async () => {
    const states = streams.length > 0 ? await deps.store.readMetricStreams(streams).catch(unavailable) : new Map();
    const { events, moves } = countPoints(points, states, Date.now());
    const extras = { ...(moves.length > 0 && { metricStreams: moves }), ...(outbox && { outbox }) };
    // Chained: a variable would hold the records through the commit (see `commit`).
    return runInSlices(mappedSteps(events, RECEIVERS.metrics.noun, principal, deps, long)).then(({ rejection, ...batch }) =>
      commit(batch, writer, Object.keys(extras).length > 0 ? extras : undefined).then(() => rejection));
  });
}

/** `span 4bf9…/00f0… (resourceSpans[0].scopeSpans[0].spans[2]) gen_ai.usage.input_tokens: must not be negative` */
function describeRejections(errors: readonly EventError[], mapped: ReadonlyMap<number, MappedEvent>, rejected: number, noun: string): string {
  const lines = errors.slice(0, DESCRIBED_REJECTIONS).map(({ index, path, message }) => {
    const { record, sources } = mapped.get(index)!;
    const field = path.replace(/^\[\d+\]\.?/, '');
    return `${record} ${sources[field] ?? (field || 'usage')}: ${message}`;
  });
  const unlisted = errors.length - DESCRIBED_REJECTIONS;
  const more = unlisted <= 0 ? '' : errors.length < MAX_LISTED_ERRORS ? `; and ${unlisted} more` : '; and more';
  return `${rejected} ${noun} with invalid GenAI usage were not stored: ${lines.join('; ')}${more}`;
}
