import type { AttributeValue } from './common.js';
import { SPAN_FIELDS, SPAN_OR_RESOURCE_FIELDS, TOKEN_ATTRIBUTES } from './mapping.js';
import { hex, idIssue, MISSING_KEY, readExport, scalarValue, Wire, WireType, type Issue } from './protobuf-reader.js';
import type { TraceSpan } from './request.js';
import type { Steps } from './steps.js';

/**
 * An `ExportTraceServiceRequest` in protobuf → its spans, read from the wire (protobuf-reader.ts)
 * with the result of `ExportTraceRequest` over protobufjs's object, except that a span without
 * usage keeps only the attributes the span rules read of it (spans.ts: its operation, agent name and
 * project). A span's attribute keys are read first; its values only when one of the keys is a usage
 * count. Most spans of an agent's trace carry none (tool calls, HTTP, files), and are then a few
 * ids and a name.
 */

/** The keys that make a span one with usage: every attribute of it is read. */
const USAGE_KEYS: ReadonlySet<string> = new Set(Object.values(TOKEN_ATTRIBUTES).flat());
/** What spans.ts reads of a span without usage (an ancestor of one, or an aggregate). */
const KEPT_OF_OTHERS: ReadonlySet<string> = new Set([...SPAN_FIELDS.operation, ...SPAN_FIELDS.agent_id, ...SPAN_OR_RESOURCE_FIELDS.project]);

const tag = (field: number, wire: WireType) => (field << 3) | wire;
const LENGTH = (field: number) => tag(field, WireType.Length);

// Span and Status (trace.proto), KeyValue (common.proto).
const TRACE_ID = LENGTH(1), SPAN_ID = LENGTH(2), PARENT_SPAN_ID = LENGTH(4), NAME = LENGTH(5), KIND = tag(6, WireType.Varint);
const START = tag(7, WireType.Fixed64), END = tag(8, WireType.Fixed64), ATTRIBUTES = LENGTH(9), STATUS = LENGTH(15);
const STATUS_CODE = tag(3, WireType.Varint);
const KEY = LENGTH(1), VALUE = LENGTH(2);

export function* traceSpanSteps(body: Buffer): Steps<TraceSpan[]> {
  const spans: TraceSpan[] = [];
  const kvs = new KeyValueRanges();
  yield* readExport<AttributeValue, Map<string, AttributeValue>>(body, {
    names: ['resourceSpans', 'scopeSpans', 'spans'],
    attribute: (r, end, into) => scalarKeyValue(r, end, into, undefined),
    resource: (attributes) => attributes,
    record: (r, end, resource, named, path) => span(r, end, resource, named, path, spans, kvs),
  });
  return spans;
}

/** Where a span's KeyValues lie, to read their keys before their values; reused from span to span. */
class KeyValueRanges {
  starts: number[] = [];
  ends: number[] = [];
  keys: string[] = [];
  length = 0;

  add(start: number, end: number): void {
    this.starts[this.length] = start;
    this.ends[this.length] = end;
    this.length++;
  }
}

function span(
  r: Wire, end: number, resource: Map<string, AttributeValue>, named: { name: string; version: string }, path: string, spans: TraceSpan[], kvs: KeyValueRanges,
): Issue | undefined {
  let traceId = '', spanId = '', parentSpanId = '', name = '';
  let kind = 0, statusCode = 0;
  let startNanos = 0n, endNanos = 0n;
  kvs.length = 0;
  while (r.pos < end) {
    const t = r.uint32();
    switch (t) {
      case TRACE_ID: traceId = hex(r, r.end()); break;
      case SPAN_ID: spanId = hex(r, r.end()); break;
      case PARENT_SPAN_ID: parentSpanId = hex(r, r.end()); break;
      case NAME: name = r.string(r.end()); break;
      case KIND: kind = r.int32(); break;
      case START: startNanos = r.fixed64(); break;
      case END: endNanos = r.fixed64(); break;
      case ATTRIBUTES: {
        const kvEnd = r.end();
        kvs.add(r.pos, kvEnd);
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

  // The keys first: a span with a usage count is read whole, any other only for what the rules read.
  let usage = false;
  for (let k = 0; k < kvs.length; k++) {
    r.pos = kvs.starts[k]!;
    const key = keyOf(r, kvs.ends[k]!);
    if (key === '') return { path: ['attributes', k, 'key'], message: MISSING_KEY };
    kvs.keys[k] = key;
    if (!usage && USAGE_KEYS.has(key)) usage = true;
  }
  const attributes = new Map<string, AttributeValue>();
  for (let k = 0; k < kvs.length; k++) {
    const key = kvs.keys[k]!;
    if (!usage && !KEPT_OF_OTHERS.has(key)) continue;
    r.pos = kvs.starts[k]!;
    scalarKeyValue(r, kvs.ends[k]!, attributes, key);
  }
  spans.push({
    path, traceId, spanId, parentSpanId, name, kind, startNanos, endNanos, statusCode,
    attributes, scope: named, resource,
  });
  return undefined;
}

/** A KeyValue's key, the last one sent ('' when none). */
function keyOf(r: Wire, end: number): string {
  let key = '';
  while (r.pos < end) {
    const t = r.uint32();
    if (t === KEY) key = r.string(r.end());
    else r.skip(t & 7);
  }
  return key;
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
    if (t === KEY && key === undefined) name = r.string(r.end());
    else if (t === VALUE) value = scalarValue(r, r.end(), value);
    else r.skip(t & 7);
  }
  if (name === '') return { path: ['key'], message: MISSING_KEY };
  if (value !== undefined) into.set(name, value);
  return undefined;
}
