import { flat } from './flat-string.js';

/**
 * What the collector remembers of the usage spans it read lately, so that the spans of one model
 * call are counted once even when they reach it in different requests: an exporter sends a span when
 * it ends, so a parent often comes after its children (and with a SimpleSpanProcessor always does),
 * and an instrumentation's copy of a call may sit in another trace than the SDK's own span.
 *
 * In memory only and bounded (least recently written first out): a restart forgets it, and so does
 * another collector instance. docs/otel.md says what that costs.
 */

/** Traces whose span ids with usage beneath them are remembered... */
export const MAX_REMEMBERED_TRACES = 10_000;
/** ...and span ids in all of them together, and per trace (a long agent session is one trace). */
export const MAX_REMEMBERED_SPAN_IDS = 100_000;
const MAX_SPANS_PER_TRACE = 1_024;
const MAX_PARTITIONS_PER_SPAN = 4;
/** Model calls remembered, to recognise another span of the same call; per key (partition, resource, input). */
export const MAX_REMEMBERED_CALLS = 10_000;
const MAX_CALLS_PER_KEY = 8;
/** Spans (and scopes) remembered per call: a call has one span per instrumentation. */
const MAX_SPANS_PER_CALL = 8;
/**
 * Texts a client sends (project, model, scope, response id) are cut to this length before they are
 * remembered, so a hostile span cannot make the memory large. A valid event's texts are no longer.
 */
export const MAX_REMEMBERED_TEXT = 256;

/**
 * A Map that drops its least recently written entries beyond `maxEntries`, or beyond `maxWeight`
 * summed over the entries' weights (what each holds). Reads do not refresh.
 *
 * The oldest entry is taken from one iterator, made at the first eviction and kept. V8 leaves a
 * deleted entry's slot empty in place until the table is rebuilt, and a new iterator starts at the
 * first slot: one per eviction walked past every entry evicted since the last rebuild, so a full
 * memory cost 26 µs a usage span where it now costs 7 (docs/benchmarks.md, "The span memory's
 * evictions, session 29"). The kept one only ever passes entries it returned, which were then
 * deleted; a rewritten entry is inserted again after it. An iterator holds every table it has not
 * moved past yet, so it is made only once the map is full (not holding the smaller tables the map
 * grew through), and let go after a table's worth of rewrites with no eviction between (which
 * rebuild the table without moving it): the next one then walks at most that many empty slots.
 */
class LruMap<K, V> {
  private readonly map = new Map<K, { value: V; weight: number }>();
  private oldest: MapIterator<[K, { value: V; weight: number }]> | undefined;
  /** Entries written again since the last eviction. */
  private rewrites = 0;
  private weight = 0;
  constructor(private readonly maxEntries: number, private readonly maxWeight = maxEntries) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  set(key: K, value: V, weight = 1): void {
    let entry = this.map.get(key);
    if (entry) {
      this.weight -= entry.weight;
      this.map.delete(key);
      entry.value = value;
      entry.weight = weight;
      if (++this.rewrites > this.maxEntries) this.oldest = undefined;
    } else entry = { value, weight };
    this.map.set(key, entry);
    this.weight += weight;
    while (this.map.size > this.maxEntries || this.weight > this.maxWeight) {
      this.rewrites = 0;
      const [oldestKey, oldest] = (this.oldest ??= this.map.entries()).next().value!;
      this.map.delete(oldestKey);
      this.weight -= oldest.weight;
    }
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
  /** A digest of the resource's attributes: the spans of one call come from one process. */
  resource: string;
  /** Request and response model names on the span. */
  models: readonly string[];
  responseId: string | undefined;
  /** The input count as mapped (a client's invalid value too, as text). */
  inputTokens: string;
  startNanos: bigint;
  endNanos: bigint;
}

/**
 * A call's members and scopes are short lists (at most MAX_SPANS_PER_CALL), not a Map and a Set: a
 * span is compared with every call of its key, and most calls are passed over by `memberBits` alone,
 * without reading their members (docs/benchmarks.md, "OTLP spans main thread, session 14").
 */
interface Call {
  /** The keys of the call's spans, oldest first, and whether each was the one counted. A retried span gets the same verdict. */
  members: string[];
  verdicts: boolean[];
  /** The `keyBit`s of its members, or'ed: a key whose bit is not set is no member. */
  memberBits: number;
  /** Scopes of its spans, each once, oldest first. */
  scopes: string[];
  /** The provider's id for the call, once a span named it: spans naming another id are another call. */
  responseId: string | undefined;
  models: readonly string[];
  startNanos: bigint;
  endNanos: bigint;
}

export class SpanMemory {
  /** trace id → span id → partitions in which that span has usage beneath it. */
  private readonly traces = new LruMap<string, LruMap<string, string[]>>(MAX_REMEMBERED_TRACES, MAX_REMEMBERED_SPAN_IDS);
  /** One instance of each partition name, however many span ids it is remembered for. */
  private readonly partitions = new LruMap<string, string>(1_000);
  private readonly calls = new LruMap<string, Call[]>(MAX_REMEMBERED_CALLS, MAX_REMEMBERED_CALLS);
  private readonly responses = new LruMap<string, Call>(MAX_REMEMBERED_CALLS);

  /** The partitions in which a span with usage was seen beneath this span id (usually none). */
  usageBelow(traceId: string, spanId: string): readonly string[] | undefined {
    return this.traces.get(traceId)?.get(spanId);
  }

  rememberUsageBelow(traceId: string, spanId: string, partition: string): void {
    const spans = this.traces.get(traceId) ?? new LruMap<string, string[]>(MAX_SPANS_PER_TRACE);
    const partitions = spans.get(spanId) ?? [];
    if (partitions.includes(partition)) return;
    let name = this.partitions.get(partition);
    if (name === undefined) this.partitions.set(partition, (name = partition));
    if (partitions.push(name) > MAX_PARTITIONS_PER_SPAN) partitions.shift();
    spans.set(spanId, partitions);
    this.traces.set(traceId, spans, spans.size);
  }

  /**
   * Whether this span is the one to count for its model call: true for the first span of a call (and
   * that span's retries), false for another span of a call already seen. Two spans are one call when
   * they share a response id, or when they come from the same partition and resource, from different
   * instrumentation scopes, with the same input count and a model name in common, at overlapping times.
   * Each call takes at most one span per scope, so two identical calls made at once stay two.
   */
  call(span: CallSpan): boolean {
    const bit = keyBit(span.key);
    const byResponse = span.responseId === undefined ? undefined : flat(`${span.partition}\n${span.responseId}`);
    const known = byResponse === undefined ? undefined : this.responses.get(byResponse);
    if (known) return this.join(known, span, bit);

    const key = flat(`${span.partition}\n${span.resource}\n${span.inputTokens}`);
    const calls = this.calls.get(key);
    const same = calls === undefined ? undefined : sameCall(calls, span, bit);
    if (same) {
      if (byResponse !== undefined) this.responses.set(byResponse, same);
      return this.join(same, span, bit);
    }
    const call: Call = {
      members: [span.key], verdicts: [true], memberBits: bit, scopes: [span.scope], responseId: span.responseId,
      models: span.models, startNanos: span.startNanos, endNanos: span.endNanos,
    };
    const kept = calls ?? [];
    if (kept.push(call) > MAX_CALLS_PER_KEY) kept.shift();
    this.calls.set(key, kept, kept.length);
    if (byResponse !== undefined) this.responses.set(byResponse, call);
    return true;
  }

  private join(call: Call, span: CallSpan, bit: number): boolean {
    const member = call.memberBits & bit ? call.members.indexOf(span.key) : -1;
    if (member >= 0) return call.verdicts[member]!;
    call.memberBits |= bit;
    // One more of each at most: the oldest goes.
    if (call.members.push(span.key) > MAX_SPANS_PER_CALL) {
      call.members.shift();
      call.memberBits = 0;
      for (const key of call.members) call.memberBits |= keyBit(key);
    }
    if (call.verdicts.push(false) > MAX_SPANS_PER_CALL) call.verdicts.shift();
    if (!call.scopes.includes(span.scope) && call.scopes.push(span.scope) > MAX_SPANS_PER_CALL) call.scopes.shift();
    call.responseId ??= span.responseId;
    return false;
  }
}

/**
 * One of 32 bits for a span key, from all its characters (which reading flattens, see flat-string.ts:
 * a key is compared with the members of every call of its key).
 */
function keyBit(key: string): number {
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (Math.imul(hash, 31) + key.charCodeAt(i)) | 0;
  return 1 << (hash & 31);
}

/** The call of the same key that this span is (again), else the one it is another span of; `bit`: the span key's. */
function sameCall(calls: readonly Call[], span: CallSpan, bit: number): Call | undefined {
  for (const call of calls) if (call.memberBits & bit && call.members.includes(span.key)) return call;
  for (const call of calls) {
    if (call.scopes.includes(span.scope) || (call.responseId !== undefined && span.responseId !== undefined) || !overlaps(call, span)) continue;
    for (const model of call.models) if (span.models.includes(model)) return call;
  }
  return undefined;
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
