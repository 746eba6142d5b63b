import { createHash, type Hash } from 'node:crypto';
import { LIMITS } from '../../src/event/schema.js';
import type { AnyValue, KeyValueList } from './common.js';
import { contentId } from './content-id.js';
import { JsonBytes } from './json-bytes.js';
import { perCallProfile, type EmitterProfile } from './emitters.js';
import { CheckedWire } from './checked-wire.js';
import { scanAround, type OtlpLimits } from './decode.js';
import { eachLogRecord } from './logs-protobuf.js';
import { LongStrings } from './long-strings.js';
import { Origins, type Origin } from './log-origin.js';
import { Wire } from './protobuf-reader.js';
import type { LogRecord } from './logs-request.js';
import { ReusedAttributes } from './reused-attributes.js';
import { RECORDS_PER_STEP, runNow, type Steps } from './steps.js';
import {
  INPUT_PARTS, OUTPUT_PARTS, SPAN_FIELDS,
  EventInput, firstPresent, includeParts, Kept, operationOf, toText, type MappedEvent,
} from './mapping.js';

const NANOS_PER_MS = 1_000_000n;

/**
 * The log records of one request that are an emitter's per-call record (emitters.ts), as native
 * event inputs (still to be validated). Every other record is skipped: the emitters' other events
 * repeat the per-call record or carry no usage.
 */
export function logRecordsToEvents(records: readonly LogRecord[]): MappedEvent[] {
  const events: MappedEvent[] = [];
  runNow(logEventSteps(records, (event) => events.push(event)));
  return events;
}

/** Each event of `logRecordsToEvents` handed to `each`, in steps of a few records. */
export function* logEventSteps(records: readonly LogRecord[], each: (event: MappedEvent) => void): Steps<void> {
  const origins = new Origins();
  for (let i = 0; i < records.length; i++) {
    mapRecord(records[i]!, origins, each);
    if ((i + 1) % RECORDS_PER_STEP === 0) yield;
  }
}

function mapRecord(record: LogRecord, origins: Origins, each: (event: MappedEvent) => void): void {
  const origin = origins.of(record);
  const call = perCallProfile(record, origin.emitter);
  if (call) each(toEvent(record, origin, call.profile, call.event));
}

/** A profile's token table as pairs, made once per profile rather than per record. */
const tokenTables = new WeakMap<EmitterProfile, readonly [string, readonly string[]][]>();

function tokenTable(profile: EmitterProfile): readonly [string, readonly string[]][] {
  let table = tokenTables.get(profile);
  if (table === undefined) tokenTables.set(profile, (table = Object.entries(profile.tokens)));
  return table;
}

/**
 * `logEventSteps` over a scanned protobuf body, each record mapped as soon as it is read and its
 * event handed on: no record outlives its mapping, so a large request's records never pile up in
 * memory together (which made the garbage collector copy them over and over).
 */
export function* wireLogEventSteps(body: Buffer, each: (event: MappedEvent) => void): Steps<void> {
  const origins = new Origins();
  yield* eachLogRecord(new Wire(body), (record) => mapRecord(record, origins, each), new ReusedAttributes());
}

/**
 * `wireLogEventSteps` without the scan of the records' bytes before it: the scan walks around them
 * (`scanAround`), and the records are checked as they are read (checked-wire.ts), so that each
 * byte of a record is walked once, not twice. True when the body was read through: it is one the
 * scan passes, and `each` had every event. False when anything failed, with some events already
 * handed to `each`, which must drop them: the body is then scanned and read the two-pass way, which
 * refuses it with the error the scan's order puts first (or, for a long string, reads it with that
 * string noted). Which error a body has is never decided here.
 */
export function* onePassLogEventSteps(body: Buffer, limits: OtlpLimits, each: (event: MappedEvent) => void): Steps<boolean> {
  try {
    const long = new LongStrings();
    const values = scanAround('logs', body, limits, long);
    if (long.paths.length > 0) return false;
    yield;
    const origins = new Origins();
    yield* eachLogRecord(new CheckedWire(body, values, limits.values.limit), (record) => mapRecord(record, origins, each), new ReusedAttributes());
    return true;
  } catch {
    // Whatever failed, the two-pass read judges the body again: an error raised here on bytes not yet
    // checked must not become the answer. (A fault of the one pass itself then shows as a slower
    // read; logs-one-pass.test.ts holds that the agents' exports are read through.)
    return false;
  }
}

function toEvent(record: LogRecord, origin: Origin, profile: EmitterProfile, event: string): MappedEvent {
  const built = new EventInput(record.attributes);
  const { input } = built;
  for (const [field, names] of tokenTable(profile)) built.readCount(field, names);
  includeParts(input, 'input_tokens', INPUT_PARTS, profile.inputExcludesCache);
  includeParts(input, 'output_tokens', OUTPUT_PARTS, profile.outputExcludesReasoning);

  built.readText('model', profile.model);
  if (!built.readText('provider', profile.provider.names) && profile.provider.otherwise !== undefined) {
    built.set('provider', profile.provider.otherwise, `${profile.name}'s provider`);
  }
  const operation = operationOf(record.attributes);
  if (operation !== undefined) built.set('operation', operation, firstPresent(record.attributes, SPAN_FIELDS.operation)!.name);
  built.readCount('cost_usd', profile.cost);
  built.readText('session_id', profile.session);
  built.readText('user_id', profile.user);
  built.readCount('duration_ms', profile.duration);
  for (const { field, names, resource } of origin.fields) {
    if (!built.readText(field, names) && resource !== undefined) built.set(field, resource.text, resource.name);
  }
  if (!built.readText('agent_id', profile.agent)) built.set('agent_id', origin.service, 'resource service.name');

  const nanos = record.timeNanos > 0n ? record.timeNanos : record.observedNanos;
  const own = ownId(record, profile);
  if (own) built.set('id', own.id, own.names.join('/'));
  else built.set('id', recordId(record, nanos), 'hash of the record');
  const stamp = record.attributes.get('event.timestamp');
  if (nanos > 0n) built.set('timestamp', Number(nanos / NANOS_PER_MS), record.timeNanos > 0n ? 'timeUnixNano' : 'observedTimeUnixNano');
  else if (stamp !== undefined) built.set('timestamp', toText(stamp), 'event.timestamp');

  const kept = new Kept();
  kept.put('event.name', event);
  kept.put('otel.scope.name', record.scope.name);
  for (const name of profile.kept) {
    const value = record.attributes.get(name);
    if (value !== undefined) kept.put(name, toText(value));
  }
  input.attributes = kept.finish(record.attributes, origin.tags);
  return { record: `log record ${event} (${record.path})`, path: record.path, input, sources: built.sources };
}

/**
 * The emitter's own id for the call, prefixed with its key, from the first of the profile's id
 * attributes the record has, none of them empty (an empty id would make every such call one) and
 * short enough to store; none when no such id is there.
 */
function ownId(record: LogRecord, profile: EmitterProfile): { id: string; names: readonly string[] } | undefined {
  for (const names of profile.ids) {
    let id = `${profile.key}:`;
    let complete = true;
    for (let i = 0; i < names.length && complete; i++) {
      const value = record.attributes.get(names[i]!);
      const text = value === undefined ? '' : toText(value);
      if (text === '') complete = false;
      else id += (i === 0 ? '' : '/') + text;
    }
    if (complete && id.length <= LIMITS.idLength) return { id, names };
  }
  return undefined;
}

/**
 * The id of a record that has none of its own: a hash of its content (contentId), which is its
 * resource, scope, times, event name, trace context, attributes and body. It is built from values,
 * not bytes, so the same record has the same id whether it came as JSON or protobuf, over HTTP or
 * gRPC, and an exporter's retry (which resends the record unchanged) adds nothing. The content is
 * the JSON of `[resource, scope name, scope version, time, observed time, event name, trace id,
 * span id, attributes, body]`, written out directly as UTF-8 (json-bytes.ts) rather than by
 * JSON.stringify of arrays made for it (test/otlp/record-hash.test.ts). What opens it is the same
 * for every record of a resource and scope: it is hashed once for them all (`openingOf`).
 */
function recordId(record: LogRecord, nanos: bigint): string {
  // First: the opening, when new, is written in the buffer that the rest is then written in.
  const opening = openingOf(record);
  return contentId('log', nanos, recordContent(record), opening);
}

/** The content after its opening: from the time on. */
function recordContent(record: LogRecord): Buffer {
  json.reset();
  json.integer(record.timeNanos);
  json.text('","');
  json.integer(record.observedNanos);
  json.text('",');
  writeEventName(record.eventName);
  json.text(',');
  json.quoted(record.traceId);
  json.text(',');
  json.quoted(record.spanId);
  json.text(',');
  entries(record.whole.attributes, recordKeys);
  json.text(',');
  canonical(record.body);
  json.text(']');
  return json.bytes();
}

const json = new JsonBytes();

/**
 * The event name's JSON as UTF-8, kept for the next record: an emitter names its records alike
 * (Codex every one by its source line, ~50 characters that took ~2.3 k instructions to write).
 * Only a short name is kept, so that a client's long one is not held after its request.
 */
let lastEventName = { name: '', json: Buffer.from('""') };
const KEPT_EVENT_NAME_LENGTH = 256;

function writeEventName(name: string): void {
  if (name.length > KEPT_EVENT_NAME_LENGTH) return json.quoted(name);
  if (name !== lastEventName.name) lastEventName = { name, json: Buffer.from(JSON.stringify(name)) };
  json.copy(lastEventName.json);
}

/**
 * The SHA-256 fed what the content of every record of one resource and scope opens with, up to the
 * time's opening quote: `[<resource>,"<scope name>","<scope version>","`. Each record's hash is a
 * copy of it fed the rest, so the blocks of the opening (a quarter of a Codex record's content) are
 * hashed once. Records come grouped by resource and scope, so each resource keeps its last scope's,
 * for as long as its request holds the resource (a WeakMap: an idle service keeps none).
 */
const openings = new WeakMap<KeyValueList, { name: string; version: string; hash: Hash }>();

function openingOf(record: LogRecord): Hash {
  const { whole: { resource }, scope: { name, version } } = record;
  const known = openings.get(resource);
  if (known !== undefined && known.name === name && known.version === version) return known.hash;
  json.reset();
  json.text('[');
  entries(resource, resourceKeys);
  json.text(',');
  json.quoted(name);
  json.text(',');
  json.quoted(version);
  json.text(',"');
  const hash = createHash('sha256').update(json.bytes());
  openings.set(resource, { name, version, hash });
  return hash;
}

/**
 * Attributes as `[[key, value], …]` in key order (UTF-16 code units), so the hash does not depend on
 * the order they were sent in. An entry whose value is the one at its place in the last list of its
 * kind, written just before (same keys), is copied from that content, a run of them at once (`Written`).
 */
function entries(values: KeyValueList, last: LastSorted): void {
  const sorted = sortedKeys(values, last);
  const { order, openings } = sorted;
  if (order.length === 0) return json.text('[]');
  // The values in the order they came, then written in key order: no lookup by key.
  const current = inOrder;
  let n = 0;
  for (const value of values.values()) current[n++] = value;
  const { written } = last;
  const { values: before, starts } = written;
  const again = written.sorted === sorted && json.isLast(written.content);
  // Until these entries are all written, `written` describes no content.
  written.content = -1;
  written.sorted = sorted;
  // Where the run of entries being copied starts in the last content; -1 for none.
  let from = -1;
  for (let i = 0; i < order.length; i++) {
    const at = order[i]!;
    const value = current[at] as AnyValue;
    const start = starts[i]!;
    if (again && value === before[at]) {
      if (from < 0) from = start;
      starts[i] = json.length + start - from;
      continue;
    }
    if (from >= 0) json.copyLast(from, start);
    from = -1;
    starts[i] = json.length;
    json.copy(openings[i]!);
    canonical(value);
  }
  if (from >= 0) json.copyLast(from, written.end);
  written.end = json.length;
  json.text(']]');
  written.content = json.content;
  // These values are the next list's `before` (the array passed on, not each value stored again):
  // but those that are not kept, and any beyond them.
  for (let i = 0; i < n; i++) if (!kept(current[i]!)) current[i] = NOT_KEPT;
  if (current.length > n) current.length = n;
  written.values = current;
  inOrder = before;
}

let inOrder: (AnyValue | typeof NOT_KEPT)[] = [];

/**
 * The entries of the last list of a kind as they were written: the content they are in, their
 * values in the order they came, where each entry (`],["key",value`) starts in that content, in key
 * order, and where the last one ends. Only values whose JSON equal values share are kept (a short
 * string, a number, a bigint, a boolean, null), so that `===` stands for "the same bytes";
 * `NOT_KEPT` in place of any other.
 */
interface Written {
  sorted: SortedKeys | undefined;
  content: number;
  values: (AnyValue | typeof NOT_KEPT)[];
  starts: number[];
  end: number;
}

const NOT_KEPT = Symbol('not kept');
/** Longer strings are written again, not held until the next record. */
const KEPT_STRING_LENGTH = 256;

function kept(value: AnyValue | typeof NOT_KEPT): boolean {
  if (typeof value === 'string') return value.length <= KEPT_STRING_LENGTH;
  return value === null || (typeof value !== 'object' && value !== NOT_KEPT);
}

/**
 * The keys of a list in the order they came; where each of them sorted comes in that order, and the
 * JSON that opens its entry (`],["key",`, closing the entry before it; the first `[["key",`) as
 * UTF-8, copied whole rather than written a character at a time (about 490 instructions an entry
 * against 780). An emitter's records mostly share their keys in one order, so the last list's are
 * kept: one for records, one for resources, so that a request's resource does not push out the
 * records' keys (two sorts a request, 0.8 % of the main thread at 100 records a request,
 * docs/benchmarks.md, "OTLP logs after the one pass, session 16"). A resource's entries are never
 * copied (a record's content always comes between two resources'): its `Written` only gives both
 * kinds one path, at the cost of a resource's short values held until the next resource.
 */
interface SortedKeys {
  keys: readonly string[];
  order: readonly number[];
  openings: readonly Buffer[];
}

interface LastSorted {
  sorted: SortedKeys;
  written: Written;
}

const lastSorted = (): LastSorted => ({
  sorted: { keys: [], order: [], openings: [] },
  written: { sorted: undefined, content: -1, values: [], starts: [], end: 0 },
});
const recordKeys = lastSorted();
const resourceKeys = lastSorted();

function sortedKeys(values: KeyValueList, last: LastSorted): SortedKeys {
  if (!sameKeys(values, last.sorted.keys)) {
    const keys = [...values.keys()];
    const order = keys.map((_, i) => i).sort((a, b) => (keys[a]! < keys[b]! ? -1 : 1));
    last.sorted = { keys, order, openings: order.map((at, i) => Buffer.from(`${i === 0 ? '[[' : '],['}${JSON.stringify(keys[at])},`)) };
  }
  return last.sorted;
}

function sameKeys(values: KeyValueList, keys: readonly string[]): boolean {
  if (values.size !== keys.length) return false;
  let i = 0;
  for (const key of values.keys()) if (key !== keys[i++]) return false;
  return true;
}

/** A value as JSON that tells every kind apart: 5 the int from 5 the double from "5" the string. */
function canonical(value: AnyValue): void {
  if (typeof value === 'string') json.quoted(value);
  else if (value === null || typeof value === 'boolean') json.text(String(value));
  else if (typeof value === 'bigint') {
    json.text('["int","');
    json.integer(value);
    json.text('"]');
  }
  else if (typeof value === 'number') json.text(`["double","${value}"]`);
  else if (value instanceof Uint8Array) json.text(`["bytes","${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}"]`);
  else if (Array.isArray(value)) {
    json.text('["array",[');
    (value as readonly AnyValue[]).forEach((element, i) => {
      if (i > 0) json.text(',');
      canonical(element);
    });
    json.text(']]');
  } else {
    json.text('["kvlist",[');
    let first = true;
    for (const key of (value as KeyValueList).keys()) {
      json.text(first ? '[' : ',[');
      json.quoted(key);
      json.text(',');
      canonical((value as KeyValueList).get(key)!);
      json.text(']');
      first = false;
    }
    json.text(']]');
  }
}
