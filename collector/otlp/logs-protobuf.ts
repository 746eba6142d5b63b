import { scalarsOf, type AnyValue, type Attributes, type KeyValueList } from './common.js';
import type { LogRecord } from './logs-request.js';
import { RECORDS_PER_STEP, type Steps } from './steps.js';
import { hex, idIssue, issueError, scope, Wire, WireType, wholeKeyValue, wholeValue, within, type Issue } from './protobuf-reader.js';

/**
 * An `ExportLogsServiceRequest` in protobuf → its log records, read from the wire
 * (protobuf-reader.ts) with the result of `ExportLogsRequest` over protobufjs's object.
 */

const tag = (field: number, wire: WireType) => (field << 3) | wire;
const LENGTH = (field: number) => tag(field, WireType.Length);

// ExportLogsServiceRequest, ResourceLogs, ScopeLogs, LogRecord (logs.proto); Resource (resource.proto).
const RESOURCE_LOGS = LENGTH(1);
const RESOURCE = LENGTH(1), SCOPE_LOGS = LENGTH(2);
const SCOPE = LENGTH(1), LOG_RECORDS = LENGTH(2);
const TIME = tag(1, WireType.Fixed64), OBSERVED = tag(11, WireType.Fixed64), SEVERITY_NUMBER = tag(2, WireType.Varint), SEVERITY_TEXT = LENGTH(3);
const BODY = LENGTH(5), ATTRIBUTES = LENGTH(6), TRACE_ID = LENGTH(9), SPAN_ID = LENGTH(10), EVENT_NAME = LENGTH(12);
const RESOURCE_ATTRIBUTES = LENGTH(1);

export function* logRecordSteps(body: Buffer): Steps<LogRecord[]> {
  const r = new Wire(body);
  const records: LogRecord[] = [];
  for (let index = 0; r.pos < body.length; ) {
    const t = r.uint32();
    if (t !== RESOURCE_LOGS) {
      r.skip(t & 7);
      continue;
    }
    const issue = within(yield* resourceLogs(r, r.end(), index, records), 'resourceLogs', index);
    if (issue) throw issueError(issue);
    index++;
  }
  return records;
}

function* resourceLogs(r: Wire, end: number, rIndex: number, records: LogRecord[]): Steps<Issue | undefined> {
  // The resource comes first in the schema, wherever it lies in the bytes: it is read first.
  const start = r.pos;
  const whole = new Map<string, AnyValue>();
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
      const found = wholeKeyValue(r, r.end(), whole);
      issue ??= within(found, 'resource', 'attributes', index);
      index++;
    }
  }
  if (issue) return issue;
  const resource = { whole, scalars: scalarsOf(whole) };
  r.pos = start;
  for (let s = 0; r.pos < end; ) {
    const t = r.uint32();
    if (t !== SCOPE_LOGS) {
      r.skip(t & 7);
      continue;
    }
    const found = within(yield* scopeLogs(r, r.end(), resource, `resourceLogs[${rIndex}].scopeLogs[${s}]`, records), 'scopeLogs', s);
    if (found) return found;
    s++;
  }
  return undefined;
}

function* scopeLogs(r: Wire, end: number, resource: { whole: KeyValueList; scalars: Attributes }, at: string, records: LogRecord[]): Steps<Issue | undefined> {
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
    if (t !== LOG_RECORDS) {
      r.skip(t & 7);
      continue;
    }
    const found = within(logRecord(r, r.end(), resource, named, `${at}.logRecords[${i}]`, records), 'logRecords', i);
    if (found) return found;
    i++;
    if (records.length % RECORDS_PER_STEP === 0) yield;
  }
  return undefined;
}

function logRecord(
  r: Wire, end: number, resource: { whole: KeyValueList; scalars: Attributes }, named: { name: string; version: string }, path: string, records: LogRecord[],
): Issue | undefined {
  let timeNanos = 0n, observedNanos = 0n, severityNumber = 0;
  let severityText = '', eventName = '', traceId = '', spanId = '';
  let body: ReturnType<typeof wholeValue> | undefined;
  const attributes = new Map<string, AnyValue>();
  let attributeIssue: Issue | undefined;
  let attributeCount = 0;
  while (r.pos < end) {
    const t = r.uint32();
    switch (t) {
      case TIME: timeNanos = r.fixed64(); break;
      case OBSERVED: observedNanos = r.fixed64(); break;
      case SEVERITY_NUMBER: severityNumber = r.int32(); break;
      case SEVERITY_TEXT: severityText = r.string(r.end()); break;
      case BODY: body = wholeValue(r, r.end(), body); break;
      case ATTRIBUTES: {
        const found = wholeKeyValue(r, r.end(), attributes);
        attributeIssue ??= within(found, 'attributes', attributeCount);
        attributeCount++;
        break;
      }
      case TRACE_ID: traceId = hex(r, r.end()); break;
      case SPAN_ID: spanId = hex(r, r.end()); break;
      case EVENT_NAME: eventName = r.string(r.end()); break;
      default: r.skip(t & 7);
    }
  }
  // In the schema's order: body, attributes, trace id, span id.
  const issue = within(body?.issue, 'body') ?? attributeIssue ?? idIssue(traceId, 16, 'traceId', false) ?? idIssue(spanId, 8, 'spanId', false);
  if (issue) return issue;
  records.push({
    path, timeNanos, observedNanos, severityNumber, severityText, eventName, body: body ? body.value : null, traceId, spanId,
    attributes: scalarsOf(attributes), resource: resource.scalars, scope: named, whole: { attributes, resource: resource.whole },
  });
  return undefined;
}
