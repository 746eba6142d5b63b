import { isUtf8 } from 'node:buffer';
import protobuf from 'protobufjs';
import { badRequest } from '../../src/http/errors.js';
import { invalidUtf8, MAX_NESTING, overCount, tooDeep, type CountLimit } from '../decode-limits.js';
import { LongStrings, MAX_OTLP_STRING_BYTES } from './long-strings.js';

/**
 * A walk over the protobuf wire format of an OTLP `Export…ServiceRequest` before protobufjs decodes
 * it: linear in the bytes, nothing allocated, and it stops at the first count beyond its limit.
 * protobufjs builds an object for every message first (10 million empty spans fit in 19.5 KB of
 * gzip), so the limits must hold before it runs.
 *
 * The walk follows the messages exactly as protobufjs will: the same varint rules for tags and
 * lengths, a field whose wire type is not its declared one skipped as unknown, nested lengths kept
 * within their message. What it counts is therefore what protobufjs would build.
 */

export interface ProtobufLimits {
  /** Every field counts one, and so does every element of a packed field. */
  values: CountLimit;
  /** The signal's records: spans, log records or metric data points. */
  records: CountLimit;
}

interface FieldRule {
  name: string;
  /** Repeated fields: which of the message's element counters numbers this field's elements (for error paths); else -1. */
  counter: number;
  /** The wire type protobufjs reads this field from; it skips the field as unknown under any other. */
  wire: number;
  message?: MessageRule;
  string: boolean;
  /** Its messages are the records `ProtobufLimits.records` counts. */
  record: boolean;
  /**
   * Repeated numbers, which protobufjs also reads packed in one length-delimited field: bytes per
   * element, 0 for varints. -1 for every other field.
   */
  packed: number;
}

interface MessageRule {
  fields: (FieldRule | undefined)[];
  /** How many repeated fields the message has. */
  counters: number;
}

/** Element counters per nesting level; no OTLP message has more repeated message or text fields. */
const COUNTERS = 4;

/** The rules of a message type and the types below it, from protobufjs's own reflection of the vendored schema. */
function rulesOf(type: protobuf.Type, recordTypes: ReadonlySet<protobuf.Type>, done = new Map<protobuf.Type, MessageRule>()): MessageRule {
  const known = done.get(type);
  if (known) return known;
  const rule: MessageRule = { fields: [], counters: 0 };
  done.set(type, rule);
  for (const field of type.fieldsArray) {
    field.resolve();
    const resolved = field.resolvedType;
    const message = resolved instanceof protobuf.Type ? rulesOf(resolved, recordTypes, done) : undefined;
    const wire = message ? 2 : resolved instanceof protobuf.Enum ? 0 : (protobuf.types.basic as Record<string, number | undefined>)[field.type];
    // Every repeated field not of wire type 2 is a number, which protobufjs reads packed or not.
    const packed = field.repeated && wire !== 2 ? (wire === 1 ? 8 : wire === 5 ? 4 : 0) : -1;
    // Maps and groups would need rules of their own; no OTLP message has them.
    if (wire === undefined || field.map || field.delimited || (field.repeated && packed < 0 && rule.counters === COUNTERS)) {
      throw new Error(`the OTLP pre-scan cannot follow ${type.name}.${field.name}`);
    }
    const counter = field.repeated && packed < 0 ? rule.counters++ : -1;
    rule.fields[field.id] = {
      name: field.name, counter, wire, message, string: field.type === 'string', record: message !== undefined && recordTypes.has(resolved as protobuf.Type), packed,
    };
  }
  return rule;
}

/**
 * The checker for one request type whose records are messages of `recordTypes`. Throws a 413 naming
 * the limit when a count goes beyond it, a 400 when the nesting is too deep, a string is not UTF-8
 * (naming the field) or the bytes are not protobuf. Notes the strings over MAX_OTLP_STRING_BYTES in
 * `long`. Returns the values it counted.
 *
 * With `records: 'counted'` it counts the records (each one value, and one record) but walks none
 * of their bytes: what the one-pass read of log records checks itself (checked-wire.ts).
 */
export function protobufScanner(
  requestType: protobuf.Type, recordTypes: readonly protobuf.Type[], records: 'walked' | 'counted' = 'walked',
): (body: Buffer, limits: ProtobufLimits, long: LongStrings) => number {
  const rules = rulesOf(requestType, new Set(recordTypes));
  return (body, limits, long) => {
    const scan = new Scan(body, limits, requestType.name, long, records === 'walked');
    scan.message(rules, body.length, 0);
    return scan.values;
  };
}

/** The rules of a record's message type and of the types within it, for `FieldScan`. */
export type RecordRules = MessageRule;

export function recordRules(recordType: protobuf.Type): RecordRules {
  return rulesOf(recordType, new Set());
}

/** The message rules at `fields` from `rules`: `ruleAt(span, 9)` is the rule of a span's attributes. */
export function ruleAt(rules: RecordRules, ...fields: number[]): RecordRules {
  return fields.reduce((rule, field) => rule.fields[field]!.message!, rules);
}

/**
 * Single fields inside a body's records, walked as the scan of the whole body walks them: for a
 * one-pass read (traces-one-pass.ts) that checks the fields it reads itself and leaves those it
 * skips to this. Each walk counts the values beneath the field (`values`; its own tag is the
 * caller's), and throws as the scan would, and on a string over MAX_OTLP_STRING_BYTES (which the
 * scan would note: the one pass leaves those to the two-pass read). Its errors only end the one
 * pass, never answer a request: their paths lack the levels above the walk, and the element numbers
 * at its first level are whatever the shared counters held.
 */
export class FieldScan {
  private readonly scan: Scan;
  private readonly long = new LongStrings();
  /** The values the last walk counted. */
  values = 0;

  constructor(body: Buffer, limits: ProtobufLimits) {
    this.scan = new Scan(body, limits, 'record field', this.long, true);
  }

  /**
   * Walks the field tagged `tag` from `pos` (just after its tag) of a message of `rule` that ends at
   * `end` and that `level` messages enclose (the request's records: 3); returns where the field ends.
   */
  walk(rule: RecordRules, tag: number, pos: number, end: number, level: number): number {
    const { scan } = this;
    scan.pos = pos;
    scan.values = 0;
    scan.field(rule, tag, end, level);
    if (this.long.paths.length > 0) throw new Error('a long string, left to the two-pass read');
    this.values = scan.values;
    return scan.pos;
  }
}

/**
 * A scan's counters, shared by every scan: a scan runs start to end without a pause, and each level's
 * are set before they are read. Typed arrays of this size live outside V8's heap, each allocated and
 * accounted for on its own: once, not once a request.
 */
const PATH_INDEX = new Int32Array(MAX_NESTING);
const SEEN = new Int32Array(MAX_NESTING * COUNTERS);

class Scan {
  pos = 0;
  values = 0;
  private records = 0;
  /** Per level, the field being walked and its element number (-1: not repeated): the error path. */
  private readonly pathField: FieldRule[] = [];
  private readonly pathIndex = PATH_INDEX;
  private readonly seen = SEEN;

  private readonly maxValues: number;
  private readonly maxRecords: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Buffer,
    private readonly limits: ProtobufLimits,
    /** The request type, for the message of a malformed body. */
    private readonly requestName: string,
    private readonly long: LongStrings,
    private readonly walkRecords: boolean,
  ) {
    this.maxValues = limits.values.limit;
    this.maxRecords = limits.records.limit;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Walks the message from `pos` to `end`; `level`: how many messages enclose it. */
  message(rule: MessageRule, end: number, level: number): void {
    for (let i = 0, row = level * COUNTERS; i < rule.counters; i++) this.seen[row + i] = 0;
    while (this.pos < end) {
      const tag = this.varint32(end, 'tag');
      if (tag >>> 3 === 0) throw this.malformed('field number 0');
      if (++this.values > this.maxValues) throw overCount(this.path(level), this.limits.values);
      this.field(rule, tag, end, level);
    }
  }

  /** The field tagged `tag` (read and counted) of the message at `level`, from `pos` to at most `end`. */
  field(rule: MessageRule, tag: number, end: number, level: number): void {
    const wire = tag & 7;
    const declared = rule.fields[tag >>> 3];
    const field = declared && (declared.wire === wire || (wire === 2 && declared.packed >= 0)) ? declared : undefined;
    if (wire === 0) this.skipVarint(end);
    else if (wire === 1) this.skip(8, end);
    else if (wire === 5) this.skip(4, end);
    else if (wire === 2) this.lengthDelimited(field, end, level);
    else throw this.malformed(`wire type ${wire}`);
  }

  private lengthDelimited(field: FieldRule | undefined, end: number, level: number): void {
    const length = this.varint32(end, 'length');
    const start = this.pos;
    this.skip(length, end);
    if (!field) return;
    this.pathField[level] = field;
    this.pathIndex[level] = field.counter >= 0 ? this.seen[level * COUNTERS + field.counter]!++ : -1;
    if (field.packed >= 0) {
      this.packedElements(field.packed, start, level);
    } else if (field.message) {
      if (level + 1 >= MAX_NESTING) throw tooDeep(this.path(level + 1));
      if (field.record && ++this.records > this.maxRecords) throw overCount(this.path(level + 1), this.limits.records);
      if (field.record && !this.walkRecords) return;
      const after = this.pos;
      this.pos = start;
      this.message(field.message, after, level + 1);
    } else if (field.string) {
      if (!isUtf8Text(this.buf, this.view, start, this.pos)) throw invalidUtf8(this.path(level + 1));
      if (this.pos - start > MAX_OTLP_STRING_BYTES) this.long.paths.push(this.path(level + 1));
    }
  }

  /**
   * Counts the elements of a packed field from `start` to `pos` as values: each becomes a value of
   * its own in protobufjs's object. Refuses the lengths protobufjs refuses.
   */
  private packedElements(width: number, start: number, level: number): void {
    const end = this.pos;
    let elements = 0;
    if (width > 0) {
      if ((end - start) % width !== 0) throw this.malformed(`a packed field of ${end - start} bytes holds no whole number of ${width}-byte values`);
      elements = (end - start) / width;
    } else {
      for (this.pos = start; this.pos < end; elements++) this.skipVarint(end);
    }
    this.values += elements;
    if (this.values > this.maxValues) throw overCount(this.path(level + 1), this.limits.values);
  }

  /** `resourceSpans[0].scopeSpans[1].spans[2]`: the fields walked down to `level`. */
  private path(level: number): string {
    const parts: string[] = [];
    for (let l = 0; l < level; l++) {
      // A `FieldScan` starts inside a record: the levels above it are not its own.
      const field = this.pathField[l];
      if (field === undefined) continue;
      const index = this.pathIndex[l]!;
      parts.push(index >= 0 ? `${field.name}[${index}]` : field.name);
    }
    return parts.join('.');
  }

  /**
   * A tag or a length as protobufjs reads them: at most five bytes; a tag's fifth byte holds no
   * bits beyond 32, a length's none beyond 31.
   */
  private varint32(end: number, what: 'tag' | 'length'): number {
    if (this.pos >= end) throw this.malformed(`truncated ${what}`);
    const first = this.buf[this.pos++]!;
    if (first < 0x80) return first;
    let value = first & 0x7f;
    // Ends by the fifth byte: both rules for it leave its continuation bit unset.
    for (let i = 1, scale = 0x80; ; i++, scale *= 0x80) {
      if (this.pos >= end) throw this.malformed(`truncated ${what}`);
      const byte = this.buf[this.pos++]!;
      if (i === 4 && (what === 'tag' ? byte >= 0x80 || (byte & 0x70) !== 0 : byte > 7)) throw this.malformed(`invalid ${what} encoding`);
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
  }

  /** A varint value: at most ten bytes (protobufjs reads the same, or refuses). */
  private skipVarint(end: number): void {
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw this.malformed('truncated varint');
      if (this.buf[this.pos++]! < 0x80) return;
    }
    throw this.malformed('invalid varint encoding');
  }

  private skip(bytes: number, end: number): void {
    if (this.pos + bytes > end) throw this.malformed(`a field runs ${this.pos + bytes - end} byte(s) past its message`);
    this.pos += bytes;
  }

  private malformed(reason: string) {
    return badRequest(`body is not a protobuf ${this.requestName}: ${reason} at byte ${this.pos}`);
  }
}

/**
 * ASCII is checked here, its bytes or'ed together four at a time (no branch per byte; DataView's
 * reads are compiled inline, at any alignment); only text with other bytes goes to the native
 * checker, and long text straight away (it is ten times faster per byte).
 */
/** Text longer than this goes to the native checker: below it the call costs more than the loop. */
const NATIVE_CHECK_BYTES = 4096;

export function isUtf8Text(buf: Buffer, view: DataView, start: number, end: number): boolean {
  if (end - start > NATIVE_CHECK_BYTES) return isUtf8(buf.subarray(start, end));
  let bits = 0;
  let i = start;
  for (; i + 4 <= end; i += 4) bits |= view.getUint32(i);
  for (; i < end; i++) bits |= buf[i]!;
  return (bits & 0x80808080) === 0 || isUtf8(buf.subarray(start, end));
}
