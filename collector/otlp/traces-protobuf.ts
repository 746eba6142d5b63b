import type { AttributeValue, Attributes } from './common.js';
import { SPAN_FIELDS, SPAN_OR_RESOURCE_FIELDS, SPAN_RULE_ATTRIBUTES, TAG_PREFIX, TOKEN_ATTRIBUTES } from './mapping.js';
import { scalarValue } from './any-value-reader.js';
import { hex, idIssue, MISSING_KEY, Wire, WireType, type Issue } from './protobuf-reader.js';
import { readExport } from './export-reader.js';
import type { TraceSpan } from './request.js';
import type { Steps } from './steps.js';
import { sameBytes, WireNames } from './wire-names.js';

/**
 * An `ExportTraceServiceRequest` in protobuf → its spans, read from the wire (protobuf-reader.ts)
 * with the result of `ExportTraceRequest` over protobufjs's object, except that a span keeps only
 * the attributes the span rules read (spans.ts): a span with usage those of SPAN_RULE_ATTRIBUTES and
 * the tags, any other its operation, agent name and project; and a span with none of those has no
 * name and no times (nothing reads them). A span's attribute keys are compared as bytes first (wire-names.ts), and
 * only those the rules may keep are decoded with their values. Most spans of an agent's trace carry no usage (tool
 * calls, HTTP, files), and are then a few ids.
 */

/** Flags of a key: a usage count; read of a span with usage; read of any other span. */
const USAGE = 1, READ = 2, KEPT_OF_OTHERS = 4;
const NAMES = new Map<string, number>();
const flag = (names: Iterable<string>, bit: number) => {
  for (const name of names) NAMES.set(name, (NAMES.get(name) ?? 0) | bit);
};
flag(Object.values(TOKEN_ATTRIBUTES).flat(), USAGE);
flag(SPAN_RULE_ATTRIBUTES, READ);
flag([...SPAN_FIELDS.operation, ...SPAN_FIELDS.agent_id, ...SPAN_OR_RESOURCE_FIELDS.project], KEPT_OF_OTHERS);
/** A span's key names, shared by every request: the name a lookup leaves is read right after it, with no pause between. */
const spanKeys = new WireNames(NAMES, TAG_PREFIX, READ);

/** What a span without kept attributes has: never written to. */
const NO_ATTRIBUTES: Attributes = new Map();

const tag = (field: number, wire: WireType) => (field << 3) | wire;
const LENGTH = (field: number) => tag(field, WireType.Length);

// Span and Status (trace.proto), KeyValue (common.proto).
const TRACE_ID = LENGTH(1), SPAN_ID = LENGTH(2), PARENT_SPAN_ID = LENGTH(4), NAME = LENGTH(5), KIND = tag(6, WireType.Varint);
const START = tag(7, WireType.Fixed64), END = tag(8, WireType.Fixed64), ATTRIBUTES = LENGTH(9), STATUS = LENGTH(15);
const STATUS_CODE = tag(3, WireType.Varint);
const KEY = LENGTH(1), VALUE = LENGTH(2);

export function* traceSpanSteps(body: Buffer): Steps<TraceSpan[]> {
  const r = new Wire(body);
  return yield* readSpans(r, { pass: (wire, t) => wire.skip(t & 7), again: r });
}

/** Where a field that the reader passes over lies: its message (`Value`: an attribute's AnyValue). */
export const enum Within { Span, Attribute, Status, Value }

/**
 * How the reader passes over what it does not read of a span as it walks it (every field but the
 * ids, kind, times, KeyValues, status code and the scalar values of the keys the rules may keep; the
 * name and the keys, which it reads again later if at all): skipped in a scanned body; walked by the
 * scan's rules in the one pass (traces-one-pass.ts), whose `CheckedWire` checks the rest.
 */
export interface PassedFields {
  /** The field tagged `t`, from `r.pos` just after its tag, of the message `within` that ends at `end`. */
  pass(r: Wire, t: number, within: Within, end: number): void;
  /** Reads again what was passed over, from bytes already checked. */
  again: Wire;
}

/** The spans of the request that `r` reads. */
export function* readSpans(r: Wire, fields: PassedFields): Steps<TraceSpan[]> {
  const spans: TraceSpan[] = [];
  const read = new SpanReader(fields);
  try {
    yield* readExport<AttributeValue, Map<string, AttributeValue>>(r, {
      names: ['resourceSpans', 'scopeSpans', 'spans'],
      attribute: (wire, end, into) => scalarKeyValue(wire, end, into, undefined),
      resource: (attributes) => attributes,
      record: (wire, end, resource, named, path) => read.span(wire, end, resource, named, path, spans),
    });
  } finally {
    read.letGo();
  }
  return spans;
}

/** What a span reader holds once its request is read: no reader of the body. */
const LET_GO: PassedFields = { pass: () => {}, again: new Wire(Buffer.alloc(0)) };

/** An id as lowercase hex; one equal to the id read before it (the spans of a trace share theirs) is not made again. */
class IdReader {
  private start = 0;
  private length = -1;
  private text = '';

  read(r: Wire, end: number): string {
    const { buf, pos } = r;
    r.pos = end;
    if (end - pos === this.length && sameBytes(buf, pos, buf, this.start, this.length)) return this.text;
    this.start = pos;
    this.length = end - pos;
    return (this.text = buf.toString('hex', pos, end));
  }
}

/** Reads the spans of one request; where a span's KeyValues lie is kept from span to span. */
class SpanReader {
  private readonly traceIds = new IdReader();
  private readonly parentIds = new IdReader();
  private starts: number[] = [];
  private ends: number[] = [];
  private flags: number[] = [];
  private names: string[] = [];
  /** Each KeyValue's value when it was read as its key was checked (`read`); else it is read again if kept. */
  private values: (AttributeValue | undefined)[] = [];
  private read: boolean[] = [];
  private length = 0;
  private readonly passValue = (r: Wire, tag: number, end: number): void => this.fields.pass(r, tag, Within.Value, end);

  constructor(private fields: PassedFields) {}

  /**
   * Lets go of the readers of the body. After its request, V8's young-generation collections still
   * find this reader through `passValue` (held by V8 itself, not by our code), and so kept every body
   * until the next full collection: external memory up to 23-28 MiB instead of 14-16 under the mixed
   * trace load, peak RSS +10 MB (docs/benchmarks.md, "Peak memory, session 18").
   */
  letGo(): void {
    this.fields = LET_GO;
  }

  span(
    r: Wire, end: number, resource: Map<string, AttributeValue>, named: { name: string; version: string }, path: string, spans: TraceSpan[],
  ): Issue | undefined {
    const { fields } = this;
    let traceId = '', spanId = '', parentSpanId = '';
    let kind = 0, statusCode = 0;
    // Where the name's length and the times lie (-1: not sent), read again for a span with kept attributes.
    let nameAt = -1, startAt = -1, endAt = -1;
    this.length = 0;
    while (r.pos < end) {
      const t = r.tag();
      switch (t) {
        case TRACE_ID: traceId = this.traceIds.read(r, r.end()); break;
        case SPAN_ID: spanId = hex(r, r.end()); break;
        case PARENT_SPAN_ID: parentSpanId = this.parentIds.read(r, r.end()); break;
        case NAME: nameAt = r.pos; fields.pass(r, t, Within.Span, end); break;
        case KIND: kind = r.int32(); break;
        case START: startAt = r.pos; r.skip(WireType.Fixed64); break;
        case END: endAt = r.pos; r.skip(WireType.Fixed64); break;
        case ATTRIBUTES: {
          const kvEnd = r.end();
          this.starts[this.length] = r.pos;
          this.ends[this.length++] = kvEnd;
          r.pos = kvEnd;
          break;
        }
        case STATUS: {
          const statusEnd = r.end();
          while (r.pos < statusEnd) {
            const s = r.tag();
            if (s === STATUS_CODE) statusCode = r.int32();
            else fields.pass(r, s, Within.Status, statusEnd);
          }
          r.atEnd(statusEnd);
          break;
        }
        default: fields.pass(r, t, Within.Span, end);
      }
    }
    r.atEnd(end);
    const idProblem = idIssue(traceId, 16, 'traceId', true) ?? idIssue(spanId, 8, 'spanId', true) ?? idIssue(parentSpanId, 8, 'parentSpanId', false);
    if (idProblem) return idProblem;

    // The keys first: a span with a usage count keeps what the rules read of a call, any other what they read of an ancestor.
    let all = 0;
    for (let k = 0; k < this.length; k++) {
      r.pos = this.starts[k]!;
      const flags = this.keyValue(r, this.ends[k]!, k);
      if (flags < 0) return { path: ['attributes', k, 'key'], message: MISSING_KEY };
      this.flags[k] = flags;
      if (flags !== 0) this.names[k] = spanKeys.name;
      all |= flags;
    }
    const { again } = fields;
    const wanted = all & USAGE ? READ : KEPT_OF_OTHERS;
    let attributes = NO_ATTRIBUTES;
    if (all & wanted) {
      const kept = new Map<string, AttributeValue>();
      for (let k = 0; k < this.length; k++) {
        if ((this.flags[k]! & wanted) === 0) continue;
        if (this.read[k]) {
          const value = this.values[k];
          if (value !== undefined) kept.set(this.names[k]!, value);
          continue;
        }
        again.pos = this.starts[k]!;
        scalarKeyValue(again, this.ends[k]!, kept, this.names[k]);
      }
      attributes = kept;
    }
    // Only a span with kept attributes can be a call, whose times are read, or an agent, whose name is.
    const kept = attributes !== NO_ATTRIBUTES;
    let name = '';
    if (kept && nameAt >= 0) {
      again.pos = nameAt;
      // The spans of an instrumentation repeat a few names (`chat gpt-4o`).
      name = again.recurring(again.end());
    }
    const startNanos = kept && startAt >= 0 ? fixed64At(again, startAt) : 0n;
    const endNanos = kept && endAt >= 0 ? fixed64At(again, endAt) : 0n;
    spans.push({
      path, traceId, spanId, parentSpanId, name, kind, startNanos, endNanos, statusCode,
      attributes, scope: named, resource,
    });
    return undefined;
  }

  /**
   * The flags of the k-th KeyValue's key, the last one sent (spanKeys.name then holds it when kept);
   * -1 when it has none or an empty one. Its value is read as it comes when the key before it is one
   * the rules may keep (nearly always: a key comes before its value), and passed over otherwise.
   */
  private keyValue(r: Wire, end: number, k: number): number {
    const { fields } = this;
    let flags = -1;
    let value: AttributeValue | undefined;
    let read = true;
    while (r.pos < end) {
      const t = r.tag();
      if (t === VALUE && flags > 0) {
        value = scalarValue(r, r.end(), value, this.passValue);
        continue;
      }
      if (t === VALUE) read = false;
      if (t !== KEY) {
        fields.pass(r, t, Within.Attribute, end);
        continue;
      }
      const at = r.pos;
      const keyEnd = r.end();
      const keyStart = r.pos;
      flags = keyEnd === keyStart ? -1 : spanKeys.flags(r.buf, keyStart, keyEnd);
      // A key that is one of the table's names needs no check: its bytes are that name's.
      if (flags > 0 && spanKeys.known) r.pos = keyEnd;
      else {
        r.pos = at;
        fields.pass(r, t, Within.Attribute, end);
      }
    }
    r.atEnd(end);
    this.values[k] = value;
    this.read[k] = read;
    return flags;
  }
}

/** The fixed64 at `at`, read as the wire reads one (Buffer's readBigUInt64LE builds it from four BigInts). */
function fixed64At(r: Wire, at: number): bigint {
  r.pos = at;
  return r.fixed64();
}

/**
 * A KeyValue into `into` when its value is a scalar (the last one of a key wins; others are left
 * out); `key` when already read. Its issue: a missing key.
 */
function scalarKeyValue(r: Wire, end: number, into: Map<string, AttributeValue>, key: string | undefined): Issue | undefined {
  let name = key ?? '';
  let value: AttributeValue | undefined;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === KEY && key === undefined) name = r.recurring(r.end());
    else if (t === VALUE) value = scalarValue(r, r.end(), value);
    else r.skip(t & 7);
  }
  if (name === '') return { path: ['key'], message: MISSING_KEY };
  if (value !== undefined) into.set(name, value);
  return undefined;
}
