/**
 * What the collector remembers of the usage spans it read lately, so that the spans of one model
 * call are counted once even when they reach it in different requests: an exporter sends a span when
 * it ends, so a parent often comes after its children (and with a SimpleSpanProcessor always does),
 * and an instrumentation's copy of a call may sit in another trace than the SDK's own span.
 *
 * In memory only and bounded (least recently written first out): a restart forgets it, and so does
 * another collector instance. docs/otel.md says what that costs.
 */

/** Traces whose span ids with usage beneath them are remembered. */
export const MAX_REMEMBERED_TRACES = 10_000;
/** Span ids remembered per trace (a long agent session is one trace). */
const MAX_SPANS_PER_TRACE = 1_024;
/** Model calls remembered, to recognise another span of the same call. */
export const MAX_REMEMBERED_CALLS = 10_000;
/** Calls remembered under one key (same partition, resource and input count). */
const MAX_CALLS_PER_KEY = 8;

/** A Map that drops its least recently written entry beyond `capacity`. Reads do not refresh. */
class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
}

/** One span with usage as `call()` compares it with the calls already seen. */
export interface CallSpan {
  /** Trace id + span id: the event id, the same for a retried span. */
  key: string;
  /** Whose spans these are: the key's project scope and the span's project (see spans.ts). */
  partition: string;
  /** The emitting instrumentation: one call never gives two spans of the same scope. */
  scope: string;
  /** The resource's attributes in a canonical form: the spans of one call come from one process. */
  resource: string;
  /** Request and response model names on the span. */
  models: readonly string[];
  responseId: string | undefined;
  inputTokens: unknown;
  startNanos: bigint;
  endNanos: bigint;
}

interface Call {
  /** Span key → whether that span was the one counted. A retried span gets the same verdict. */
  members: Map<string, boolean>;
  scopes: Set<string>;
  /** The provider's id for the call, once a span named it: spans naming another id are another call. */
  responseId: string | undefined;
  models: readonly string[];
  startNanos: bigint;
  endNanos: bigint;
}

export class SpanMemory {
  /** trace id → span id → partitions in which that span has usage beneath it. */
  private readonly traces = new LruMap<string, Map<string, string[]>>(MAX_REMEMBERED_TRACES);
  private readonly calls = new LruMap<string, Call[]>(MAX_REMEMBERED_CALLS);
  private readonly responses = new LruMap<string, Call>(MAX_REMEMBERED_CALLS);

  /** The partitions in which a span with usage was seen beneath this span id (usually none). */
  usageBelow(traceId: string, spanId: string): readonly string[] | undefined {
    return this.traces.get(traceId)?.get(spanId);
  }

  rememberUsageBelow(traceId: string, spanId: string, partition: string): void {
    let spans = this.traces.get(traceId);
    const partitions = spans?.get(spanId);
    if (partitions?.includes(partition)) return;
    if (!spans) spans = new Map();
    if (partitions) partitions.push(partition);
    else {
      spans.set(spanId, [partition]);
      if (spans.size > MAX_SPANS_PER_TRACE) spans.delete(spans.keys().next().value!);
    }
    this.traces.set(traceId, spans);
  }

  /**
   * Whether this span is the one to count for its model call: true for the first span of a call (and
   * that span's retries), false for another span of a call already seen. Two spans are one call when
   * they share a response id, or when they come from the same partition and resource, from different
   * instrumentation scopes, with the same input count and a model name in common, at overlapping times.
   * Each call takes at most one span per scope, so two identical calls made at once stay two.
   */
  call(span: CallSpan): boolean {
    const byResponse = span.responseId === undefined ? undefined : `${span.partition}\n${span.responseId}`;
    const known = byResponse === undefined ? undefined : this.responses.get(byResponse);
    if (known) return this.join(known, span);

    const key = `${span.partition}\n${span.resource}\n${String(span.inputTokens)}`;
    const calls = this.calls.get(key) ?? [];
    const same = calls.find((c) => c.members.has(span.key))
      ?? calls.find((c) => !c.scopes.has(span.scope) && (c.responseId === undefined || span.responseId === undefined)
        && overlaps(c, span) && c.models.some((m) => span.models.includes(m)));
    if (same) {
      if (byResponse !== undefined) this.responses.set(byResponse, same);
      return this.join(same, span);
    }
    const call: Call = {
      members: new Map([[span.key, true]]), scopes: new Set([span.scope]), responseId: span.responseId,
      models: span.models, startNanos: span.startNanos, endNanos: span.endNanos,
    };
    this.calls.set(key, [...calls.slice(1 - MAX_CALLS_PER_KEY), call]);
    if (byResponse !== undefined) this.responses.set(byResponse, call);
    return true;
  }

  private join(call: Call, span: CallSpan): boolean {
    const verdict = call.members.get(span.key);
    if (verdict !== undefined) return verdict;
    call.members.set(span.key, false);
    call.scopes.add(span.scope);
    call.responseId ??= span.responseId;
    return false;
  }
}

function overlaps(call: Call, span: CallSpan): boolean {
  const end = (start: bigint, end: bigint) => (end > start ? end : start);
  return call.startNanos <= end(span.startNanos, span.endNanos) && span.startNanos <= end(call.startNanos, call.endNanos);
}

const memories = new WeakMap<object, SpanMemory>();

/**
 * The memory of one collector: keyed by its batch writer, which every front (HTTP, gRPC) of the
 * collector shares, so spans are remembered whichever way they came.
 */
export function spanMemoryOf(writer: object): SpanMemory {
  let memory = memories.get(writer);
  if (!memory) memories.set(writer, (memory = new SpanMemory()));
  return memory;
}
