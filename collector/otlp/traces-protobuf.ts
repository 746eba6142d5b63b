import type { AttributeValue, Attributes } from './common.js';
import { SPAN_FIELDS, SPAN_OR_RESOURCE_FIELDS, SPAN_RULE_ATTRIBUTES, TAG_PREFIX, TOKEN_ATTRIBUTES } from './mapping.js';
import { hex, idIssue, MISSING_KEY, scalarValue, Wire, WireType, type Issue } from './protobuf-reader.js';
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
 * only those kept are decoded with their values. Most spans of an agent's trace carry no usage (tool
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
  const spans: TraceSpan[] = [];
  const read = new SpanReader();
  yield* readExport<AttributeValue, Map<string, AttributeValue>>(new Wire(body), {
    names: ['resourceSpans', 'scopeSpans', 'spans'],
    attribute: (r, end, into) => scalarKeyValue(r, end, into, undefined),
    resource: (attributes) => attributes,
    record: (r, end, resource, named, path) => read.span(r, end, resource, named, path, spans),
  });
  return spans;
}

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
  private length = 0;

  span(
    r: Wire, end: number, resource: Map<string, AttributeValue>, named: { name: string; version: string }, path: string, spans: TraceSpan[],
  ): Issue | undefined {
    let traceId = '', spanId = '', parentSpanId = '';
    let nameStart = 0, nameEnd = 0, kind = 0, statusCode = 0;
    // Where the times lie (-1: not sent), read with the name.
    let startAt = -1, endAt = -1;
    this.length = 0;
    while (r.pos < end) {
      const t = r.uint32();
      switch (t) {
        case TRACE_ID: traceId = this.traceIds.read(r, r.end()); break;
        case SPAN_ID: spanId = hex(r, r.end()); break;
        case PARENT_SPAN_ID: parentSpanId = this.parentIds.read(r, r.end()); break;
        case NAME: nameEnd = r.end(); nameStart = r.pos; r.pos = nameEnd; break;
        case KIND: kind = r.int32(); break;
        case START: startAt = r.pos; r.pos += 8; break;
        case END: endAt = r.pos; r.pos += 8; break;
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
            const s = r.uint32();
            if (s === STATUS_CODE) statusCode = r.int32();
            else r.skip(s & 7);
          }
          break;
        }
        default: r.skip(t & 7);
      }
    }
    const idProblem = idIssue(traceId, 16, 'traceId', true) ?? idIssue(spanId, 8, 'spanId', true) ?? idIssue(parentSpanId, 8, 'parentSpanId', false);
    if (idProblem) return idProblem;

    // The keys first: a span with a usage count keeps what the rules read of a call, any other what they read of an ancestor.
    let all = 0;
    for (let k = 0; k < this.length; k++) {
      r.pos = this.starts[k]!;
      const flags = keyFlags(r, this.ends[k]!);
      if (flags < 0) return { path: ['attributes', k, 'key'], message: MISSING_KEY };
      this.flags[k] = flags;
      if (flags !== 0) this.names[k] = spanKeys.name;
      all |= flags;
    }
    const wanted = all & USAGE ? READ : KEPT_OF_OTHERS;
    let attributes = NO_ATTRIBUTES;
    if (all & wanted) {
      const kept = new Map<string, AttributeValue>();
      for (let k = 0; k < this.length; k++) {
        if ((this.flags[k]! & wanted) === 0) continue;
        r.pos = this.starts[k]!;
        scalarKeyValue(r, this.ends[k]!, kept, this.names[k]);
      }
      attributes = kept;
    }
    // Only a span with kept attributes can be a call, whose times are read, or an agent, whose name is.
    const kept = attributes !== NO_ATTRIBUTES;
    let name = '';
    if (kept) {
      r.pos = nameStart;
      // The spans of an instrumentation repeat a few names (`chat gpt-4o`).
      name = r.recurring(nameEnd);
    }
    const startNanos = kept && startAt >= 0 ? fixed64At(r, startAt) : 0n;
    const endNanos = kept && endAt >= 0 ? fixed64At(r, endAt) : 0n;
    spans.push({
      path, traceId, spanId, parentSpanId, name, kind, startNanos, endNanos, statusCode,
      attributes, scope: named, resource,
    });
    return undefined;
  }
}

/** The fixed64 at `at`, read as the wire reads one (Buffer's readBigUInt64LE builds it from four BigInts). */
function fixed64At(r: Wire, at: number): bigint {
  r.pos = at;
  return r.fixed64();
}

/** The flags of a KeyValue's key, the last one sent (spanKeys.name then holds it when kept); -1 when it has none or an empty one. */
function keyFlags(r: Wire, end: number): number {
  let keyStart = 0, keyEnd = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === KEY) {
      keyEnd = r.end();
      keyStart = r.pos;
      r.pos = keyEnd;
    } else r.skip(t & 7);
  }
  return keyEnd === keyStart ? -1 : spanKeys.flags(r.buf, keyStart, keyEnd);
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
