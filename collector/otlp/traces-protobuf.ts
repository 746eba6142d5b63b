import type { AttributeValue } from './common.js';
import { SPAN_FIELDS, SPAN_OR_RESOURCE_FIELDS, TOKEN_ATTRIBUTES } from './mapping.js';
import { hex, idIssue, issueError, MISSING_KEY, scalarValue, scope, Wire, WireType, within, type Issue } from './protobuf-reader.js';
import type { TraceSpan } from './request.js';
import { RECORDS_PER_STEP, type Steps } from './steps.js';

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

// ExportTraceServiceRequest, ResourceSpans, ScopeSpans, Span, Status (trace.proto).
const RESOURCE_SPANS = LENGTH(1);
const RESOURCE = LENGTH(1), SCOPE_SPANS = LENGTH(2);
const SCOPE = LENGTH(1), SPANS = LENGTH(2);
const TRACE_ID = LENGTH(1), SPAN_ID = LENGTH(2), PARENT_SPAN_ID = LENGTH(4), NAME = LENGTH(5), KIND = tag(6, WireType.Varint);
const START = tag(7, WireType.Fixed64), END = tag(8, WireType.Fixed64), ATTRIBUTES = LENGTH(9), STATUS = LENGTH(15);
const STATUS_CODE = tag(3, WireType.Varint);
// Resource and KeyValue (resource.proto, common.proto).
const RESOURCE_ATTRIBUTES = LENGTH(1);
const KEY = LENGTH(1), VALUE = LENGTH(2);

export function* traceSpanSteps(body: Buffer): Steps<TraceSpan[]> {
  const r = new Wire(body);
  const spans: TraceSpan[] = [];
  const attributes = new KeyValueRanges();
  for (let index = 0; r.pos < body.length; ) {
    const t = r.uint32();
    if (t !== RESOURCE_SPANS) {
      r.skip(t & 7);
      continue;
    }
    const issue = within(yield* resourceSpans(r, r.end(), index, spans, attributes), 'resourceSpans', index);
    index++;
    if (issue) throw issueError(issue);
  }
  return spans;
}

function* resourceSpans(r: Wire, end: number, rIndex: number, spans: TraceSpan[], kvs: KeyValueRanges): Steps<Issue | undefined> {
  // The resource comes first in the schema, wherever it lies in the bytes: it is read first.
  const start = r.pos;
  const resource = new Map<string, AttributeValue>();
  let issue: Issue | undefined;
  for (let index = 0; r.pos < end; ) {
    const t = r.uint32();
    if (t !== RESOURCE) {
      r.skip(t & 7);
      continue;
    }
    const resourceEnd = r.end();
    while (r.pos < resourceEnd) {
      const a = r.uint32();
      if (a !== RESOURCE_ATTRIBUTES) {
        r.skip(a & 7);
        continue;
      }
      const found = scalarKeyValue(r, r.end(), resource, undefined);
      issue ??= within(found, 'resource', 'attributes', index);
      index++;
    }
  }
  if (issue) return issue;
  r.pos = start;
  for (let s = 0; r.pos < end; ) {
    const t = r.uint32();
    if (t !== SCOPE_SPANS) {
      r.skip(t & 7);
      continue;
    }
    const found = within(yield* scopeSpans(r, r.end(), resource, `resourceSpans[${rIndex}].scopeSpans[${s}]`, spans, kvs), 'scopeSpans', s);
    if (found) return found;
    s++;
  }
  return undefined;
}

function* scopeSpans(r: Wire, end: number, resource: Map<string, AttributeValue>, at: string, spans: TraceSpan[], kvs: KeyValueRanges): Steps<Issue | undefined> {
  const start = r.pos;
  const named = { name: '', version: '' };
  while (r.pos < end) {
    const t = r.uint32();
    if (t === SCOPE) scope(r, r.end(), named);
    else r.skip(t & 7);
  }
  r.pos = start;
  for (let i = 0; r.pos < end; ) {
    const t = r.uint32();
    if (t !== SPANS) {
      r.skip(t & 7);
      continue;
    }
    const spanEnd = r.end();
    const found = within(span(r, spanEnd, resource, named, at, i, spans, kvs), 'spans', i);
    if (found) return found;
    r.pos = spanEnd;
    i++;
    if (spans.length % RECORDS_PER_STEP === 0) yield;
  }
  return undefined;
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
  r: Wire, end: number, resource: Map<string, AttributeValue>, named: { name: string; version: string }, at: string, index: number,
  spans: TraceSpan[], kvs: KeyValueRanges,
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
    path: `${at}.spans[${index}]`, traceId, spanId, parentSpanId, name, kind, startNanos, endNanos, statusCode,
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
