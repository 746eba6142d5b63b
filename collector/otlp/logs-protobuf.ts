import { scalarsOf, type AnyValue, type Attributes, type KeyValueList } from './common.js';
import type { LogRecord } from './logs-request.js';
import type { Steps } from './steps.js';
import { wholeKeyValue, wholeValue } from './any-value-reader.js';
import { hex, idIssue, Wire, WireType, within, type Issue } from './protobuf-reader.js';
import { readExport } from './export-reader.js';
import { ReusedAttributes } from './reused-attributes.js';

/**
 * An `ExportLogsServiceRequest` in protobuf → its log records, read from the wire
 * (protobuf-reader.ts) with the result of `ExportLogsRequest` over protobufjs's object.
 */

const tag = (field: number, wire: WireType) => (field << 3) | wire;
const LENGTH = (field: number) => tag(field, WireType.Length);

// LogRecord (logs.proto).
const TIME = tag(1, WireType.Fixed64), OBSERVED = tag(11, WireType.Fixed64), SEVERITY_NUMBER = tag(2, WireType.Varint), SEVERITY_TEXT = LENGTH(3);
const BODY = LENGTH(5), ATTRIBUTES = LENGTH(6), TRACE_ID = LENGTH(9), SPAN_ID = LENGTH(10), EVENT_NAME = LENGTH(12);

export function* logRecordSteps(body: Buffer): Steps<LogRecord[]> {
  const records: LogRecord[] = [];
  yield* eachLogRecord(new Wire(body), (record) => records.push(record));
  return records;
}

/**
 * Reads the records in order, handing each to `each` as soon as it is read (and checked). With
 * `reused`, every record's attributes are read into its one Map: only for an `each` that keeps
 * neither the record nor its attributes.
 */
export function* eachLogRecord(wire: Wire, each: (record: LogRecord) => void, reused?: ReusedAttributes): Steps<void> {
  yield* readExport<AnyValue, Resource>(wire, {
    names: ['resourceLogs', 'scopeLogs', 'logRecords'],
    attribute: wholeKeyValue,
    resource: (whole) => ({ whole, scalars: scalarsOf(whole) }),
    record: (r, end, resource, named, path) => logRecord(r, end, resource, named, path, reused ?? new ReusedAttributes(), each),
  });
}

/** A resource's attributes whole (for a record's hash) and its scalars (for mapping). */
interface Resource {
  whole: KeyValueList;
  scalars: Attributes;
}

function logRecord(
  r: Wire, end: number, resource: Resource, named: { name: string; version: string }, path: string, into: ReusedAttributes,
  each: (record: LogRecord) => void,
): Issue | undefined {
  let timeNanos = 0n, observedNanos = 0n, severityNumber = 0;
  let severityText = '', eventName = '', traceId = '', spanId = '';
  let body: ReturnType<typeof wholeValue> | undefined;
  into.start();
  let attributeIssue: Issue | undefined;
  let attributeCount = 0;
  while (r.pos < end) {
    const t = r.tag();
    switch (t) {
      case TIME: timeNanos = r.fixed64(); break;
      case OBSERVED: observedNanos = r.fixed64(); break;
      case SEVERITY_NUMBER: severityNumber = r.int32(); break;
      case SEVERITY_TEXT: severityText = r.recurring(r.end()); break;
      case BODY: body = wholeValue(r, r.end(), body); break;
      case ATTRIBUTES: {
        const found = wholeKeyValue(r, r.end(), into);
        attributeIssue ??= within(found, 'attributes', attributeCount);
        attributeCount++;
        break;
      }
      case TRACE_ID: traceId = hex(r, r.end()); break;
      case SPAN_ID: spanId = hex(r, r.end()); break;
      case EVENT_NAME: eventName = r.recurring(r.end()); break;
      default: r.skip(t & 7);
    }
  }
  r.atEnd(end);
  // In the schema's order: body, attributes, trace id, span id.
  const issue = within(body?.issue, 'body') ?? attributeIssue ?? idIssue(traceId, 16, 'traceId', false) ?? idIssue(spanId, 8, 'spanId', false);
  if (issue) return issue;
  const attributes = into.finish();
  each({
    path, timeNanos, observedNanos, severityNumber, severityText, eventName, body: body ? body.value : null, traceId, spanId,
    attributes: scalarsOf(attributes), resource: resource.scalars, scope: named, whole: { attributes, resource: resource.whole },
  });
  return undefined;
}
